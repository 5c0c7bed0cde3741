"""One campaign variant trained and evaluated by the study's loop and ``evaluate.run``, and the record
attempt: the best VAE-family sampler at 10,000 images under our protocol and Dai & Wipf's.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from aevae import evaluate, fid, metrics, samplers, train
from aevae import judge as judge_module
from aevae.campaign import conditional
from aevae.campaign.config import OWN_SAMPLER, CampaignError, Config, Variant, spec, variant_params
from aevae.data import Split
from aevae.params import Params
from aevae.runtime import stream

FIGURE_SAMPLES = 100  # generated images kept per sampler for the figures
# Published Fashion-MNIST FIDs (10,000 generated vs the 10,000 test images, TF Inception), Dai & Wipf
# (ICLR 2019), Table 1; their code rescales each generated image to [min, max] = [0, 1] before scoring.
PUBLISHED = {"VAE (Dai & Wipf 2019, Table 1)": (43.6, 0.7), "2-Stage VAE (Dai & Wipf 2019, Table 1)": (29.3, 1.0)}


BOOTSTRAP = 20  # resamples of the images for a one-seed variant's FID spread (evaluation noise only)


def scores(feats: np.ndarray, ref: np.ndarray, bootstrap: int, generator: torch.Generator) -> dict[str, float]:
    """FID of ``feats`` against ``ref`` with its bootstrap sd (both sets resampled), precision and recall."""
    boot = fid.fid_bootstrap(ref, feats, bootstrap, generator)
    return {"fid": fid.fid(ref, feats), "fid_sd": float(np.std(boot, ddof=1)), **fid.precision_recall(ref, feats)}


def _generated(feats: np.ndarray, ref: np.ndarray, p: Params, name: str) -> dict[str, float]:
    s = scores(feats, ref, BOOTSTRAP, stream(p.seed, f"fid bootstrap {name}"))
    return {"fid_samples": s["fid"], "fid_samples_sd": s["fid_sd"], "precision": s["precision"], "recall": s["recall"]}


def _feature_metrics(out: dict, recon: np.ndarray, samples: np.ndarray, ref: np.ndarray, p: Params, features, name):
    """FID of reconstructions and of samples (bootstrap sd), precision and recall, into ``out``."""
    n = len(ref)
    r = scores(features(recon[:n], f"{name} reconstructions"), ref, BOOTSTRAP, stream(p.seed, "fid bootstrap recon"))
    out["fid_recon"], out["fid_recon_sd"] = r["fid"], r["fid_sd"]
    out.update(_generated(features(samples, f"{name} samples"), ref, p, "samples"))
    out["fid_n"], out["fid_bootstrap"] = n, BOOTSTRAP
    out["protocol"] = {**out.get("protocol", {}), **fid.PROTOCOL}


def run_variant(v: Variant, cfg: Config, p: Params, splits: dict[str, Split], device, features, ref, judge=None):
    """Train and evaluate variant ``v``; returns (metrics, figure arrays, curves, checkpoint).

    ``features(images, desc)``: Inception features; ``ref``: the test set's, at least ``fid_n`` of them;
    ``judge``: the study's class judge (``aevae.judge``): continuity of every model's paths, and the class
    of the conditional VAE's samples."""
    pv = variant_params(p, v, cfg)
    s, n = spec(v, pv), pv.evaluate.fid_samples
    tr, va, te = splits["train"], splits["val"], splits["test"]
    t0 = time.perf_counter()
    if v.model == "cvae":
        result = train.train(s, pv, conditional.with_labels(tr.x, tr.y), conditional.with_labels(va.x, va.y), device)
    else:
        result = train.train(s, pv, tr.x, va.x, device)
    t1 = time.perf_counter()
    if v.model == "cvae":
        out, arrays = evaluate_cvae(result.model, pv, tr, te, device, features, ref[:n], judge)
    else:
        ev = evaluate.run(s, result.model, pv, tr, te, device, None, None, judge)  # feature metrics: below
        out, arrays = ev.metrics, {f"samples_{OWN_SAMPLER[v.model]}": ev.arrays["samples"][:FIGURE_SAMPLES]}
        _feature_metrics(out, ev.arrays["recon"], ev.arrays["samples"], ref[:n], pv, features, v.name)
        out["samplers"] = {OWN_SAMPLER[v.model]: {k: out[k] for k in ("fid_samples", "fid_samples_sd", "precision",
                                                                      "recall")}}  # fmt: skip
        for name in v.samplers:
            z = samplers.sample(name, ev.arrays["train_latents"], n, p.seed, cfg)
            images = evaluate.decode(result.model, z, device)
            out["samplers"][name] = _generated(features(images, f"{v.name} {name} samples"), ref[:n], pv, name)
            arrays[f"samples_{name}"] = images[:FIGURE_SAMPLES]
    out["variant"] = dataclasses.asdict(v)
    out["best_epoch"], out["epochs"] = result.best_epoch, pv.train.epochs
    out["seconds"] = {"train": round(t1 - t0, 1), "evaluate": round(time.perf_counter() - t1, 1)}
    ckpt = train.checkpoint(result, s, pv, 0, device)
    ckpt["params"]["variant"] = dataclasses.asdict(v)
    return out, arrays, result.curves, ckpt


def evaluate_cvae(model, p: Params, tr: Split, te: Split, device, features, ref, judge):
    """The conditional VAE's metrics: reconstruction and codes given the true class; samples drawn
    balanced over the classes from N(0, I), scored by FID, precision/recall and the class ``judge`` names."""
    n = p.evaluate.fid_samples
    xy_test, xy_train = conditional.with_labels(te.x, te.y), conditional.with_labels(tr.x, tr.y)
    z_test = evaluate.map_batches(model.embed, xy_test, device)
    z_train = evaluate.map_batches(model.embed, xy_train, device)

    def decode(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        zy = np.concatenate([z, np.eye(conditional.CLASSES, dtype=np.float32)[y]], axis=1)
        dec = lambda b: torch.sigmoid(model.decode(b[:, : model.latent], b[:, model.latent :]))  # noqa: E731
        return evaluate.map_batches(dec, zy, device)

    x, y = np.asarray(te.x), np.asarray(te.y)
    recon = decode(z_test, y)
    classes = np.arange(n) % conditional.CLASSES
    samples = decode(torch.randn((n, model.latent), generator=stream(p.seed, "samples")).numpy(), classes)
    out = {
        "mse": metrics.mse(x, recon), "ssim": metrics.ssim(x, recon), "psnr": metrics.psnr(x, recon),
        "sharpness": metrics.sharpness(x, recon),
        "latent_acc": metrics.latent_acc(z_train, tr.y, z_test, y),
        "probe_acc": metrics.probe_acc(z_train, tr.y, z_test, y),
        "active_units": metrics.active_units(z_test),
        "sample_class_acc": float((judge_module.predict(judge, samples) == classes).mean()),
    }  # fmt: skip
    _feature_metrics(out, recon, samples, ref, p, features, "cvae")
    out["samplers"] = {"prior": {k: out[k] for k in ("fid_samples", "fid_samples_sd", "precision", "recall")}}
    out["protocol"] = {
        **out["protocol"],
        "sampler": "prior N(0, I), classes 0..9 in turn",
        "sample_class_acc": "share of samples the class judge assigns to the class they were drawn for",
    }
    per_class = np.arange(FIGURE_SAMPLES) // (FIGURE_SAMPLES // conditional.CLASSES)
    grid = decode(torch.randn((FIGURE_SAMPLES, model.latent), generator=stream(p.seed, "figure")).numpy(), per_class)
    return out, {"samples_prior": grid}


# ------------------------------------------------------------------ record attempt


def dai_wipf_rescale(images: np.ndarray) -> np.ndarray:
    """Each image min-max rescaled to [0, 1], as Dai & Wipf's code does before scoring (a constant
    image, whose range is 0, is left as it is)."""
    x = np.asarray(images, np.float32)
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), x).astype(np.float32)


def best_sampler(run_metrics: dict, name: str = "the record variant") -> str:
    """The sampler of a variant with the lowest FID at the campaign's ``fid_n``."""
    try:
        return min(run_metrics["samplers"], key=lambda s: float(run_metrics["samplers"][s]["fid_samples"]))
    except (KeyError, TypeError, ValueError):
        raise CampaignError(
            f"campaign/runs/{name}.json: no samplers with their FID; `git checkout -- campaign/runs/{name}.json` "
            f"restores the committed one, `dvc repro campaign/dvc.yaml:variant@{name}` rebuilds it"
        ) from None


def record_attempt(model, z_train: np.ndarray, sampler: str, cfg: Config, p: Params, device, features, ref):
    """FID of ``fid_n.record`` samples of ``model`` drawn by ``sampler``, under both protocols.

    Returns (metrics, {protocol: uint8 images [N, 28, 28]}): the images as scored, for an independent
    recomputation of both FIDs."""
    n = cfg.fid_n["record"]  # the reference holds at least that many (stages.campaign checks it first)
    if sampler in samplers.NAMES:
        z = samplers.sample(sampler, z_train, n, p.seed, cfg)
    else:  # the model's own prior
        z = torch.randn((n, model.latent), generator=stream(p.seed, "samples")).numpy()
    images = evaluate.decode(model, z, device)
    protocols = {"ours": images, "dai_wipf": dai_wipf_rescale(images)}
    out, kept = {"sampler": sampler, "fid_n": n}, {}
    pr = dataclasses.replace(p, evaluate=dataclasses.replace(p.evaluate, fid_samples=n))
    for name, x in protocols.items():
        kept[name] = fid.to_uint8(x).numpy()
        out[name] = _generated(features(x, f"record samples, {name} protocol"), ref[:n], pr, f"record {name}")
    out["published"] = {k: {"fid": v, "sd": sd} for k, (v, sd) in PUBLISHED.items()}
    out["protocols"] = {
        "ours": "images as decoded (sigmoid means), " + fid.PROTOCOL["fid_preprocess"],
        "dai_wipf": "each image min-max rescaled to [0, 1] first (Dai & Wipf's code), then as ours",
        "reference": f"the first {n} test images, as they are (uint8 from the IDX file)",
    }
    return out, kept
