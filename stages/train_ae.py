"""Stage train_ae: train the AE on the prepared data.

Reads: data/prepared/, seed, latent_dim, model.*, train.*.
Writes: data/models/ae.pt (best-on-validation weights + params + metadata),
plots/curves/ae.csv (per-epoch train and validation loss terms).
"""

from aevae.errors import cli
from aevae.train import main

if __name__ == "__main__":
    cli(lambda: main("ae"))
