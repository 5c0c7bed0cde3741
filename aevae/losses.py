"""Losses: one reconstruction likelihood for both models, so the comparison is fair.

Reduction everywhere: **sum over the 784 pixels, mean over the batch**, i.e. nats per image.
Reconstruction is the Bernoulli negative log-likelihood (binary cross-entropy on logits), as in
Kingma & Welling (2014), Appendix C.1, and pytorch/examples' VAE. The KL term is the closed form
for a diagonal Gaussian posterior against N(0, I), Kingma & Welling (2014), Appendix B.
A VAE with a Gaussian decoder (``models.Spec.likelihood``) uses instead Dai & Wipf's (2019) density
N(x; sigmoid(logits), gamma^2 I) with one learned gamma (``gaussian_nll``); its loss has no floor (gamma -> 0
sends it to minus infinity on a perfect fit), so the stopping rule, the entropy floor and the NLL bound are the
Bernoulli decoder's only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli NLL per image ``[B]`` of ``x: [B, 784]`` in [0, 1] under ``logits: [B, 784]``."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def gaussian_nll(logits: torch.Tensor, x: torch.Tensor, log_gamma: torch.Tensor) -> torch.Tensor:
    """Gaussian NLL per image ``[B]`` of ``x`` under N(sigmoid(logits), gamma^2 I), gamma = exp(``log_gamma``):
    Dai & Wipf's first-stage term (their ``gen_loss1``). No floor on gamma, as theirs has none."""
    return gaussian_nll_of_mean(torch.sigmoid(logits), x, log_gamma)


def gaussian_nll_of_mean(mean: torch.Tensor, x: torch.Tensor, log_gamma: torch.Tensor) -> torch.Tensor:
    """NLL per row ``[B]`` of ``x: [B, D]`` under N(``mean``, gamma^2 I): sum over the D coordinates of
    ((x - mean) / gamma)^2 / 2 + log gamma + log(2 pi) / 2, as Dai & Wipf's code writes it."""
    return (0.5 * ((x - mean) / log_gamma.exp()).square() + log_gamma + HALF_LOG_TWO_PI).sum(dim=1)


def reconstruction(out: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The decoder's NLL per image ``[B]``: Gaussian when the model learns a gamma (``out["log_gamma"]``),
    Bernoulli otherwise."""
    if "log_gamma" in out:
        return gaussian_nll(out["logits"], x, out["log_gamma"])
    return recon_nll(out["logits"], x)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image ``[B]``: 0.5 * sum(mu^2 + var - 1 - logvar)."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def ae_loss(out: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    recon = reconstruction(out, x).mean()
    return {"loss": recon, "recon": recon}


def vae_loss(out: dict[str, torch.Tensor], x: torch.Tensor, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Negative (beta-)ELBO: recon + beta * KL; beta = 1 is the plain VAE."""
    recon = reconstruction(out, x).mean()
    terms = {"gamma": out["log_gamma"].detach().exp()} if "log_gamma" in out else {}
    kl = kl_to_prior(out["mu"], out["logvar"]).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl, **terms}


def has_floor(likelihood: str) -> bool:
    """Whether a decoder's loss has a floor (``entropy_floor``), which the stopping rule (``plateau``) measures
    progress against: the Bernoulli decoder's; a learned gamma sends the Gaussian's to minus infinity."""
    return likelihood == "bernoulli"


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
    """The named-terms loss of a model kind: ``fn(out, x) -> {"loss", "recon"[, "kl"][, "gamma"]}`` (``gamma``: a
    learned-gamma decoder's standard deviation, for the curves)."""
    return ae_loss if kind == "ae" else lambda out, x: vae_loss(out, x, beta)
