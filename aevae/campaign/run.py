"""One campaign variant trained and evaluated by the study's loop and ``evaluate.run``, and the record
attempt: the best VAE-family sampler at 10,000 images under our protocol and Dai & Wipf's.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from aevae import evaluate, fid, fileio, metrics, models, samplers, train
from aevae import judge as judge_module
from aevae.campaign import config, protocol, two_stage, vaegan
from aevae.campaign.config import Config, Variant, spec, variant_params
from aevae.data import Split
from aevae.errors import StudyError
from aevae.params import SIDE, Params
from aevae.runtime import stream

FIGURE_SAMPLES = evaluate.FIGURE_SAMPLES  # generated images kept per sampler for the figures (8 x 8)
CVAE_GRID = 100  # the conditional VAE's figure: 10 per class


def _scores(ref: np.ndarray, feats: np.ndarray, p: Params, what: str) -> dict[str, float]:
    """FID, KID (its sd over subsets) and precision/recall: the study's scoring (``evaluate``), so a
    campaign number and a study number at the same N are the same measure."""
    return evaluate.inception_scores(ref, feats, p, what)


def posterior_sd(model, x: np.ndarray, device) -> np.ndarray | None:
    """The first stage's posterior standard deviations of ``x`` (``[N, D]``; None for an AE, which has none):
    with the posterior means, what Dai & Wipf's second stage draws its training codes from."""
    if not hasattr(model, "posterior"):
        return None
    return evaluate.map_batches(lambda b: model.posterior(b)[1].mul(0.5).exp(), x, device)


def _extra_samplers(v: Variant, cfg: Config, pv: Params, model, tr: Split, z_train, device, features, ref,
                    replicate: int):  # fmt: skip
    """The variant's ex-post samplers beyond the study's (``aevae.samplers``): their generation measures under
    the study's keys (``fid_<sampler>``, ...), their figure samples and their fits (kept in the checkpoint, so
    the published rows and the record draw from the same fit). A fit is part of the model: it is seeded by the
    run's seed (seed + replicate), as the first stage is; its draws here, like the study's samplers', by the
    shared sampling streams (``pv.seed``)."""
    out, arrays, fits = {}, {}, {}
    n = pv.evaluate.fid_samples_seed
    sd_train = posterior_sd(model, tr.x, device) if v.samplers else None
    for name in v.samplers:
        fits[name] = two_stage.fit(z_train, sd_train, train.run_seed(pv, replicate), cfg.two_stage, device)
        images = evaluate.decode(model, two_stage.draw(fits[name], n, pv.seed, device), device)
        sc = _scores(ref, features(images, f"{v.name} samples ({name})"), pv, name)
        out.update({f"{k}_{name}": sc[k] for k in ("fid", "kid", "precision", "recall")})
        arrays[f"samples_{name}"] = images[:FIGURE_SAMPLES]
    return out, arrays, fits


def fid_hook(v: Variant, p: Params, features, ref: np.ndarray, device):
    """``train.train``'s ``on_epoch`` for a variant with ``fid_every``: every ``fid_every`` epochs (and not
    between, NaN) the FID of ``fid_n`` prior samples, the same codes each time (their own stream), against as
    many test images: FID against epochs, in its curve. None when the variant asks for none."""
    if not v.fid_every:
        return None
    n = p.evaluate.fid_samples_seed
    reference = fid.Reference(ref[:n])
    z = torch.randn((n, v.latent), generator=stream(p.seed, "fid against epochs")).numpy()

    def hook(model, epoch: int) -> dict[str, float]:
        if epoch % v.fid_every:
            return {"fid_prior": float("nan")}
        images = evaluate.decode(model, z, device)
        return {"fid_prior": reference.fid(features(images, f"{v.name} epoch {epoch}"))}

    return hook


def run_variant(v: Variant, cfg: Config, p: Params, splits: dict[str, Split], device, features, ref, judge,
                replicate: int = 0):  # fmt: skip
    """Train and evaluate variant ``v`` at seed ``p.seed + replicate``; returns (metrics, figure arrays,
    curves, checkpoint).

    ``features(images, desc)``: Inception features; ``ref``: the test set's, at least ``fid_n`` of them;
    ``judge``: the study's class judge (``aevae.judge``). Every model but the conditional VAE is evaluated by
    the study's ``evaluate.run`` at ``fid_n`` images per sampler: the same keys as a study run."""
    pv = variant_params(p, v, cfg)
    s = spec(v, pv)
    tr, va, te = splits["train"], splits["val"], splits["test"]
    t0 = time.perf_counter()
    disc, fits = None, {}
    if v.model == "vaegan":
        result, disc = vaegan.train_vaegan(s, pv, v.gan, tr.x, va.x, device, replicate)
    elif v.model == "cvae":
        xy_tr, xy_va = models.with_labels(tr.x, tr.y), models.with_labels(va.x, va.y)
        result = train.train(s, pv, xy_tr, xy_va, device, replicate)
    else:
        result = train.train(s, pv, tr.x, va.x, device, replicate, on_epoch=fid_hook(v, pv, features, ref, device))
    t1 = time.perf_counter()
    if v.model == "cvae":
        out, arrays = evaluate_cvae(result.model, pv, tr, te, device, features, ref, judge)
    else:
        ev = evaluate.run(s, result.model, pv, tr, te, device, features, ref, judge)
        out = ev.metrics
        main = ev.arrays["samples"]  # the main sampler's fid_n samples
        out["sharpness_samples"] = metrics.sharpness(te.x[: len(main)], main)
        arrays = {k: a for k, a in ev.arrays.items() if k.startswith("samples_") and k != "samples_features"}
        extra, extra_arrays, fits = _extra_samplers(v, cfg, pv, result.model, tr, ev.arrays["train_latents"], device,
                                                    features, ref, replicate)  # fmt: skip
        out.update(extra)
        arrays.update(extra_arrays)
    out["variant"] = {**dataclasses.asdict(v), "seed": replicate}
    out["seed"] = train.run_seed(pv, replicate)
    out["best_epoch"], out["epochs"], out["stopped"] = result.best_epoch, len(result.curves), result.stopped
    out["seconds"] = {"train": round(t1 - t0, 1), "evaluate": round(time.perf_counter() - t1, 1)}
    ckpt = train.checkpoint(result, s, pv, replicate, device)
    ckpt["params"]["variant"] = dataclasses.asdict(v)
    if disc is not None:
        ckpt["discriminator"] = disc.state_dict()
    ckpt.update({f"sampler_{name}": fit for name, fit in fits.items()})  # ex-post samplers' fits, drawn again later
    return out, arrays, result.curves, ckpt


def evaluate_cvae(model, p: Params, tr: Split, te: Split, device, features, ref, judge):
    """The conditional VAE's metrics: reconstruction and codes given the true class; samples drawn
    balanced over the classes from N(0, I), scored as a study run's ``normal`` sampler and by the class
    ``judge``: the share judged the class asked, per class, and the judge's ceiling (its accuracy on the
    model's own reconstructions of the test images, given their true class)."""
    n = p.evaluate.fid_samples_seed
    xy_test, xy_train = models.with_labels(te.x, te.y), models.with_labels(tr.x, tr.y)
    z_test = evaluate.map_batches(model.embed, xy_test, device)
    z_train = evaluate.map_batches(model.embed, xy_train, device)

    def decode(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        zy = np.concatenate([z, np.eye(models.CLASSES, dtype=np.float32)[y]], axis=1)
        dec = lambda b: torch.sigmoid(model.decode(b[:, : model.latent], b[:, model.latent :]))  # noqa: E731
        return evaluate.map_batches(dec, zy, device)

    x, y = np.asarray(te.x), np.asarray(te.y)
    recon = decode(z_test, y)
    classes = np.arange(n) % models.CLASSES
    samples = decode(torch.randn((n, model.latent), generator=stream(p.seed, "samples normal")).numpy(), classes)
    judged = judge_module.predict(judge, samples)
    out = {
        **evaluate.reconstruction_scores(x, recon),  # the study's measures, as every other variant's
        **evaluate.latent_scores(z_train, np.asarray(tr.y), z_test, y),
        "sharpness_samples": metrics.sharpness(x[:n], samples),
        "sample_class_acc": float((judged == classes).mean()),
        "sample_class_acc_by_class": [float((judged[classes == c] == c).mean()) for c in range(models.CLASSES)],
        "recon_class_acc": float((judge_module.predict(judge, recon) == y).mean()),
    }  # fmt: skip
    r = _scores(ref, features(recon[:n], "cvae reconstructions"), p, "recon")
    out["fid_recon"], out["kid_recon"] = r["fid"], r["kid"]
    g = _scores(ref, features(samples, "cvae samples"), p, "normal")
    out.update({f"{k}_normal": g[k] for k in ("fid", "kid", "precision", "recall")})
    out["fid_n"] = n
    out["protocol"] = {
        **fid.PROTOCOL,
        "sampler": "prior N(0, I), classes 0..9 in turn",
        "sample_class_acc": "share of samples the class judge assigns to the class they were drawn for",
        "recon_class_acc": "the judge's accuracy on the model's reconstructions of the test images (its ceiling)",
        "device": str(device),
    }
    per_class = np.arange(CVAE_GRID) // (CVAE_GRID // models.CLASSES)
    grid = decode(torch.randn((CVAE_GRID, model.latent), generator=stream(p.seed, "figure")).numpy(), per_class)
    return out, {"samples_normal": grid}


# ------------------------------------------------------------------ record attempt


def draw(model, x_train: np.ndarray, sampler: str, n: int, cfg: Config, p: Params, device,
         fitted: dict | None = None) -> np.ndarray:  # fmt: skip
    """``[n, 784]`` images of ``model`` decoded from ``n`` codes of ``sampler`` (the study's, or an ex-post one of
    the campaign's), drawn from ``p.seed``'s streams; a fitted sampler is fitted to the model's codes of
    ``x_train``, an ex-post one taken from ``fitted`` (``kept_fit``: the variant's own) when given."""
    if sampler in two_stage.NAMES:
        if fitted is None:
            z_train = evaluate.map_batches(model.embed, x_train, device)
            fitted = two_stage.fit(z_train, posterior_sd(model, x_train, device), p.seed, cfg.two_stage, device)
        return evaluate.decode(model, two_stage.draw(fitted, n, p.seed, device), device)
    # the study's samplers: the prior (which reads only the codes' width), a fitted Gaussian, the mixture
    needs_codes = sampler != "normal"
    z_train = evaluate.map_batches(model.embed, x_train, device) if needs_codes else np.zeros((0, model.latent))
    z = samplers.sample_latents(sampler, z_train, n, dataclasses.replace(
        p, evaluate=dataclasses.replace(p.evaluate, gmm_components=cfg.gmm_components)))  # fmt: skip
    return evaluate.decode(model, z, device)


def kept_fit(path, sampler: str) -> dict | None:
    """The fit of ex-post ``sampler`` that the variant stage kept in checkpoint ``path`` (None for the study's
    samplers, which are fitted where they are drawn). A checkpoint without it, or with one that does not load,
    is one clear error, never a silent fit elsewhere."""
    if sampler not in two_stage.NAMES:
        return None
    ckpt = fileio.load_torch(path)
    fitted = ckpt.get(f"sampler_{sampler}") if isinstance(ckpt, dict) else None
    if fitted is None:
        raise StudyError(f"{path}: holds no {sampler} fit (its variant trained without `{sampler}` in its "
                         "samplers); add it to the variant's samplers in campaign/params.yaml and re-run its variant "
                         "stage")  # fmt: skip
    try:
        two_stage.load_fit(fitted)
    except StudyError as e:
        raise StudyError(f"{path}: {e}") from None
    return fitted


def select(cfg: Config, p: Params, models: dict, x_train: np.ndarray, x_val: np.ndarray, features, device):
    """The record's selection: each candidate of ``record.candidates`` (``models``: name -> its seed-0 model and
    its kept ex-post fits by sampler, ``kept_fit``)
    draws ``select_n + fid_n.record`` samples; its first ``select_n`` are scored (FID) against as many validation
    images ``x_val``. Returns the selection rows and, per family, the best candidate as (validation FID,
    (variant, sampler), its other ``fid_n.record`` samples, which no score has seen)."""
    n_sel, n = cfg.record.select_n, cfg.fid_n["record"]
    validation = fid.Reference(features(x_val[:n_sel], "validation images"))
    selection, best = [], {}
    for name, sampler in cfg.record.candidates:
        model, fits = models[name]
        images = draw(model.to(device).eval(), x_train, sampler, n_sel + n, cfg, p, device, fits.get(sampler))
        score = validation.fid(features(images[:n_sel], f"{name} ({sampler}), validation"))
        family = config.family_of(cfg.variants[name].model, sampler)
        selection.append({"variant": name, "sampler": sampler, "family": family, "fid_validation": score})
        if family not in best or score < best[family][0]:
            best[family] = (score, (name, sampler), images[n_sel:])
    return selection, best


def record_scores(images: np.ndarray, p: Params, net, refs: dict, what: str, protocols=("ours", "dai_wipf")):
    """FID, KID, precision and recall of ``images`` (``[N, 784]``) against the first N test images under each of
    ``protocols``: ours and Dai & Wipf's (``protocol``); ``net``: the study's Inception; ``refs``: the test set's
    features under each protocol (``ours``, ``dai_wipf``), at least N of them.

    Returns (scores by protocol, kept arrays): the samples as uint8 (ours, as scored) and as Dai & Wipf's float
    inputs ([N, 28, 28], 0..255), for an independent recomputation of each FID."""
    n, out, kept = len(images), {}, {}
    if "ours" in protocols:
        kept["ours"] = fid.to_uint8(images)
        feats = fid.features(kept["ours"], net, desc=f"{what}, our protocol")
        out["ours"], kept["ours"] = _scores(refs["ours"][:n], feats, p, f"{what} ours"), kept["ours"].numpy()
    if "dai_wipf" in protocols:
        theirs = protocol.generated_inputs(images)
        feats = protocol.features(theirs, net, desc=what)
        out["dai_wipf"] = _scores(refs["dai_wipf"][:n], feats, p, f"{what} dai_wipf")
        kept["dai_wipf"] = theirs.reshape(-1, SIDE, SIDE).numpy()
    return out, kept


def protocol_notes(protocols, selection: bool = False) -> dict[str, str]:
    """What a scoring stage writes beside its numbers: each protocol it used, the reference, and the record's
    selection rule when ``selection``."""
    keep = (*protocols, "reference", *(("selection",) if selection else ()))
    return {k: v for k, v in RECORD_PROTOCOLS.items() if k in keep}


RECORD_PROTOCOLS = {
    "ours": "images as decoded (sigmoid means), " + fid.PROTOCOL["fid_preprocess"],
    "dai_wipf": "each image min-max rescaled to [0, 1] and x 255 in floats, TF1 bilinear resize (theirs)",
    "reference": "the first fid_n.record test images: ours as uint8, theirs as their gray levels in floats",
    "selection": "(the record) each candidate's first record.select_n samples against as many validation images "
    "(our protocol); its next fid_n.record samples are the ones scored on the test set, under Dai & Wipf's",
}
