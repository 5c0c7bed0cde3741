"""The campaign: the source report's future work, run as variants of the study (``campaign/dvc.yaml``).

Each variant is the study's model with a few knobs changed (latent size, architecture, beta, class
conditioning), trained by the study's loop and evaluated by the study's ``evaluate.run`` with the
campaign's ``fid_n`` for its family; besides its own sampler it can be sampled by ex-post samplers
(``aevae.samplers``). The record attempt scores the best VAE-family sampler at 10,000 images under
our protocol and under Dai & Wipf's (each generated image min-max rescaled to [0, 1]).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aevae import conditional, evaluate, fid, metrics, params, samplers, train
from aevae import judge as judge_module
from aevae.campaign_paths import PATHS
from aevae.data import Split
from aevae.errors import StudyError
from aevae.models import Spec
from aevae.params import MIN_FID, N_TEST, Params
from aevae.runtime import stream

log = logging.getLogger(__name__)


MODELS = ("ae", "vae", "cvae")
ARCHS = ("dense", "conv")
OWN_SAMPLER = {"ae": "gaussian", "vae": "prior", "cvae": "prior"}  # what evaluate.SAMPLERS describes
FIGURE_SAMPLES = 100  # generated images kept per sampler for the figures
# Published Fashion-MNIST FIDs (10,000 generated vs the 10,000 test images, TF Inception), Dai & Wipf
# (ICLR 2019), Table 1; their code rescales each generated image to [min, max] = [0, 1] before scoring.
PUBLISHED = {"VAE (Dai & Wipf 2019, Table 1)": (43.6, 0.7), "2-Stage VAE (Dai & Wipf 2019, Table 1)": (29.3, 1.0)}


class CampaignError(StudyError):
    pass


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    model: str  # "ae", "vae" or "cvae"
    arch: str
    latent: int
    beta: float
    samplers: tuple[str, ...]

    @property
    def label(self) -> str:
        beta = f", beta {self.beta:g}" if self.model != "ae" and self.beta != 1 else ""
        return f"{self.model.upper()} ({self.arch}, latent {self.latent}{beta})"


@dataclass(frozen=True)
class TwoStage:
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Config:
    fid_n: dict[str, int]
    iw_samples: int
    gmm_components: int
    two_stage: TwoStage
    record_variant: str
    variants: dict[str, Variant]


# ------------------------------------------------------------------ config


def _get(raw, key: str, typ, where: str):
    if not isinstance(raw, dict) or key not in raw:
        raise CampaignError(f"{where}.{key}: missing from campaign/params.yaml; restore it with "
                            "`git checkout -- campaign/params.yaml`")  # fmt: skip
    v = raw[key]
    ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, float, (int, float)))
    if not ok:
        raise CampaignError(f"{where}.{key}: {v!r} is not {getattr(typ, '__name__', 'a number')}")
    return v


def _only(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    """A key the campaign does not read is a typo that would silently fall back to a default: refused."""
    unknown = sorted(set(raw) - set(allowed), key=str)
    if unknown:
        raise CampaignError(f"{where}{unknown[0]}: unknown key; allowed under {where.rstrip('.') or 'the top level'}: "
                            f"{', '.join(allowed)}")  # fmt: skip


TOP_KEYS = ("fid_n", "iw_samples", "gmm", "two_stage", "record", "variants")
VARIANT_KEYS = ("family", "model", "arch", "latent", "beta", "samplers")
VARIANT_NAME = re.compile(r"[A-Za-z0-9_]+")  # a DVC foreach key: a dot or a space breaks `variant@<name>`


def _positive(v, name: str, hi: float | None = None):
    if v <= 0 or (hi is not None and v > hi):
        raise CampaignError(f"{name}: {v!r} must be > 0" + (f" and <= {hi}" if hi is not None else ""))
    return v


def load_config(path: Path | None = None) -> Config:
    """Read and check ``campaign/params.yaml``: each fault is one line naming the key and what is allowed."""
    path = Path(path or PATHS["params"])
    raw = params.read_yaml(path)  # as DVC reads it: YAML 1.2 floats (`lr: 1e-4` is a number), no duplicate keys
    if not isinstance(raw, dict):
        raise CampaignError(f"{path}: expected a mapping of {', '.join(TOP_KEYS)}; got {type(raw).__name__}")
    _only(raw, TOP_KEYS, "")
    for key, allowed in (("two_stage", ("hidden", "epochs", "batch_size", "lr")), ("gmm", ("components",)),
                         ("record", ("variant",))):  # fmt: skip
        if isinstance(raw.get(key), dict):
            _only(raw[key], allowed, f"{key}.")
    fid_n = _get(raw, "fid_n", dict, "campaign")
    for fam, n in fid_n.items():
        if isinstance(n, bool) or not isinstance(n, int) or not MIN_FID <= n <= N_TEST:
            raise CampaignError(f"fid_n.{fam}: {n!r} must be an integer from {MIN_FID} to {N_TEST}")
    if "record" not in fid_n:
        raise CampaignError("fid_n.record: missing; the record attempt's sample size (10000 as published)")
    t = _get(raw, "two_stage", dict, "campaign")
    hidden = _get(t, "hidden", list, "two_stage")
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise CampaignError(f"two_stage.hidden: {hidden!r} must be a list of positive integers")
    two = TwoStage(tuple(hidden), _positive(_get(t, "epochs", int, "two_stage"), "two_stage.epochs"),
                   _positive(_get(t, "batch_size", int, "two_stage"), "two_stage.batch_size"),
                   _positive(_get(t, "lr", (int, float), "two_stage"), "two_stage.lr", 10))  # fmt: skip
    variants = {}
    for name, v in _get(raw, "variants", dict, "campaign").items():
        where = f"variants.{name}"
        if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
            raise CampaignError(f"variants.{name}: a variant name is letters, digits and _ only (it names a DVC "
                                "stage, variant@<name>); e.g. vae_conv_b0_1 for beta 0.1")  # fmt: skip
        if not isinstance(v, dict):
            raise CampaignError(f"{where}: expected a mapping of {', '.join(VARIANT_KEYS)}; got {v!r}")
        _only(v, VARIANT_KEYS, f"{where}.")
        model, arch = _get(v, "model", str, where), _get(v, "arch", str, where)
        family = _get(v, "family", str, where)
        if model not in MODELS:
            raise CampaignError(f"{where}.model: {model!r} is not one of {', '.join(MODELS)}")
        if arch not in ARCHS or (model == "cvae" and arch != "dense"):
            allowed = "dense (the conditional VAE is dense only)" if model == "cvae" else ", ".join(ARCHS)
            raise CampaignError(f"{where}.arch: {arch!r} is not one of {allowed}")
        if family not in fid_n:
            raise CampaignError(f"{where}.family: {family!r} has no fid_n; families with one: {', '.join(fid_n)}")
        used = _get(v, "samplers", list, where)
        bad = [s for s in used if s not in samplers.NAMES]
        if bad or (used and model == "cvae"):
            raise CampaignError(f"{where}.samplers: {bad or used} not allowed; ex-post samplers: "
                                f"{', '.join(samplers.NAMES)} (none for the conditional VAE)")  # fmt: skip
        latent = _get(v, "latent", int, where)
        _positive(latent, f"{where}.latent", 784)
        beta = float(_get(v, "beta", (int, float), where))
        if beta < 0:
            raise CampaignError(f"{where}.beta: {beta!r} must be >= 0")
        variants[name] = Variant(name, family, model, arch, latent, beta, tuple(used))
    record = _get(_get(raw, "record", dict, "campaign"), "variant", str, "record")
    if record not in variants or variants[record].model != "vae":
        vaes = [n for n, v in variants.items() if v.model == "vae"]
        raise CampaignError(f"record.variant: {record!r} is not a VAE variant; one of {', '.join(vaes)}")
    iw = _positive(_get(raw, "iw_samples", int, "campaign"), "iw_samples")
    comps = _positive(_get(_get(raw, "gmm", dict, "campaign"), "components", int, "gmm"), "gmm.components")
    return Config(dict(fid_n), iw, comps, two, record, variants)


def check_with_study(cfg: Config, p: Params) -> None:
    """What the campaign's config asks of the study's params: every ``fid_n`` within the test images that
    ``data.subset`` leaves (a larger one used to be cut quietly)."""
    for family, n in cfg.fid_n.items():
        if n > p.n_test:
            raise CampaignError(
                f"fid_n.{family}: {n} is more than the {p.n_test} test images params.yaml's data.subset leaves; "
                f"allowed: <= {p.n_test} (lower it in campaign/params.yaml or raise data.subset)"
            )


def variant(cfg: Config, name: str) -> Variant:
    if name not in cfg.variants:
        raise CampaignError(f"unknown variant {name!r}; campaign/params.yaml has: {', '.join(cfg.variants)}")
    return cfg.variants[name]


def variant_params(p: Params, v: Variant, cfg: Config) -> Params:
    """The study's params with the variant's knobs (and the campaign's evaluation sizes) in place."""
    n = min(cfg.fid_n[v.family], p.n_test)
    return dataclasses.replace(
        p,
        latent_dim=v.latent,
        model=dataclasses.replace(p.model, arch=v.arch),
        vae=dataclasses.replace(p.vae, beta=v.beta),
        evaluate=dataclasses.replace(p.evaluate, fid_samples=n, fid_samples_seed=n, iw_samples=cfg.iw_samples),
    )


def spec(v: Variant, p: Params) -> Spec:
    return Spec(v.name, v.model, v.arch, v.latent, p.model.dense.hidden if v.arch == "dense" else p.model.conv.channels)


def read_json(path: Path) -> dict:
    """A campaign metrics file; a missing or corrupt one is one line saying how to restore it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CampaignError(f"{path}: missing; `dvc repro campaign/dvc.yaml` makes it") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CampaignError(
            f"{path}: corrupt or truncated ({type(e).__name__}); `git checkout -- {path}` restores the committed one"
        ) from None


# ------------------------------------------------------------------ one variant


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
