"""Losses: one reconstruction likelihood for both models, so the comparison is fair.

Reduction everywhere: **sum over the 784 pixels, mean over the batch**, i.e. nats per image.
Reconstruction is the Bernoulli negative log-likelihood (binary cross-entropy on logits), as in
Kingma & Welling (2014), Appendix C.1, and pytorch/examples' VAE. The KL term is the closed form
for a diagonal Gaussian posterior against N(0, I), Kingma & Welling (2014), Appendix B.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli NLL per image ``[B]`` of ``x: [B, 784]`` in [0, 1] under ``logits: [B, 784]``."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image ``[B]``: 0.5 * sum(mu^2 + var - 1 - logvar)."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def ae_loss(out: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    recon = recon_nll(out["logits"], x).mean()
    return {"loss": recon, "recon": recon}


def vae_loss(out: dict[str, torch.Tensor], x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Negative (beta-)ELBO: recon + beta * KL; beta = 1 is the plain VAE."""
    recon = recon_nll(out["logits"], x).mean()
    kl = kl_to_prior(out["mu"], out["logvar"]).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def entropy_floor(x) -> float:
    """The lowest reconstruction loss any model can reach on images ``x: [N, 784]`` in [0, 1], nats per image:
    the Bernoulli cross-entropy of each grey level with itself, sum over pixels of -(x log x + (1-x) log(1-x)),
    averaged over the images (0 log 0 = 0). A loss minus this floor is what training can still reduce."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return float(-(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum(dim=1).mean())


def plateau(val_losses, floor: float, window: int, share: float) -> dict:
    """Convergence of a validation curve ``val_losses`` (one per epoch) on its reducible part (loss minus
    ``floor``): with B(e) the lowest loss up to epoch e and E the last epoch, ``removed`` = B(E - window) - B(E)
    is what the last ``window`` epochs removed, ``remaining`` = B(E) - floor what is left to remove;
    ``converged`` when removed < ``share`` x remaining (False with fewer than window + 1 epochs).
    The training stopping rule and the report's criterion both call this."""
    best = np.minimum.accumulate(np.asarray(val_losses, np.float64))
    remaining = float(best[-1] - floor)
    if len(best) <= window:
        return {"removed": float("nan"), "remaining": remaining, "converged": False}
    removed = float(best[-1 - window] - best[-1])
    return {"removed": removed, "remaining": remaining, "converged": bool(removed < share * remaining)}


def loss_fn(kind: str, beta: float = 1.0):
    """The named-terms loss of a model kind: ``fn(out, x) -> {"loss", "recon"[, "kl"]}``."""
    return ae_loss if kind == "ae" else lambda out, x: vae_loss(out, x, beta)
