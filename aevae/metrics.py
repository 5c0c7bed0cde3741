"""Metrics as pure functions of arrays (images ``[N, 784]`` in [0, 1], latents ``[N, D]``).

Definitions are the contract in DESIGN.md section 4.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from aevae import losses

SSIM_KW = dict(gaussian_kernel=True, sigma=1.5, kernel_size=11, k1=0.01, k2=0.03, data_range=1.0)
KNN_K = 10
CHUNK = 1000


def _img(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 28, 28)


def mse(x, x_hat) -> float:
    """Mean over all pixels of all images of (x - x_hat)^2."""
    d = np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)
    return float(np.mean(d * d))


def ssim(x, x_hat) -> float:
    """Mean SSIM over images (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, data range 1).

    Each image's SSIM is the mean of its SSIM map over the pixels whose whole window lies inside
    the image (a 5-px border excluded), as Wang et al. and scikit-image's ``structural_similarity``
    compute it; torchmetrics' own mean also counts the reflect-padded border, so we crop its map.
    """
    r = SSIM_KW["kernel_size"] // 2
    total = 0.0
    for a, b in zip(_img(x).split(CHUNK), _img(x_hat).split(CHUNK), strict=True):
        _, full = structural_similarity_index_measure(b.double(), a.double(), return_full_image=True, **SSIM_KW)
        total += full[..., r:-r, r:-r].mean(dim=(1, 2, 3)).sum().item()
    return total / len(x)


def psnr(x, x_hat) -> float:
    """Mean over images of the per-image PSNR in dB, data range 1: 10 log10(1 / MSE_image)."""
    per_image = peak_signal_noise_ratio(
        _img(x_hat).double(), _img(x).double(), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )
    return float(per_image.mean())


def latent_acc(z_train, y_train, z_test, y_test, k: int = KNN_K) -> float:
    """Test accuracy of a k-nearest-neighbour classifier (k=10) on standardized latents."""
    scaler = StandardScaler().fit(z_train)
    knn = KNeighborsClassifier(n_neighbors=k).fit(scaler.transform(z_train), y_train)
    return float((knn.predict(scaler.transform(z_test)) == np.asarray(y_test)).mean())


def fit_gaussian(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and lower Cholesky factor ``[D, D]`` of the full covariance of ``z: [N, D]``."""
    z = np.asarray(z, np.float64)
    cov = np.atleast_2d(np.cov(z, rowvar=False)) + 1e-6 * np.eye(z.shape[1])  # jitter: rank-deficient codes
    return z.mean(axis=0), np.linalg.cholesky(cov)


@torch.no_grad()
def vae_bounds(model, x, k: int, generator: torch.Generator, batch: int = 8) -> dict[str, float]:
    """Test ``elbo``, ``kl`` (nats per image) and ``nll_iw``, the importance-weighted NLL (Burda et al. 2016).

    nll_iw = -mean_x log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x); K = ``k``.
    With K = 1 its expectation is -ELBO; it tightens towards -log p(x) as K grows.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    elbo = kl = nll = 0.0
    log2pi = math.log(2 * math.pi)
    for xb in x.split(batch):
        mu, logvar = model.posterior(xb)
        std = torch.exp(0.5 * logvar)
        # single-sample ELBO, and the analytic KL
        eps = torch.randn(mu.shape, generator=generator)
        rec = losses.recon_nll(model.decoder(mu + eps * std), xb)
        klb = losses.kl_to_prior(mu, logvar)
        elbo -= (rec + klb).sum().item()
        kl += klb.sum().item()
        # K importance samples per image: [K, B, D]
        eps = torch.randn((k, *mu.shape), generator=generator)
        z = mu + eps * std
        log_q = -0.5 * (eps.square() + logvar + log2pi).sum(-1)
        log_p_z = -0.5 * (z.square() + log2pi).sum(-1)
        log_p_x = -losses.recon_nll(model.decoder(z.reshape(-1, mu.shape[1])), xb.repeat(k, 1)).reshape(k, -1)
        log_w = log_p_x + log_p_z - log_q
        nll -= (torch.logsumexp(log_w.double(), dim=0) - math.log(k)).sum().item()
    n = len(x)
    return {"elbo": elbo / n, "kl": kl / n, "nll_iw": nll / n}
