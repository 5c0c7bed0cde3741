"""AE and VAE over one encoder/decoder family, dense (the report's MLP) or convolutional.

Inputs are flattened images ``x: [B, 784]`` in [0, 1]; decoders return Bernoulli *logits*
``[B, 784]`` (``torch.sigmoid`` gives the image).
"""

from __future__ import annotations

import torch
from torch import nn

from aevae.params import Params

SIDE, PIXELS = 28, 784


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def encoder(arch: str, hidden: tuple[int, ...], channels: tuple[int, ...], out: int) -> nn.Module:
    """``[B, 784] -> [B, out]``."""
    if arch == "dense":
        return _mlp([PIXELS, *hidden, out])
    layers: list[nn.Module] = [nn.Unflatten(1, (1, SIDE, SIDE))]
    c_in = 1
    for c in channels:  # each conv halves the side: 28 -> 14 -> 7
        layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.ReLU()]
        c_in = c
    side = SIDE >> len(channels)
    layers += [nn.Flatten(), nn.Linear(c_in * side * side, out)]
    return nn.Sequential(*layers)


def decoder(arch: str, hidden: tuple[int, ...], channels: tuple[int, ...], latent: int) -> nn.Module:
    """``[B, latent] -> [B, 784]`` logits; the mirror of ``encoder``."""
    if arch == "dense":
        return _mlp([latent, *reversed(hidden), PIXELS])
    side = SIDE >> len(channels)
    rev = list(reversed(channels))
    layers: list[nn.Module] = [
        nn.Linear(latent, rev[0] * side * side),
        nn.ReLU(),
        nn.Unflatten(1, (rev[0], side, side)),
    ]
    for i, c in enumerate(rev):
        c_out = rev[i + 1] if i + 1 < len(rev) else 1
        layers.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
        if c_out != 1:
            layers.append(nn.ReLU())
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


class AE(nn.Module):
    kind = "ae"

    def __init__(self, arch: str, latent: int, hidden=(512, 256), channels=(32, 64)):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(arch, hidden, channels, latent)
        self.decoder = decoder(arch, hidden, channels, latent)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code of ``x``: ``[B, latent]``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        return {"logits": self.decoder(z), "z": z}


class VAE(nn.Module):
    kind = "vae"

    def __init__(self, arch: str, latent: int, hidden=(512, 256), channels=(32, 64)):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(arch, hidden, channels, 2 * latent)  # mean and log-variance
        self.decoder = decoder(arch, hidden, channels, latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)``: mean and log-variance, each ``[B, latent]``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean: ``[B, latent]``."""
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterization trick
        return {"logits": self.decoder(z), "z": z, "mu": mu, "logvar": logvar}


MODELS = {"ae": AE, "vae": VAE}


def build(kind: str, p: Params) -> AE | VAE:
    return MODELS[kind](p.model.arch, p.latent_dim, p.model.hidden, p.model.channels)
