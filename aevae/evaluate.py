"""Evaluation of one trained model: reconstruction, generation, latent structure, likelihood.

Everything ``plot`` draws comes from the arrays written here (no model runs in ``plot``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from aevae import fid, metrics
from aevae.data import Split
from aevae.errors import StudyError
from aevae.params import Params

log = logging.getLogger(__name__)
BATCH = 2000
GRID = 15  # manifold: GRID x GRID decoded images
QUANTILES = norm.ppf(np.linspace(0.05, 0.95, GRID))
INTERP_STEPS = 10
# interpolation endpoints: the first test image of each class in these pairs (different classes)
INTERP_PAIRS = ((0, 9), (1, 3), (2, 7), (5, 8), (4, 6))

FeatureFn = Callable[[np.ndarray, str], np.ndarray]  # images [N, 784] in [0, 1] -> features [N, F]


@dataclass
class Evaluation:
    metrics: dict
    arrays: dict[str, np.ndarray]


def _map(fn, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([fn(b) for b in torch.as_tensor(np.asarray(x, np.float32)).split(BATCH)]).numpy()


def decode(model, z: np.ndarray) -> np.ndarray:
    """Images ``[N, 784]`` in [0, 1] decoded from latents ``[N, D]``."""
    return _map(lambda b: torch.sigmoid(model.decoder(b)), z)


def manifold_latents(latents: np.ndarray) -> tuple[np.ndarray, str]:
    """``[GRID * GRID, D]`` latents over the prior's quantiles, along the two leading directions.

    At D = 2 that is the plain grid over N(0, I)'s quantiles; above, the grid spans the two leading
    principal directions of the test posterior means, other coordinates at the prior mean 0.
    """
    d = latents.shape[1]
    a, b = np.meshgrid(QUANTILES, QUANTILES[::-1])  # rows: second direction, top = high
    if d == 1:
        return np.repeat(a.reshape(-1, 1), 1, axis=1), "1-d latent: quantiles of N(0, 1) along each row"
    if d == 2:
        basis = np.eye(2)
        how = "grid over N(0, I) quantiles 5%..95%"
    else:
        centered = latents - latents.mean(axis=0)
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        basis = vt[:2]
        how = "N(0, 1) quantiles 5%..95% along the 2 leading PCA directions of test latents"
    return (a.reshape(-1, 1) * basis[0] + b.reshape(-1, 1) * basis[1]).astype(np.float32), how


def interpolations(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[pairs, INTERP_STEPS, 784]``: decoded straight lines between the codes of two test images."""
    first = {c: int(np.flatnonzero(y == c)[0]) for c in np.unique(y)}
    pairs = [(first[a], first[b]) for a, b in INTERP_PAIRS if a in first and b in first]
    if not pairs:
        return np.zeros((0, INTERP_STEPS, x.shape[1]), np.float32)
    ends = _map(model.embed, x[[i for pair in pairs for i in pair]]).reshape(len(pairs), 2, -1)
    t = np.linspace(0, 1, INTERP_STEPS, dtype=np.float32)[None, :, None]
    z = (1 - t) * ends[:, :1] + t * ends[:, 1:]
    return decode(model, z.reshape(-1, z.shape[-1])).reshape(len(pairs), INTERP_STEPS, -1)


def run(
    kind: str,
    model: torch.nn.Module,
    p: Params,
    train: Split,
    test: Split,
    features: FeatureFn,
    ref_features: np.ndarray,
) -> Evaluation:
    """Evaluate ``model`` (``kind`` "ae" or "vae") on ``test``; ``features`` embeds images for FID."""
    n_fid = p.evaluate.fid_samples
    if len(ref_features) != n_fid:
        raise StudyError(
            f"the FID reference features hold {len(ref_features)} images but evaluate.fid_samples is {n_fid}; "
            "run `dvc repro fid_reference` (dvc repro does it in order)"
        )
    model = model.cpu().eval()
    g = torch.Generator().manual_seed(p.seed)
    x, y = np.asarray(test.x), np.asarray(test.y)

    # reconstruction: the VAE decodes its posterior mean
    z_test = _map(model.embed, x)
    recon = decode(model, z_test)
    z_train = _map(model.embed, train.x)
    out = {
        "mse": metrics.mse(x, recon),
        "ssim": metrics.ssim(x, recon),
        "psnr": metrics.psnr(x, recon),
        "latent_acc": metrics.latent_acc(z_train, train.y, z_test, y),
    }

    # generation: the VAE samples its prior; the AE has none, so a Gaussian fitted to its training codes
    if kind == "vae":
        z_gen = torch.randn((n_fid, model.latent), generator=g).numpy()
        sampler = "VAE prior N(0, I)"
    else:
        mean, chol = metrics.fit_gaussian(z_train)
        eps = torch.randn((n_fid, model.latent), generator=g, dtype=torch.float64).numpy()
        z_gen = (mean + eps @ chol.T).astype(np.float32)
        sampler = "Gaussian (full covariance) fitted to the AE's training codes"
    samples = decode(model, z_gen)

    recon_feats = features(recon[:n_fid], f"{kind} reconstructions")
    sample_feats = features(samples, f"{kind} samples")
    out["fid_recon"] = fid.fid(ref_features, recon_feats)
    out["fid_samples"] = fid.fid(ref_features, sample_feats)
    out["fid_n"] = n_fid
    protocol = {
        **fid.PROTOCOL,
        "sampler": sampler,
        "latent_classifier": f"kNN (k={metrics.KNN_K}) on standardized latents, fitted on train",
        "psnr": "mean over test images of per-image PSNR (data range 1)",
        "recon_likelihood": "Bernoulli (BCE on logits), nats per image",
    }
    arrays = {
        "recon": recon,
        "samples": samples,
        "latents": z_test,
        "interpolations": interpolations(model, x, y),
        "recon_features": recon_feats,
        "samples_features": sample_feats,
    }
    if kind == "vae":
        log.info("vae: importance-weighted NLL with K=%d", p.evaluate.iw_samples)
        out.update(metrics.vae_bounds(model, x, p.evaluate.iw_samples, g))
        out["iw_samples"] = p.evaluate.iw_samples
        z_grid, protocol["manifold"] = manifold_latents(z_test)
        arrays["manifold"] = decode(model, z_grid).reshape(GRID, GRID, -1)
    out["protocol"] = protocol
    return Evaluation(out, arrays)
