"""Evaluation of one trained run: reconstruction, generation, latent structure, likelihood.

Everything ``plot`` draws comes from the arrays written here (no model runs in ``plot``). The
Inception-based numbers (FID, precision/recall) are computed for the primary run (replicate 0)
only, with their bootstrap spread; everything else for every replicate.

Each random quantity draws from its own stream (``runtime.stream(seed, name)``), shared by every
model and replicate (common random numbers: differences between models are not sampling noise of
the evaluation), and independent of the others: changing ``evaluate.fid_samples`` moves no bound.
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
from aevae.models import Spec
from aevae.params import Params
from aevae.runtime import stream

log = logging.getLogger(__name__)
BATCH = 2000
GRID = 15  # manifold: GRID x GRID decoded images
QUANTILES = norm.ppf(np.linspace(0.05, 0.95, GRID))
INTERP_STEPS = 11  # points on each decoded line, ends included (t = 0, 0.1, ..., 1)
INTERP_PAIRS = 1000  # random test pairs of different classes for the continuity measures (<= fid_samples)
# drawn interpolations: the first test image of each class in these class pairs
FIGURE_PAIRS = ((0, 9), (1, 3), (2, 7), (5, 8), (4, 6))
SAMPLERS = {"ae": "Gaussian (full covariance) fitted to the training codes", "vae": "prior N(0, I)"}

FeatureFn = Callable[[np.ndarray, str], np.ndarray]  # images [N, 784] in [0, 1] -> features [N, F]


@dataclass
class Evaluation:
    metrics: dict
    arrays: dict[str, np.ndarray]


def map_batches(fn, x: np.ndarray, device: torch.device | str) -> np.ndarray:
    """``fn`` over ``x`` in batches of ``BATCH`` on ``device``, without gradients; the results stacked on the CPU."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(x, np.float32))
        return torch.cat([fn(b.to(device)).cpu() for b in x.split(BATCH)]).numpy()


def decode(model, z: np.ndarray, device: torch.device) -> np.ndarray:
    """Images ``[N, 784]`` in [0, 1] decoded from latents ``[N, D]``."""
    return map_batches(lambda b: torch.sigmoid(model.decoder(b)), z, device)


def two_d(latents: np.ndarray) -> tuple[np.ndarray, str]:
    """``[2, D]`` basis of the plane drawn for latents ``[N, D]``: the axes themselves at D <= 2, else
    the two leading principal directions (with their share of variance in the description)."""
    d = latents.shape[1]
    if d == 1:
        return np.array([[1.0], [0.0]]), "1-d latent (drawn on a line)"
    if d == 2:
        return np.eye(2), "the 2-d latent itself, no projection"
    basis, share = metrics.pca_2d(latents)
    return basis, f"PCA of the {d}-d latent, 2 leading directions ({share:.0%} of variance)"


def manifold_latents(basis: np.ndarray) -> np.ndarray:
    """``[GRID * GRID, D]`` latents over N(0, 1)'s 5%..95% quantiles along the two rows of ``basis``
    (at D = 2: the plain grid over the prior's quantiles, as the source report drew it)."""
    a, b = np.meshgrid(QUANTILES, QUANTILES[::-1])  # rows: second direction, top = high
    return (a.reshape(-1, 1) * basis[0] + b.reshape(-1, 1) * basis[1]).astype(np.float32)


def figure_pairs(y: np.ndarray) -> list[tuple[int, int]]:
    """The class pairs of ``FIGURE_PAIRS`` present in labels ``y`` (a small subset may lack some)."""
    present = set(np.unique(y).tolist())
    return [(a, b) for a, b in FIGURE_PAIRS if a in present and b in present]


def random_pairs(y: np.ndarray, n: int, generator: torch.Generator) -> np.ndarray:
    """``[<= n, 2]`` indices of test images of different classes, drawn from ``generator``."""
    i = torch.randint(len(y), (2 * n,), generator=generator).numpy()
    j = torch.randint(len(y), (2 * n,), generator=generator).numpy()
    keep = y[i] != y[j]
    return np.stack([i[keep], j[keep]], axis=1)[:n]


def lines(model, z_ends: np.ndarray, device: torch.device) -> np.ndarray:
    """``[P, INTERP_STEPS, 784]``: decoded straight lines between code pairs ``z_ends: [P, 2, D]``."""
    if len(z_ends) == 0:
        return np.zeros((0, INTERP_STEPS, 784), np.float32)
    t = np.linspace(0, 1, INTERP_STEPS, dtype=np.float32)[None, :, None]
    z = (1 - t) * z_ends[:, :1] + t * z_ends[:, 1:]
    return decode(model, z.reshape(-1, z.shape[-1]), device).reshape(len(z_ends), INTERP_STEPS, -1)


def sample_latents(spec: Spec, z_train: np.ndarray, n: int, generator: torch.Generator) -> np.ndarray:
    """``[n, D]`` codes to decode: the VAE's prior; the AE has none, so a Gaussian fitted to its training codes."""
    if spec.kind == "vae":
        return torch.randn((n, spec.latent), generator=generator).numpy()
    mean, chol = metrics.fit_gaussian(z_train)
    eps = torch.randn((n, spec.latent), generator=generator, dtype=torch.float64).numpy()
    return (mean + eps @ chol.T).astype(np.float32)


def run(
    spec: Spec,
    model: torch.nn.Module,
    p: Params,
    train: Split,
    test: Split,
    device: torch.device,
    features: FeatureFn | None,
    ref_features: np.ndarray | None,
) -> Evaluation:
    """Evaluate ``model`` on ``test``. ``features`` (Inception, or a stand-in) and ``ref_features`` (the
    test set's) are given for the primary run; ``None`` skips every feature-based metric."""
    n_fid = p.evaluate.fid_samples
    if ref_features is not None and len(ref_features) < n_fid:
        raise StudyError(
            f"the FID reference features hold {len(ref_features)} images, fewer than evaluate.fid_samples = {n_fid}; "
            "run `dvc repro` (it rebuilds fid_reference first)"
        )
    model = model.to(device).eval()
    x, y = np.asarray(test.x), np.asarray(test.y)

    # reconstruction: the VAE decodes its posterior mean
    z_test = map_batches(model.embed, x, device)
    recon = decode(model, z_test, device)
    z_train = map_batches(model.embed, train.x, device)
    out = {
        "mse": metrics.mse(x, recon),
        "ssim": metrics.ssim(x, recon),
        "psnr": metrics.psnr(x, recon),
        "sharpness": metrics.sharpness(x, recon),
        "latent_acc": metrics.latent_acc(z_train, train.y, z_test, y),
        "probe_acc": metrics.probe_acc(z_train, train.y, z_test, y),
        "active_units": metrics.active_units(z_test),
    }

    # continuity: decoded straight lines between random test pairs of different classes
    pairs = random_pairs(y, min(INTERP_PAIRS, n_fid), stream(p.seed, "interpolation pairs"))
    paths = lines(model, z_test[pairs], device)
    out["interp_evenness"] = metrics.path_evenness(paths)
    out["interp_pairs"] = len(pairs)
    midpoints = paths[:, INTERP_STEPS // 2]
    first = {c: int(np.flatnonzero(y == c)[0]) for c in np.unique(y)}
    drawn = figure_pairs(y)
    shown = [(first[a], first[b]) for a, b in drawn]

    # generation
    samples = decode(model, sample_latents(spec, z_train, n_fid, stream(p.seed, "samples")), device)

    basis, how = two_d(z_test)
    arrays = {
        "recon": recon,
        "samples": samples,
        "latents": z_test,
        "train_latents": z_train,
        "latent_2d": (z_test @ basis.T).astype(np.float32),
        "interpolations": lines(model, z_test[np.array(shown, dtype=int).reshape(-1, 2)], device),
        "midpoints": midpoints,
    }
    protocol = {
        **fid.PROTOCOL,
        "sampler": SAMPLERS[spec.kind],
        "latent_classifier": f"kNN (k={metrics.KNN_K}) on raw codes; linear probe: logistic regression",
        "active_units": f"units with Var_x(E[z|x]) > {metrics.ACTIVE_VAR} over the test set",
        "sharpness": "mean gradient magnitude of reconstructions / of originals",
        "continuity": f"{len(pairs)} test pairs of different classes, {INTERP_STEPS} points per line; "
        "evenness = max step / mean step (pixel L2); midpoints t = 0.5",
        "psnr": "mean over test images of per-image PSNR (data range 1)",
        "recon_likelihood": "Bernoulli (BCE on logits) on grey levels, nats per image: a cross-entropy, "
        "not a likelihood of binarized images",
        "latent_2d": how,
        "interpolation_classes": [list(pair) for pair in drawn],
        "device": device.type,
    }

    if features is not None:
        ref_features = ref_features[:n_fid]  # the first n_fid test images, as the reconstructions
        recon_feats = features(recon[:n_fid], f"{spec.name} reconstructions")
        sample_feats = features(samples, f"{spec.name} samples")
        mid_feats = features(midpoints, f"{spec.name} interpolation midpoints")
        boot = stream(p.seed, "fid bootstrap")
        ref = fid.Reference(ref_features)  # the test set's mean and covariance factor, computed once
        for name, feats in (("fid_recon", recon_feats), ("fid_samples", sample_feats)):
            out[name] = ref.fid(feats)
            spread = fid.fid_bootstrap(ref_features, feats, p.evaluate.fid_bootstrap, boot)
            out[f"{name}_sd"] = float(spread.std(ddof=1))
        kid_seed = int(torch.randint(2**31 - 1, (1,), generator=stream(p.seed, "kid subsets")))
        k = fid.kid(ref_features, sample_feats, seed=kid_seed)
        out["kid_samples"], out["kid_samples_sd"], out["kid_subsets"] = k["kid"], k["kid_sd"], fid.KID_SUBSETS
        out.update(fid.precision_recall(ref_features, sample_feats))
        out["interp_precision"] = fid.precision_recall(ref_features, mid_feats)["precision"]
        out["fid_n"] = n_fid
        out["fid_bootstrap"] = p.evaluate.fid_bootstrap
        arrays["recon_features"], arrays["samples_features"] = recon_feats, sample_feats  # read to re-check FID, P/R

    if spec.kind == "vae":
        log.info("%s: importance-weighted NLL with K=%d", spec.name, p.evaluate.iw_samples)
        out.update(metrics.vae_bounds(model, x, p.evaluate.iw_samples, stream(p.seed, "importance samples")))
        out["iw_samples"] = p.evaluate.iw_samples
        arrays["manifold"] = decode(model, manifold_latents(basis), device).reshape(GRID, GRID, -1)
        protocol["manifold"] = f"{GRID}x{GRID} grid over N(0, 1) quantiles 5%..95% along: {how}"
    out["protocol"] = protocol
    return Evaluation(out, arrays)
