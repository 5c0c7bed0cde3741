"""The campaign's config: ``campaign/params.yaml`` read as DVC reads it (YAML 1.2) and checked, each
fault one line naming the key; and how a variant's knobs turn the study's params into its own.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from aevae import params, samplers
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError
from aevae.models import Spec
from aevae.params import MIN_FID, N_TEST, Params

MODELS = ("ae", "vae", "cvae")
ARCHS = ("dense", "conv")
OWN_SAMPLER = {"ae": "gaussian", "vae": "prior", "cvae": "prior"}  # what evaluate.SAMPLERS describes


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


def load_checked() -> tuple[Config, Params]:
    """Both params files, each checked alone and together: what every campaign stage starts from."""
    cfg, p = load_config(), params.load()
    check_with_study(cfg, p)
    return cfg, p
