"""Stage train_vae: train the VAE on the prepared data.

Reads: data/prepared/, seed, latent_dim, model.*, train.*, vae.beta.
Writes: data/models/vae.pt (best-on-validation weights + params + metadata),
plots/curves/vae.csv (per-epoch train and validation loss terms).
"""

from aevae.errors import cli
from aevae.train import main

if __name__ == "__main__":
    cli(lambda: main("vae"))
