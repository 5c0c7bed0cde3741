"""Metrics as pure functions of arrays (images ``[N, 784]`` in [0, 1], latents ``[N, D]``).

Each definition is stated once, in the README's table "What is measured"; the keys are ``study.METRICS``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from aevae import losses
from aevae.params import SIDE

SSIM_KW = dict(gaussian_kernel=True, sigma=1.5, kernel_size=11, k1=0.01, k2=0.03, data_range=1.0)
KNN_K = 10
ACTIVE_VAR = 0.01  # Burda et al. (2016): a unit is active when Var_x(E_q[z|x]) exceeds this
CHUNK = 1000


def _img(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, SIDE, SIDE)


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


def sharpness(x, x_hat) -> float:
    """Mean gradient magnitude of ``x_hat`` over that of ``x`` (images ``[N, 784]``): 1 is as sharp as the
    originals, below 1 smoother. Gradient: forward differences along rows and columns, magnitude
    sqrt(dx^2 + dy^2) on the 27 x 27 pixels where both exist, averaged over pixels and images."""

    def grad(a) -> float:
        img = np.asarray(a, np.float64).reshape(-1, SIDE, SIDE)
        dx, dy = np.diff(img, axis=2)[:, :-1, :], np.diff(img, axis=1)[:, :, :-1]
        return float(np.sqrt(dx * dx + dy * dy).mean())

    return grad(x_hat) / grad(x)


def knn_predict(z_train, y_train, z_test, k: int = KNN_K) -> np.ndarray:
    """Classes ``[N]`` a k-nearest-neighbour classifier (k = 10, Euclidean) on the raw codes assigns to ``z_test``.

    Raw, not standardized: standardizing scales a VAE's inactive units (pure noise around 0) up to
    the size of the active ones, which biases the distances."""
    with threadpool_limits(1):  # see probe_acc
        return KNeighborsClassifier(n_neighbors=k).fit(np.asarray(z_train), y_train).predict(np.asarray(z_test))


def latent_acc(z_train, y_train, z_test, y_test, k: int = KNN_K) -> float:
    """Test accuracy of ``knn_predict``."""
    return float((knn_predict(z_train, y_train, z_test, k) == np.asarray(y_test)).mean())


def probe_acc(z_train, y_train, z_test, y_test) -> float:
    """Test accuracy of a linear probe: multinomial logistic regression on the codes.

    The scaler only conditions the optimisation: a linear decision function can undo any per-unit
    scale, and with 10^4+ training codes the L2 penalty (C = 1) barely matters, so unlike kNN the
    probe does not depend on the units' scales."""
    # one thread: with torch's and scikit-learn's two OpenMP runtimes and OpenBLAS all spinning on
    # 2 cores, each L-BFGS step took 0.65 s instead of 10 ms (measured: 18 s -> 0.19 s per fit)
    with threadpool_limits(1):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(np.asarray(z_train, np.float64), y_train)
        return float((clf.predict(np.asarray(z_test, np.float64)) == np.asarray(y_test)).mean())


def active_units(z_mean, threshold: float = ACTIVE_VAR) -> int:
    """Number of latent units whose posterior mean varies over the data by more than ``threshold``
    (variance over images; Burda et al. 2016). For an AE the codes' scale is arbitrary, so its count
    says little; for a VAE the prior fixes the scale."""
    return int((np.asarray(z_mean, np.float64).var(axis=0) > threshold).sum())


def pca_2d(z: np.ndarray) -> tuple[np.ndarray, float]:
    """The two leading principal directions ``[2, D]`` of ``z: [N, D]`` (D >= 2) and their share of variance."""
    z = np.asarray(z, np.float64)
    _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    return vt[:2], float((s[:2] ** 2).sum() / max((s**2).sum(), 1e-300))


def fit_gaussian(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and lower Cholesky factor ``[D, D]`` of the full covariance of ``z: [N, D]``."""
    z = np.asarray(z, np.float64)
    cov = np.atleast_2d(np.cov(z, rowvar=False)) + 1e-6 * np.eye(z.shape[1])  # jitter: rank-deficient codes
    return z.mean(axis=0), np.linalg.cholesky(cov)


@torch.no_grad()
def has_bounds(kind: str, likelihood: str) -> bool:
    """Whether a model gets ``vae_bounds`` (ELBO, KL, importance-weighted NLL in nats): a VAE with the Bernoulli
    decoder (a Gaussian decoder's density of grey levels is no bound in nats; the conditional VAE is not scored)."""
    return kind == "vae" and likelihood == "bernoulli"


def vae_bounds(model, x, k: int, generator: torch.Generator, batch: int = 8) -> dict[str, float]:
    """Test ``elbo``, ``kl`` (nats per image) and ``nll_iw``, the importance-weighted NLL (Burda et al. 2016).

    nll_iw = -mean_x log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x); K = ``k``.
    With K = 1 its expectation is -ELBO; it tightens towards -log p(x) as K grows.
    p(x|z) is Bernoulli on grey-level pixels in [0, 1], so these are cross-entropy bounds, not
    likelihoods of binarized images: not comparable with published NLLs on binarized data.
    """
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    elbo = kl = nll = 0.0
    log2pi = math.log(2 * math.pi)
    for xb in x.split(batch):
        xb = xb.to(dev)
        mu, logvar = model.posterior(xb)
        std = torch.exp(0.5 * logvar)
        # single-sample ELBO, and the analytic KL
        eps = torch.randn(mu.shape, generator=generator).to(dev)  # drawn on the CPU: the same on any device
        rec = losses.recon_nll(model.decoder(mu + eps * std), xb)
        klb = losses.kl_to_prior(mu, logvar)
        elbo -= (rec + klb).sum().item()
        kl += klb.sum().item()
        # K importance samples per image: [K, B, D]
        eps = torch.randn((k, *mu.shape), generator=generator).to(dev)
        z = mu + eps * std
        log_q = -0.5 * (eps.square() + logvar + log2pi).sum(-1)
        log_p_z = -0.5 * (z.square() + log2pi).sum(-1)
        log_p_x = -losses.recon_nll(model.decoder(z.reshape(-1, mu.shape[1])), xb.repeat(k, 1)).reshape(k, -1)
        log_w = log_p_x + log_p_z - log_q
        nll -= (torch.logsumexp(log_w.double(), dim=0) - math.log(k)).sum().item()
    n = len(x)
    return {"elbo": elbo / n, "kl": kl / n, "nll_iw": nll / n}
