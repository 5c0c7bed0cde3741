"""The conditional VAE (class-conditioned encoder and decoder); the study's class judge (``aevae.judge``)
names the class of its samples.

The CVAE (Sohn et al., NeurIPS 2015) trains through the study's own loop (``aevae.train``) and loss:
its datum is the image with its one-hot class appended, ``[x | onehot(y)]: [B, 794]``. Its encoder
reads both; its decoder reads ``z`` and the class and returns the image's logits, followed by logits
of +-``LABEL_LOGIT`` that reproduce the given class exactly, so the class columns add 0 nats (below
float32's resolution) and the loss is the plain negative ELBO of ``p(x | z, y)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aevae import data, models
from aevae.models import PIXELS

CLASSES = len(data.CLASSES)
LABEL_LOGIT = 100.0  # BCE of a logit of 100 on its own label: log(1 + e^-100) = 4e-44 nats


def with_labels(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[N, 794]`` float32: images ``[N, 784]`` followed by their one-hot classes."""
    return np.concatenate([np.asarray(x, np.float32), np.eye(CLASSES, dtype=np.float32)[np.asarray(y)]], axis=1)


class CVAE(nn.Module):
    """Dense conditional VAE; ``layers``: the hidden units of the study's dense models."""

    kind = "cvae"

    def __init__(self, arch: str, latent: int, layers: tuple[int, ...] = (512, 256)):
        super().__init__()
        if arch != "dense":
            raise ValueError(f"the conditional VAE is dense only (got arch {arch!r})")
        self.latent = latent
        self.encoder = models.mlp([PIXELS + CLASSES, *layers, 2 * latent])
        self.decoder = models.mlp([latent + CLASSES, *reversed(layers), PIXELS])

    def posterior(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(xy).chunk(2, dim=1)
        return mu, logvar

    def embed(self, xy: torch.Tensor) -> torch.Tensor:
        """The posterior mean given image and class: ``[B, latent]``."""
        return self.posterior(xy)[0]

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Image logits ``[B, 784]`` of class ``onehot`` at codes ``z``."""
        return self.decoder(torch.cat([z, onehot], dim=1))

    def forward(self, xy: torch.Tensor) -> dict[str, torch.Tensor]:
        onehot = xy[:, PIXELS:]
        mu, logvar = self.posterior(xy)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = torch.cat([self.decode(z, onehot), LABEL_LOGIT * (2 * onehot - 1)], dim=1)
        return {"logits": logits, "z": z, "mu": mu, "logvar": logvar}


models.KINDS["cvae"] = CVAE  # train.train builds models through this registry; the loss is the VAE's
