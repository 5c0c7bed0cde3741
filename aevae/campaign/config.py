"""The campaign's config: ``campaign/params.yaml`` read as DVC reads it (YAML 1.2) and checked, each
fault one line naming the key; and how a variant's knobs turn the study's params into its own.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from aevae import losses, metrics, params
from aevae.campaign import two_stage
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError
from aevae.models import PIXELS, Spec
from aevae.params import MIN_FID, N_TEST, N_TRAIN, Params, bounds
from aevae.samplers import SAMPLERS

# each model type's own sampler: its kind's main one in the study's registry (a VAE-GAN and the conditional
# VAE are VAEs: their prior)
OWN_SAMPLER = {kind: next(iter(s)) for kind, s in SAMPLERS.items()}
OWN_SAMPLER |= {"vaegan": OWN_SAMPLER["vae"], "cvae": OWN_SAMPLER["vae"]}
# ex-post samplers beyond the study's own (``aevae.campaign.two_stage``)
EXTRA_SAMPLERS = two_stage.NAMES


class CampaignError(StudyError):
    pass


@dataclass(frozen=True)
class TrainOverride:
    """A variant's training knobs that differ from the study's ``train`` (null or absent: the study's)."""

    epochs: int | None = field(default=None, metadata=bounds(1, 10_000))
    patience: int | None = field(default=None, metadata=bounds(0, 10_000))
    batch_size: int | None = field(default=None, metadata=bounds(1, N_TRAIN))
    lr: float | None = field(default=None, metadata=bounds(0, 10, lo_open=True))


@dataclass(frozen=True)
class VaeGan:
    """The VAE-GAN's training (``aevae.campaign.vaegan``)."""

    epochs: int = field(default=30, metadata=bounds(1, 10_000))
    lr: float = field(default=2e-4, metadata=bounds(0, 10, lo_open=True))
    recon_weight: float = field(default=1.0, metadata=bounds(0, 1e6))  # the decoder's reconstruction vs its GAN term
    pixel_weight: float = field(default=0.0, metadata=bounds(0, 1e6))  # > 0 adds the VAE's Bernoulli pixel term
    channels: tuple[int, ...] = field(default=(32, 64), metadata=bounds(1, 1024))
    hidden: int = field(default=512, metadata=bounds(1, 8192))


@dataclass(frozen=True)
class Variant:
    family: str = ""
    model: Literal["ae", "vae", "cvae", "vaegan"] = "vae"
    arch: Literal["dense", "conv", "infogan"] = "dense"
    latent: int = field(default=32, metadata=bounds(1, PIXELS))
    layers: tuple[int, ...] = field(default=(), metadata=bounds(1, 8192))  # empty: the study's model.<arch>
    beta: float = field(default=1.0, metadata=bounds(0, 1000))
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # the decoder's; gaussian: Dai & Wipf's learned gamma
    samplers: tuple[Literal["two_stage"], ...] = ()  # ex-post samplers beyond SAMPLERS
    fid_every: int = field(default=0, metadata=bounds(0, 10_000))  # epochs between prior FIDs in its curve; 0: none
    train: TrainOverride = TrainOverride()
    gan: VaeGan | None = None  # the VAE-GAN's adversarial training (model vaegan only)
    name: str = ""  # its key under `variants` (set by load_config, not read from the file)

    @property
    def kind(self) -> str:
        """The kind of model evaluation sees: a VAE-GAN is a VAE (its decoder and prior) trained otherwise."""
        return "vae" if self.model == "vaegan" else self.model


@dataclass(frozen=True)
class TwoStage:  # Dai & Wipf's second stage (aevae.campaign.two_stage); defaults: their code's
    width: int = field(default=1024, metadata=bounds(1, 8192))
    depth: int = field(default=3, metadata=bounds(0, 16))
    epochs: int = field(default=800, metadata=bounds(1, 10_000))
    batch_size: int = field(default=64, metadata=bounds(1, N_TRAIN))
    lr: float = field(default=1e-4, metadata=bounds(0, 10, lo_open=True))
    lr_halve_every: int = field(default=300, metadata=bounds(1, 10_000))  # epochs


@dataclass(frozen=True)
class Gmm:
    components: int = field(default=10, metadata=bounds(1, 1000))


@dataclass(frozen=True)
class Record:
    candidates: tuple[tuple[str, ...], ...] = ()  # [variant, sampler] pairs: seed 0's checkpoint, sampled so
    select_n: int = field(default=1000, metadata=bounds(MIN_FID, N_TRAIN))  # validation images per candidate


class Row(NamedTuple):
    """A published row: Dai & Wipf (2019), Table 1, Fashion-MNIST, FID at 10,000 samples (mean and sd over their
    runs); ``family``: the family of model it is (``FAMILIES``); ``likelihood`` and ``sampler``: the VAE's
    decoder and how it is sampled (None: a row the campaign compares with but does not reproduce, a GAN)."""

    label: str
    fid: float
    sd: float | None
    family: str
    likelihood: str | None
    sampler: str | None


PUBLISHED = {  # the rows, by id: campaign/params.yaml's ``published`` names which variant reproduces which
    "vae": Row("VAE (cross-entropy), Dai & Wipf Table 1", 43.6, 0.7, "prior", "bernoulli", "normal"),
    "vae_gamma": Row("VAE + learned gamma, Dai & Wipf Table 1", 60.0, 1.1, "prior", "gaussian", "normal"),
    "two_stage": Row("2-Stage VAE, Dai & Wipf Table 1", 29.3, 1.0, "fitted", "gaussian", "two_stage"),
    "wgan": Row("WGAN after Lucic et al.'s search, Dai & Wipf Table 1", 21.5, None, "hybrid", None, None),
}
REPRODUCED = tuple(k for k, r in PUBLISHED.items() if r.sampler)  # the rows ``published`` may name


class Family(NamedTuple):
    label: str
    row: str  # the published row a model of this family compares with
    fid: float
    sd: float | None


def _family(label: str, row: str) -> Family:
    return Family(label, PUBLISHED[row].label, PUBLISHED[row].fid, PUBLISHED[row].sd)


# the record's families, by id (``family_of``)
FAMILIES = {
    "prior": _family("prior-sampled VAE", "vae"),
    "fitted": _family("autoencoder or VAE plus a fitted density", "two_stage"),
    "hybrid": _family("hybrid (adversarial loss)", "wgan"),
}


def family_of(model: str, sampler: str) -> str:
    """The family (a key of ``FAMILIES``) of a model type sampled by ``sampler``: it names its published row."""
    if model == "vaegan":
        return "hybrid"
    return "prior" if sampler == "normal" else "fitted"


@dataclass(frozen=True)
class Comparison:
    """A claim that ``first`` beats ``second`` on every one of ``measures`` (each a Welch test over the two
    variants' seeds; Holm over the hypothesis's measures)."""

    claim: str = ""
    first: str = ""
    second: str = ""
    measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trend:
    """A claim that ``measures`` improve as ``by`` grows over ``variants`` (one seed each: Kendall's tau,
    exact, over the settings)."""

    claim: str = ""
    by: Literal["latent", "beta"] = "latent"
    variants: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...]
    fid_n: dict[str, int]
    iw_samples: int
    gmm_components: int
    two_stage: TwoStage
    record: Record
    replicated: tuple[str, ...]
    published: dict[str, tuple[str, str]]  # row id (``PUBLISHED``) -> (variant, sampler) reproducing it
    published_variants: tuple[str, ...]  # roles.published: those variants, one published@<variant> stage each
    comparisons: dict[str, Comparison]
    trends: dict[str, Trend]
    variants: dict[str, Variant]

    def seeds_of(self, name: str) -> tuple[int, ...]:
        """The seed offsets a variant is trained at: 0 (variant@<name>), and ``seeds`` when it is replicated."""
        return (0, *self.seeds) if name in self.replicated else (0,)


# ------------------------------------------------------------------ config

TOP_KEYS = ("seeds", "fid_n", "iw_samples", "gmm", "two_stage", "record", "published", "roles", "variants")
ROLE_KEYS = ("replicated", "published", "comparisons", "trends")
REQUIRED = {"variant": ("family", "model", "arch", "latent"), "comparison": ("claim", "first", "second", "measures"),
            "trend": ("claim", "by", "variants", "measures")}  # fmt: skip
VARIANT_NAME = re.compile(r"[A-Za-z0-9_]+")  # a DVC stage key: a dot, a dash or a space breaks `variant@<name>`


def _build(cls, raw, where: str, required: tuple[str, ...] = ()):
    """The study's typed reader (``aevae.params``: types, ranges, choices, unknown keys) on one section;
    ``required``: keys that have no default here."""
    if isinstance(raw, dict):
        for key in required:
            if key not in raw:
                raise CampaignError(f"{where}.{key}: missing from campaign/params.yaml; `git checkout -- "
                                    "campaign/params.yaml` restores the committed one")  # fmt: skip
    try:
        return params.build_section(cls, raw, f"{where}." if where else "")
    except params.ParamsError as e:
        raise CampaignError(f"campaign/params.yaml: {e}") from None


def _value(key: str, v, typ, meta: dict):
    """One top-level value through the study's typed check."""
    try:
        return params.check_value(key, v, typ, meta)
    except params.ParamsError as e:
        raise CampaignError(f"campaign/params.yaml: {e}") from None


def _mapping(raw: dict, key: str) -> dict:
    v = raw.get(key)
    if not isinstance(v, dict) or not v:
        raise CampaignError(f"{key}: expected a non-empty mapping in campaign/params.yaml, got {v!r}")
    return v


def _names(names, known: dict, where: str) -> None:
    for n in names:
        if n not in known:
            raise CampaignError(f"{where}: {n!r} is not a variant; campaign/params.yaml has: {', '.join(known)}")


def load_config(path: Path | None = None) -> Config:
    """Read and check ``campaign/params.yaml``: each fault is one line naming the key and what is allowed."""
    path = Path(path or PATHS["params"])
    raw = params.read_yaml(path)  # as DVC reads it: YAML 1.2 floats (`lr: 1e-4` is a number), no duplicate keys
    if not isinstance(raw, dict):
        raise CampaignError(f"{path}: expected a mapping of {', '.join(TOP_KEYS)}; got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(TOP_KEYS), key=str)
    if unknown:
        raise CampaignError(f"{unknown[0]}: unknown key in campaign/params.yaml; allowed: {', '.join(TOP_KEYS)}")
    for key in TOP_KEYS:
        if key not in raw:
            raise CampaignError(f"campaign.{key}: missing from campaign/params.yaml; `git checkout -- "
                                "campaign/params.yaml` restores the committed one")  # fmt: skip
    fid_n = _mapping(raw, "fid_n")
    for fam, n in fid_n.items():
        if isinstance(n, bool) or not isinstance(n, int) or not MIN_FID <= n <= N_TEST:
            raise CampaignError(f"fid_n.{fam}: {n!r} must be an integer from {MIN_FID} to {N_TEST}")
    if "record" not in fid_n:
        raise CampaignError("fid_n.record: missing; the record attempt's sample size (10000 as published)")
    seeds = _value("seeds", raw["seeds"], tuple[int, ...], bounds(1, 1000))
    if len(set(seeds)) != len(seeds):
        raise CampaignError(f"seeds: {list(seeds)} repeats a seed; each extra seed offset once (0 is variant@<name>)")
    variants = {}
    for name, v in _mapping(raw, "variants").items():
        where = f"variants.{name}"
        if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
            raise CampaignError(f"{where}: a variant name is letters, digits and _ only (it names a DVC stage, "
                                "variant@<name>); e.g. vae_conv_b0_1 for beta 0.1")  # fmt: skip
        var = _build(Variant, v, where, REQUIRED["variant"])
        if var.family not in fid_n:
            raise CampaignError(f"{where}.family: {var.family!r} has no fid_n; families with one: {', '.join(fid_n)}")
        if var.model in ("cvae", "vaegan") and (var.arch != "dense" or var.samplers):
            raise CampaignError(f"{where}: the {var.model} is dense only and has no ex-post samplers here "
                                f"(arch: dense, samplers: [])")  # fmt: skip
        if (var.model == "vaegan") != (var.gan is not None):
            need = "a VAE-GAN needs its adversarial knobs (gan: {epochs, lr, ...})"
            raise CampaignError(f"{where}.gan: " + (need if var.model == "vaegan" else f"a {var.model} has none"))
        if var.model == "vaegan" and (var.beta != 1 or var.train != TrainOverride()):
            raise CampaignError(f"{where}: a vaegan trains by its gan knobs with beta 1; drop its beta and train keys")
        if var.fid_every and var.model != "vae":
            raise CampaignError(f"{where}.fid_every: FID against epochs is drawn from a VAE's prior (model: vae); "
                                f"model {var.model} trains by another loop or has no prior: drop it")  # fmt: skip
        if var.likelihood != "bernoulli" and var.model != "vae":
            raise CampaignError(f"{where}.likelihood: a {var.likelihood} decoder is a VAE's only (model: vae); "
                                f"model {var.model} is bernoulli only")  # fmt: skip
        if var.gan is not None and len(var.gan.channels) != 2:
            raise CampaignError(f"{where}.gan.channels: {list(var.gan.channels)} must name 2 convolutions' channels")
        variants[name] = dataclasses.replace(var, name=name)
    roles = _mapping(raw, "roles")
    bad = sorted(set(roles) - set(ROLE_KEYS), key=str)
    if bad:
        raise CampaignError(f"roles.{bad[0]}: unknown key; allowed under roles: {', '.join(ROLE_KEYS)}")
    for key, typ in (("replicated", list), ("published", list), ("comparisons", dict), ("trends", dict)):
        if not isinstance(roles.get(key, typ()), typ):
            raise CampaignError(f"roles.{key}: expected a {'list of variant names' if typ is list else 'mapping'}, "
                                f"got {roles[key]!r}")  # fmt: skip
    replicated = tuple(roles.get("replicated", ()))
    _names(replicated, variants, "roles.replicated")
    if len(set(replicated)) != len(replicated):
        raise CampaignError(f"roles.replicated: {list(replicated)} names a variant twice (each names DVC stages)")
    comparisons = {k: _build(Comparison, c, f"roles.comparisons.{k}", REQUIRED["comparison"])
                   for k, c in (roles.get("comparisons") or {}).items()}  # fmt: skip
    trends = {k: _build(Trend, t, f"roles.trends.{k}", REQUIRED["trend"])
              for k, t in (roles.get("trends") or {}).items()}  # fmt: skip
    for k, c in comparisons.items():
        _names((c.first, c.second), variants, f"roles.comparisons.{k}")
        if c.first == c.second:
            raise CampaignError(f"roles.comparisons.{k}: first and second are both {c.first!r}; name two variants")
        for side in (c.first, c.second):
            if side not in replicated:
                raise CampaignError(f"roles.comparisons.{k}: {side!r} is not in roles.replicated; a comparison "
                                    "tests each side's seeds, so both sides are replicated")  # fmt: skip
    for k, t in trends.items():
        _names(t.variants, variants, f"roles.trends.{k}")
        if len(t.variants) < 3:
            raise CampaignError(f"roles.trends.{k}.variants: a trend needs at least 3 settings, got {len(t.variants)}")
        settings = [getattr(variants[n], t.by) for n in t.variants]
        if len(set(settings)) != len(settings):
            raise CampaignError(f"roles.trends.{k}.variants: two variants share a {t.by} ({settings}); a trend is "
                                f"over distinct settings")  # fmt: skip
    _check_measures(comparisons, trends, variants)
    record = _build(Record, raw["record"], "record")
    _check_candidates(record.candidates, variants)
    published = _published(raw["published"], variants, replicated, tuple(roles.get("published", ())))
    iw = _value("iw_samples", raw["iw_samples"], int, bounds(1, 100_000))
    gmm, two = _build(Gmm, raw["gmm"], "gmm").components, _build(TwoStage, raw["two_stage"], "two_stage")
    return Config(seeds, dict(fid_n), iw, gmm, two, record, replicated, published, tuple(roles.get("published", ())),
                  comparisons, trends, variants)  # fmt: skip


def measures() -> dict:
    """Every measure a role may name: the study's metric registry, each sampler's generation measures
    including the campaign's extra samplers, and the conditional VAE's class accuracy."""
    from aevae import study

    out = dict(study.METRICS)
    for s in EXTRA_SAMPLERS:
        for m, label, hib in (("fid", "FID", False), ("kid", "KID", False), ("precision", "precision", True),
                              ("recall", "recall", True)):  # fmt: skip
            out[f"{m}_{s}"] = study.Metric(f"{label} of samples, {s}", hib, "seeds", (0.1, 1.0))
    for m, label, hib in (("fid", "FID", False), ("kid", "KID", False), ("precision", "precision", True),
                          ("recall", "recall", True)):  # fmt: skip
        out[f"{m}_own"] = study.Metric(f"{label} of samples, own sampler", hib, "seeds", (0.1, 1.0))
    out["sample_class_acc"] = study.Metric("samples judged the class asked", True, "seeds", (0.0, 0.02))
    out["recon_class_acc"] = study.Metric("reconstructions judged their class (the judge's ceiling)", True, "seeds",
                                          (0.0, 0.02))  # fmt: skip
    out["sharpness_samples"] = study.Metric("sharpness of samples (main sampler; gradient ratio to test images)", True,
                                            "seeds", (0.0, 0.02), target=1.0)  # fmt: skip
    return out


def has_measure(v: Variant, key: str) -> bool:
    """Whether a run of variant ``v`` records measure ``key``: a VAE's bounds only for VAE kinds, a sampler's
    measures only for the samplers the kind has (``SAMPLERS``) or the variant adds."""
    m = measures()[key]
    if m.vae_only and not metrics.has_bounds(v.kind, v.likelihood):
        return False
    own = (*SAMPLERS.get(v.kind, {"normal": ""}), *v.samplers)
    sampler = next((s for s in (*SAMPLERS["ae"], *EXTRA_SAMPLERS) if key.endswith(f"_{s}")), None)
    return sampler is None or sampler in own


def _check_candidates(candidates: tuple, variants: dict[str, Variant], where: str = "record.candidates") -> None:
    """The record's candidates: distinct [variant, sampler] pairs, each sampler one the variant's kind has (or
    an ex-post one), an AE never from N(0, I) (it has no prior), no conditional model (it is asked a class)."""
    if not candidates:
        raise CampaignError(f"{where}: empty; list [variant, sampler] pairs, e.g. [[vae_z32, normal]]")
    for i, c in enumerate(candidates):
        key = f"{where}[{i}]" if where == "record.candidates" else where
        if len(c) != 2:
            raise CampaignError(f"{key}: {list(c)} is not a [variant, sampler] pair")
        name, sampler = c
        if name not in variants:
            raise CampaignError(f"{key}: unknown variant {name!r}; one of {', '.join(variants)}")
        v = variants[name]
        if v.model == "cvae":
            raise CampaignError(f"{key}: {name} is the conditional VAE: its samples answer a class asked, not a "
                                "draw of the data; not a record candidate")  # fmt: skip
        allowed = [s for s in (*SAMPLERS[v.kind], *EXTRA_SAMPLERS) if not (v.kind == "ae" and s == "normal")]
        if sampler not in allowed:
            raise CampaignError(f"{key}: {name} cannot be sampled by {sampler!r}; one of {', '.join(allowed)}"
                                + (" (an AE has no prior)" if sampler == "normal" else ""))  # fmt: skip
        if sampler in EXTRA_SAMPLERS and sampler not in v.samplers:
            raise CampaignError(f"{key}: {name} is drawn by {sampler}, which its variant stage fits and keeps only if "
                                f"listed: add {sampler} to variants.{name}.samplers")  # fmt: skip
    if len(set(candidates)) != len(candidates):
        raise CampaignError(f"{where}: a pair is listed twice: {[list(c) for c in candidates]}")


def _published(raw, variants: dict[str, Variant], replicated: tuple, listed: tuple) -> dict[str, tuple[str, str]]:
    """``published``: row id -> [variant, sampler], each pair a record candidate could be (``_check_candidates``),
    of the row's family and decoder, its variant replicated (a row is reproduced at every seed) and listed in
    ``roles.published`` (which names the DVC stages), which lists no other."""
    if not isinstance(raw, dict):
        raise CampaignError(f"published: expected a mapping of row -> [variant, sampler] (rows: "
                            f"{', '.join(PUBLISHED)}), got {raw!r}")  # fmt: skip
    out = {}
    for row, pair in raw.items():
        key = f"published.{row}"
        if row not in REPRODUCED:
            gan = " (the GAN row is the hybrid family's comparator only)" if row in PUBLISHED else ""
            raise CampaignError(f"{key}: not a published row the campaign reproduces; one of "
                                f"{', '.join(REPRODUCED)}{gan}")  # fmt: skip
        if not isinstance(pair, list) or not all(isinstance(x, str) for x in pair):
            raise CampaignError(f"{key}: {pair!r} is not a [variant, sampler] pair")
        _check_candidates((tuple(pair),), variants, key)
        name, sampler = pair
        r, v = PUBLISHED[row], variants[name]
        if (v.model, v.beta, v.likelihood, sampler) != ("vae", 1.0, r.likelihood, r.sampler):
            raise CampaignError(f"{key}: {name} sampled by {sampler} is not the row's model ({r.label}: a VAE with "
                                f"beta 1 and a {r.likelihood} decoder, sampled by {r.sampler}); {name} is a "
                                f"{v.model} with beta {v.beta:g} and a {v.likelihood} decoder")  # fmt: skip
        if name not in replicated:
            raise CampaignError(f"{key}: {name} is not in roles.replicated; a published row is reproduced at every "
                                "seed")  # fmt: skip
        out[row] = (name, sampler)
    named = tuple(dict.fromkeys(name for name, _ in out.values()))
    if len(set(listed)) != len(listed) or set(listed) != set(named):
        raise CampaignError(f"roles.published: {list(listed)} must list each variant of `published` once: "
                            f"{', '.join(sorted(named)) or 'none'}")  # fmt: skip
    return out


def _check_measures(comparisons: dict, trends: dict, variants: dict) -> None:
    known = measures()
    for kind, roles in (("comparisons", comparisons), ("trends", trends)):
        for k, r in roles.items():
            for m in r.measures:
                if m not in known:
                    raise CampaignError(
                        f"roles.{kind}.{k}.measures: {m!r} is not a measure; e.g. mse, ssim, sharpness, fid_normal, "
                        "kid_normal, precision_normal, latent_acc, probe_acc"
                    )
                names = (r.first, r.second) if kind == "comparisons" else r.variants
                lacking = [n for n in names if not has_measure(variants[n], m)]
                if lacking:
                    raise CampaignError(f"roles.{kind}.{k}.measures: {m!r} is not measured for {', '.join(lacking)} "
                                        f"(its kind or samplers); choose a measure every side has")  # fmt: skip


def check_with_study(cfg: Config, p: Params) -> None:
    """What the campaign's config asks of the study's params: every ``fid_n`` within the test images that
    ``data.subset`` leaves (a larger one used to be cut quietly), the record's selection within the validation
    images."""
    for family, n in cfg.fid_n.items():
        if n > p.n_test:
            raise CampaignError(
                f"fid_n.{family}: {n} is more than the {p.n_test} test images params.yaml's data.subset leaves; "
                f"allowed: <= {p.n_test} (lower it in campaign/params.yaml or raise data.subset)"
            )
    for name, v in cfg.variants.items():
        patience = p.train.patience if v.train.patience is None else v.train.patience
        if patience and not losses.has_floor(v.likelihood):
            raise CampaignError(
                f"variants.{name}.train.patience: {patience} (the study's train.patience unless set); a "
                f"{v.likelihood} decoder's loss has no floor for the stopping rule: set it to 0 (fixed epochs)"
            )
    n_train = p.n_train_total - p.data.val_size
    if cfg.two_stage.batch_size > n_train:
        raise CampaignError(
            f"two_stage.batch_size: {cfg.two_stage.batch_size} is more than the {n_train} training codes params.yaml's "
            f"data leaves; allowed: <= {n_train}"
        )
    if cfg.record.select_n > p.data.val_size:
        raise CampaignError(
            f"record.select_n: {cfg.record.select_n} is more than the {p.data.val_size} validation images "
            f"(params.yaml's data.val_size); allowed: <= {p.data.val_size}"
        )


def variant(cfg: Config, name: str) -> Variant:
    if name not in cfg.variants:
        raise CampaignError(f"unknown variant {name!r}; campaign/params.yaml has: {', '.join(cfg.variants)}")
    return cfg.variants[name]


def variant_params(p: Params, v: Variant, cfg: Config) -> Params:
    """The study's params with the variant's knobs (and the campaign's evaluation sizes) in place."""
    n = min(cfg.fid_n[v.family], p.n_test)
    overrides = {k: val for k, val in dataclasses.asdict(v.train).items() if val is not None}
    return dataclasses.replace(
        p,
        latent_dim=v.latent,
        model=dataclasses.replace(p.model, arch=v.arch),
        train=dataclasses.replace(p.train, **overrides),
        vae=dataclasses.replace(p.vae, beta=v.beta),
        evaluate=dataclasses.replace(
            p.evaluate, fid_samples=n, fid_samples_seed=n, iw_samples=cfg.iw_samples, gmm_components=cfg.gmm_components
        ),  # fmt: skip
    )


def spec(v: Variant, p: Params) -> Spec:
    """The shape of variant ``v``'s model (a VAE-GAN's is its VAE's; the discriminator is saved beside it)."""
    return Spec(
        v.name, v.kind, v.arch, v.latent, v.layers or dataclasses.replace(p.model, arch=v.arch).layers, v.likelihood
    )


def run_name(name: str, seed: int) -> str:
    """A run's files: ``<variant>-<seed offset>`` (models, evaluation arrays, curves, metrics)."""
    return f"{name}-{seed}"


def samplers_of(run_metrics: dict) -> list[str]:
    """The samplers a run file scored (``fid_<sampler>``), its own first (``OWN_SAMPLER``), then the others."""
    own = OWN_SAMPLER[run_metrics["variant"]["model"]]
    names = [k[4:] for k in run_metrics if k.startswith("fid_") and k[4:] not in ("recon", "n", "samples")]
    names += [] if own in names else [own]
    return sorted(names, key=lambda s: (s != own, s))


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
