"""Evaluation of one trained run: reconstruction, latent structure, continuity, generation, likelihood.

Everything ``plot`` draws comes from the arrays written here (no model runs in ``plot``). Every run gets
every number, the Inception-based ones included (FID, KID, precision/recall of reconstructions and of
``evaluate.fid_samples_seed`` samples from each sampler), so every number carries its spread across
training seeds; the primary run (replicate 0) also gets its main sampler at ``evaluate.fid_samples`` for
the figures' numbers.

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

from aevae import continuity, fid, judge, metrics, samplers
from aevae.data import Split
from aevae.errors import StudyError
from aevae.models import PIXELS, Spec
from aevae.params import Params
from aevae.runtime import int_seed, stream

log = logging.getLogger(__name__)
BATCH = 2000
GRID = 15  # manifold: GRID x GRID decoded images
QUANTILES = np.linspace(0.05, 0.95, GRID)
INTERP_STEPS = 11  # points on each decoded line, ends included (t = 0, 0.1, ..., 1)
# drawn interpolations: the first test image of each class in these class pairs (within a group, then across)
FIGURE_PAIRS = ((0, 6), (2, 4), (5, 7), (7, 9), (0, 9), (1, 3), (2, 8), (5, 8))
FIGURE_SAMPLES = 64  # samples kept per sampler for the figures

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


def manifold_latents(basis: np.ndarray, z_train: np.ndarray | None) -> np.ndarray:
    """``[GRID * GRID, D]`` latents over the 5%..95% quantiles of the code distribution along the two rows of
    ``basis``: a VAE's prior N(0, I) (``z_train`` None; at D = 2 the plain grid the source report drew),
    or an AE's training codes (its codes have no fixed scale: their own mean and quantiles)."""
    if z_train is None:
        centre, a_q, b_q = np.zeros(basis.shape[1]), norm.ppf(QUANTILES), norm.ppf(QUANTILES)
    else:
        centre = np.asarray(z_train, np.float64).mean(0)
        proj = (np.asarray(z_train, np.float64) - centre) @ basis.T
        a_q, b_q = np.quantile(proj[:, 0], QUANTILES), np.quantile(proj[:, 1], QUANTILES)
    a, b = np.meshgrid(a_q, b_q[::-1])  # rows: second direction, top = high
    return (centre + a.reshape(-1, 1) * basis[0] + b.reshape(-1, 1) * basis[1]).astype(np.float32)


def figure_pairs(y: np.ndarray) -> list[tuple[int, int]]:
    """The class pairs of ``FIGURE_PAIRS`` present in labels ``y`` (a small subset may lack some)."""
    present = set(np.unique(y).tolist())
    return [(a, b) for a, b in FIGURE_PAIRS if a in present and b in present]


def lines(model, z_ends: np.ndarray, device: torch.device) -> np.ndarray:
    """``[P, INTERP_STEPS, 784]``: decoded straight lines between code pairs ``z_ends: [P, 2, D]``."""
    if len(z_ends) == 0:
        return np.zeros((0, INTERP_STEPS, PIXELS), np.float32)
    t = np.linspace(0, 1, INTERP_STEPS, dtype=np.float32)[None, :, None]
    z = (1 - t) * z_ends[:, :1] + t * z_ends[:, 1:]
    return decode(model, z.reshape(-1, z.shape[-1]), device).reshape(len(z_ends), INTERP_STEPS, -1)


def reconstruction_scores(x: np.ndarray, recon: np.ndarray) -> dict:
    return {"mse": metrics.mse(x, recon), "ssim": metrics.ssim(x, recon), "psnr": metrics.psnr(x, recon),
            "sharpness": metrics.sharpness(x, recon)}  # fmt: skip


def latent_scores(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y: np.ndarray) -> dict:
    pred = metrics.knn_predict(z_train, y_train, z_test)
    return {
        "latent_acc": float((pred == y).mean()),
        "knn_group": continuity.group_errors(pred, y),
        "probe_acc": metrics.probe_acc(z_train, y_train, z_test, y),
        "active_units": metrics.active_units(z_test),
    }


def _continuity(model, z_test: np.ndarray, y: np.ndarray, net: judge.Judge, p: Params, device) -> dict:
    """The judge's reading of decoded straight lines between test pairs within a group and across groups."""
    out = {}
    for kind in ("within", "across"):
        pairs = continuity.pairs(
            y, p.evaluate.interp_pairs, kind == "within", stream(p.seed, f"interpolation pairs {kind}")
        )
        scores = continuity.path_scores(net, lines(model, z_test[pairs], device), y[pairs[:, 0]], y[pairs[:, 1]])
        out.update({f"path_{k}_{kind}": v for k, v in scores.items()})
        out[f"interp_pairs_{kind}"] = len(pairs)
    return out


def inception_scores(ref: np.ndarray, feats: np.ndarray, p: Params, what: str) -> dict:
    """FID, KID (with its sd over subsets) and precision/recall of ``feats`` against as many reference
    features (the first test images)."""
    ref = ref[: len(feats)]
    k = fid.kid(ref, feats, seed=int_seed(p.seed, f"kid subsets {what}"))
    pr = fid.precision_recall(ref, feats)
    return {"fid": fid.Reference(ref).fid(feats), "kid": k["kid"], "kid_sd": k["kid_sd"], **pr}


def run(
    spec: Spec,
    model: torch.nn.Module,
    p: Params,
    train: Split,
    test: Split,
    device: torch.device,
    features: FeatureFn | None,
    ref_features: np.ndarray | None,
    net: judge.Judge,
    primary: bool = False,
) -> Evaluation:
    """Evaluate ``model`` on ``test``. ``features`` (Inception, or a stand-in) and ``ref_features`` (the
    test set's) give the Inception-based metrics (``None`` skips them); ``net``: the class judge;
    ``primary``: also score the main sampler at ``evaluate.fid_samples`` (replicate 0)."""
    n_seed, n_primary = p.evaluate.fid_samples_seed, p.evaluate.fid_samples
    need = max(n_seed, n_primary if primary else 0)
    if ref_features is not None and len(ref_features) < need:
        raise StudyError(
            f"the FID reference features hold {len(ref_features)} images, fewer than the {need} this evaluation "
            "compares with (evaluate.fid_samples, evaluate.fid_samples_seed); run `dvc repro` (it rebuilds "
            "fid_reference first)"
        )
    model = model.to(device).eval()
    x, y = np.asarray(test.x), np.asarray(test.y)

    # reconstruction: the VAE decodes its posterior mean
    z_test = map_batches(model.embed, x, device)
    recon = decode(model, z_test, device)
    z_train = map_batches(model.embed, train.x, device)
    out = {**reconstruction_scores(x, recon), **latent_scores(z_train, np.asarray(train.y), z_test, y)}
    out.update(_continuity(model, z_test, y, net, p, device))

    # generation: every sampler of the model's kind; the main one (first) at n_primary for the primary run
    names = list(samplers.SAMPLERS[spec.kind])
    samples = {}
    for i, name in enumerate(names):
        n = max(n_primary, n_seed) if primary and i == 0 else n_seed
        samples[name] = decode(model, samplers.sample_latents(name, z_train, n, p), device)

    basis, how = two_d(z_test)
    arrays = _figure_arrays(spec, model, recon, samples, n_seed, z_test, z_train, y, basis, device)
    if features is not None:
        scores, feature_arrays = _inception_measures(spec, features, ref_features, recon, samples, p, primary)
        out.update(scores)
        arrays.update(feature_arrays)
    if metrics.has_bounds(spec.kind, spec.likelihood):
        log.info("%s: importance-weighted NLL with K=%d", spec.name, p.evaluate.iw_samples)
        out.update(metrics.vae_bounds(model, x, p.evaluate.iw_samples, stream(p.seed, "importance samples")))
        out["iw_samples"] = p.evaluate.iw_samples
    out["protocol"] = _protocol(spec, y, how, device)
    return Evaluation(out, arrays)


def _figure_arrays(spec, model, recon, samples, n_seed, z_test, z_train, y, basis, device) -> dict[str, np.ndarray]:
    """What the figures and later checks read: reconstructions, the main sampler's per-seed samples, a few of
    each sampler's, the codes and their 2-d view, decoded lines between class pairs, the decoded 2-d manifold."""
    main = next(iter(samples))
    shown = [(int(np.flatnonzero(y == a)[0]), int(np.flatnonzero(y == b)[0])) for a, b in figure_pairs(y)]
    grid = manifold_latents(basis, None if spec.kind == "vae" else z_train)
    return {
        "recon": recon,
        "samples": samples[main][:n_seed],
        **{f"samples_{name}": s[:FIGURE_SAMPLES] for name, s in samples.items()},
        "latents": z_test,
        "train_latents": z_train,
        "latent_2d": (z_test @ basis.T).astype(np.float32),
        "interpolations": lines(model, z_test[np.array(shown, dtype=int).reshape(-1, 2)], device),
        "manifold": decode(model, grid, device).reshape(GRID, GRID, -1),
    }


def _inception_measures(spec, features: FeatureFn, ref: np.ndarray, recon, samples: dict, p: Params, primary: bool):
    """FID, KID, precision and recall of the reconstructions and of every sampler at ``fid_samples_seed``; for the
    primary run, the main sampler (first) also at all its samples (``evaluate.fid_samples``). Returns (scores,
    the feature arrays kept to re-check them)."""
    n_seed = p.evaluate.fid_samples_seed
    recon_feats = features(recon[:n_seed], f"{spec.name} reconstructions")
    scores = inception_scores(ref, recon_feats, p, "recon")
    out = {"fid_recon": scores["fid"], "kid_recon": scores["kid"], "fid_n": n_seed, "kid_subsets": fid.KID_SUBSETS}
    arrays = {"recon_features": recon_feats}
    for i, (name, images) in enumerate(samples.items()):
        feats = features(images, f"{spec.name} samples ({name})")
        scores = inception_scores(ref, feats[:n_seed], p, name)
        out.update({f"{k}_{name}": scores[k] for k in ("fid", "kid", "precision", "recall")})
        if i == 0:
            arrays["samples_features"] = feats
        if primary and i == 0:
            scores = inception_scores(ref, feats, p, f"{name} primary")
            out.update({"fid_samples": scores["fid"], "kid_samples": scores["kid"], "kid_samples_sd": scores["kid_sd"],
                        "precision": scores["precision"], "recall": scores["recall"],
                        "fid_n_primary": len(feats)})  # fmt: skip
    return out, arrays


def _protocol(spec: Spec, y: np.ndarray, how: str, device: torch.device) -> dict:
    """How each measure of a run was taken, in words: stored with its metrics."""
    return {
        **fid.PROTOCOL,
        "samplers": samplers.SAMPLERS[spec.kind],
        "main_sampler": next(iter(samplers.SAMPLERS[spec.kind])),
        "latent_classifier": f"kNN (k={metrics.KNN_K}) on raw codes; linear probe: logistic regression",
        "knn_group": f"share of the kNN's errors whose class is in the true class's group ({continuity.GROUPS})",
        "active_units": f"units with Var_x(E[z|x]) > {metrics.ACTIVE_VAR} over the test set",
        "sharpness": "mean gradient magnitude of reconstructions / of originals (1 = as sharp as the data)",
        "continuity": f"test pairs of different classes within one group of {continuity.GROUPS} and across groups, "
        f"{INTERP_STEPS} points per straight line, read by the class judge: ab = of the paths whose decoded ends "
        "are judged A and B, the share whose interior points are all judged A or B; confidence = mean top "
        "probability on interior points over that on the decoded ends; evenness = max / mean step in the "
        "judge's penultimate features",
        "psnr": "mean over test images of per-image PSNR (data range 1)",
        "recon_likelihood": "Bernoulli (BCE on logits) on grey levels, nats per image: a cross-entropy, "
        "not a likelihood of binarized images"
        if spec.likelihood == "bernoulli"
        else "Gaussian N(sigmoid(logits), gamma^2 I), gamma learned (Dai & Wipf): no bound in nats is reported",
        "latent_2d": how,
        "manifold": f"{GRID}x{GRID} grid over the 5%..95% quantiles of "
        + ("the prior" if spec.kind == "vae" else "the training codes")
        + f" along: {how}",
        "interpolation_classes": [list(pair) for pair in figure_pairs(y)],
        "device": device.type,
    }
