"""The regenerated report and ``metrics/study.json``: every claim of the source report, measured at the
report's own setting (AE latent 32 vs VAE latent 2) and at matched capacity (both at ``latent_dim``),
with the spread of every number and a verdict that says **inconclusive** when the gap is not larger
than that spread. Every number is read from the run metrics and curves, never typed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aevae.models import Spec
from aevae.params import Params
from aevae.study import BINOMIAL_N, METRICS

CONFIRMED, REFUTED, INCONCLUSIVE, MIXED = "confirmed", "refuted", "inconclusive", "mixed"
SETTINGS = {  # name -> (first, second): the AE and the VAE it is compared with
    "report": ("ae", "vae_2d"),
    "matched": ("ae", "vae"),
}
CONVERGE_WINDOW, CONVERGE_REL = 5, 0.01  # converged: |L(E) - L(E-5)| / L(E) < 1% of the validation loss
NEAR_FINAL = 0.01  # "quickly": the first epoch whose validation loss is within 1% of the final one
FIGURES = {
    "latent_map.png": "Test codes coloured by class (the report's 2-d VAE drawn directly).",
    "manifold.png": "The VAEs' decoded latent grids over the prior's quantiles.",
    "reconstructions.png": "Reconstructions of the same test images.",
    "samples.png": "Generated images.",
    "interpolations.png": "Straight lines in latent space between two test images, decoded.",
    "curves.png": "Training curves, every replicate.",
    "metrics.png": "Metrics, mean and spread.",
}


@dataclass(frozen=True)
class Stat:
    mean: float
    sd: float  # nan when there is no spread (one replicate)
    n: int
    spread: str  # what ``sd`` is

    def __str__(self) -> str:
        return f"{_f(self.mean)} ± {self.sd:.2g}" if math.isfinite(self.sd) else _f(self.mean)


def _f(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _seeds(values: list[float]) -> Stat:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return Stat(float(np.mean(values)), sd, len(values), f"sd over {len(values)} seeds")


def stat(runs: dict[int, dict], key: str) -> Stat | None:
    """Mean and spread of metric ``key`` over the replicates ``runs`` (replicate -> metrics) of one model.

    "seeds" metrics: mean and sd across replicates. Inception-based ones exist for replicate 0 only:
    FID with its bootstrap sd over images, precision/recall with the binomial sd sqrt(p(1-p)/n)."""
    how = METRICS[key].spread
    if how == "seeds":
        values = [m[key] for _, m in sorted(runs.items()) if key in m]
        return _seeds(values) if values else None
    primary = runs.get(0, {})
    if key not in primary:
        return None
    v = primary[key]
    if how == "bootstrap":
        return Stat(v, primary[f"{key}_sd"], 1, f"bootstrap sd ({primary['fid_bootstrap']} resamples), seed 0")
    if how == "subsets":
        return Stat(v, primary[f"{key}_sd"], 1, f"sd over {primary['kid_subsets']} subsets, seed 0")
    n = primary[BINOMIAL_N[key]]
    return Stat(v, math.sqrt(max(v * (1 - v), 0.0) / n), 1, f"binomial sd over {n} images, seed 0")


def verdict(claimed: Stat, other: Stat, higher: bool) -> str:
    """The claim "``claimed`` is higher (``higher``) / lower than ``other``": confirmed or refuted only
    when the gap exceeds the sum of the two spreads, else inconclusive (also when a spread is unknown)."""
    gap = (claimed.mean - other.mean) * (1 if higher else -1)
    spread = claimed.sd + other.sd
    if not math.isfinite(spread):
        return INCONCLUSIVE
    return CONFIRMED if gap > spread else REFUTED if gap < -spread else INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """A claim with several measures: their verdict when they all agree; **mixed** when some confirm and
    some refute it (each beyond its spread: the claim holds in one sense and fails in another);
    else inconclusive."""
    if verdicts and all(v == verdicts[0] for v in verdicts):
        return verdicts[0]
    return MIXED if CONFIRMED in verdicts and REFUTED in verdicts else INCONCLUSIVE


# ------------------------------------------------------------------ convergence


def convergence(df: pd.DataFrame) -> dict[str, float]:
    """``rel_change``: |L(E) - L(E - 5)| / L(E) of the validation loss L over the last 5 epochs (absolute:
    a rising loss is not convergence); ``near_final_epoch``: the first epoch within 1% of L(E)."""
    v = df["val_loss"].to_numpy(np.float64)
    w = min(CONVERGE_WINDOW, len(v) - 1)
    rel = abs(v[-1] - v[-1 - w]) / abs(v[-1]) if w > 0 else float("nan")
    near = int(df["epoch"].to_numpy()[np.argmax(np.abs(v - v[-1]) <= NEAR_FINAL * abs(v[-1]))])
    return {"rel_change": float(rel), "near_final_epoch": near, "converged": bool(rel < CONVERGE_REL)}


# ------------------------------------------------------------------ claims


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    short: str
    winner: str  # "first" or "second" model of a setting: the side the source report says is better
    measures: tuple[tuple[str, bool], ...]  # (metric key, the winner's value is higher)


CLAIMS = (
    Claim("ae_reconstructs_better", "The AE reconstructs better than the VAE.", "the AE reconstructs better", "first",
          (("mse", False), ("ssim", True), ("psnr", True), ("fid_recon", False))),
    Claim("vae_smoother", "VAE reconstructions are smoother (blurrier).", "VAE reconstructions are smoother", "second",
          (("sharpness", False),)),
    Claim("vae_generates_better", "Sampling the VAE gives coherent new images: it generates better than the AE.",
          "the VAE generates better", "second", (("fid_samples", False), ("precision", True), ("recall", True))),
    Claim("vae_latent_separates", "The VAE's latent separates the classes.", "its latent separates classes better",
          "second",
          (("latent_acc", True), ("probe_acc", True))),
    Claim("vae_latent_continuous", "The VAE's latent has continuous transitions.",
          "its latent has more continuous transitions", "second",
          (("interp_evenness", False), ("interp_precision", True))),
    Claim("ae_converges_quickly", "The AE converges more quickly.", "the AE converges more quickly", "first",
          (("near_final_epoch", False),)),
)  # fmt: skip
LARGER_LATENT = Claim(
    "larger_latent_richer", "A 2-d latent is poor: a larger latent reconstructs better and separates classes better.",
    "a larger latent is richer", "first",  # its setting: (vae, vae_2d)
    (("mse", False), ("ssim", True), ("latent_acc", True), ("probe_acc", True)),
)  # fmt: skip


@dataclass
class Study:
    """Everything the report says, computed once from the runs."""

    p: Params
    recorded: dict[str, int]  # sample sizes as the evaluation recorded them (fid_n, fid_bootstrap, iw_samples)
    labels: dict[str, str]  # model -> label
    stats: dict[str, dict[str, Stat]]  # model -> key -> Stat
    conv: dict[str, list[dict]]  # model -> per-replicate convergence
    verdicts: dict[str, dict[str, tuple[str, list[tuple[str, str, Stat, Stat]]]]]  # setting -> claim -> ...


def build(runs: dict[str, dict[int, dict]], curves: dict[str, dict[int, pd.DataFrame]], p: Params) -> Study:
    stats: dict[str, dict[str, Stat]] = {}
    conv = {}
    for name, by_rep in runs.items():
        stats[name] = {k: s for k in METRICS if (s := stat(by_rep, k)) is not None}
        conv[name] = [convergence(curves[name][r]) for r in sorted(curves[name])]
        stats[name]["near_final_epoch"] = _seeds([c["near_final_epoch"] for c in conv[name]])
    settings = {**{s: (a, b, CLAIMS) for s, (a, b) in SETTINGS.items()}, "latent": ("vae", "vae_2d", (LARGER_LATENT,))}
    verdicts = {}
    for setting, (first, second, claims) in settings.items():
        out = {}
        for c in claims:
            win, lose = (first, second) if c.winner == "first" else (second, first)
            rows = []
            for key, higher in c.measures:
                if key in stats[win] and key in stats[lose]:
                    rows.append((key, verdict(stats[win][key], stats[lose][key], higher), stats[first][key],
                                 stats[second][key]))  # fmt: skip
            out[c.id] = (combine([r[1] for r in rows]), rows)
        verdicts[setting] = out
    labels = {name: _label(by_rep[min(by_rep)]) for name, by_rep in runs.items()}
    primary = runs["vae"][0]
    recorded = {k: primary.get(k) for k in ("fid_n", "fid_bootstrap", "iw_samples", "interp_pairs")}
    return Study(p, recorded, labels, stats, conv, verdicts)


def _label(m: dict) -> str:
    """The run's model as ``Spec.label`` names it, from the spec its evaluation recorded."""
    s = m["run"]["spec"]
    return Spec(**{**s, "layers": tuple(s["layers"])}).label


def summary(study: Study) -> dict:
    """``metrics/study.json``: mean and spread of every metric per model, and every verdict."""
    return {
        "models": {
            name: {k: {"mean": s.mean, "sd": None if math.isnan(s.sd) else s.sd, "n": s.n} for k, s in st.items()}
            for name, st in study.stats.items()
        },  # fmt: skip
        "converged": {name: all(c["converged"] for c in cs) for name, cs in study.conv.items()},
        "verdicts": {setting: {cid: v for cid, (v, _) in claims.items()} for setting, claims in study.verdicts.items()},
    }


# ------------------------------------------------------------------ text


def _bold(v: str) -> str:
    return f"**{v}**"


def _name(key: str) -> str:
    return METRICS[key].label if key in METRICS else "first epoch within 1% of the final validation loss"


def _evidence(rows, a: str, b: str) -> str:
    return "; ".join(f"{_name(k)} {sa} ({a}) vs {sb} ({b}): {v}" for k, v, sa, sb in rows)


def _converged_text(study: Study, names) -> tuple[str, str]:
    parts = [f"{study.labels[n]}: last-{CONVERGE_WINDOW}-epoch change "
             + ", ".join(f"{c['rel_change']:.2%}" for c in study.conv[n]) for n in names]  # fmt: skip
    runs = [c for n in names for c in study.conv[n]]
    v = (INCONCLUSIVE if not all(math.isfinite(c["rel_change"]) for c in runs)
         else CONFIRMED if all(c["converged"] for c in runs) else REFUTED)  # fmt: skip
    return v, "; ".join(parts) + f" (converged: < {CONVERGE_REL:.0%} in every replicate; too few epochs: inconclusive)"


def _answer(study: Study) -> str:
    def says(setting: str) -> str:
        ae, vae = SETTINGS[setting]
        out = []
        for c in CLAIMS:
            v, rows = study.verdicts[setting][c.id]
            if rows:
                each = ", ".join(f"{k} {_f(sa.mean)} vs {_f(sb.mean)}" + (f" {sv}" if len(rows) > 1 else "")
                                 for k, sv, sa, sb in rows)  # fmt: skip
                out.append(f"{c.short}: {_bold(v)} ({each})")
        return "; ".join(out)

    n = len(study.p.replicates)
    return (
        f"**Answer.** Measured with {n} training seeds per model, spreads included, the source report's trade-off "
        f"reads as follows. At its own setting ({study.labels['ae']} vs {study.labels['vae_2d']}): "
        f"{says('report')}. At matched capacity ({study.labels['ae']} vs {study.labels['vae']}): {says('matched')}. "
        "(First model's value vs the second's.) A verdict is confirmed or refuted only when the gap is larger than "
        "the sum of the two spreads, otherwise inconclusive; mixed when the measures of one claim confirm and "
        "refute it. Convergence and the larger-latent claim are below."
    )


def render(study: Study, figures_rel: str) -> str:
    p = study.p
    names = list(study.stats)
    keys = [*METRICS, "near_final_epoch"]
    metric_rows = [
        f"| {_name(k)} | "
        + " | ".join(str(study.stats[n][k]) if k in study.stats[n] else "-" for n in names)
        + f" | {METRICS[k].spread if k in METRICS else 'seeds'} |"
        for k in keys
    ]
    claim_rows = []
    for c in CLAIMS:
        cells = []
        for setting, (ae, vae) in SETTINGS.items():
            v, rows = study.verdicts[setting][c.id]
            cells.append(f"{_bold(v)}: {_evidence(rows, ae.upper(), vae.upper())}")
        claim_rows.append(f"| {c.text} | " + " | ".join(cells) + " |")
    conv_cells = [_converged_text(study, SETTINGS[s]) for s in SETTINGS]
    claim_rows.append("| Both models converge. | " + " | ".join(f"{_bold(v)}: {t}" for v, t in conv_cells) + " |")
    v, rows = study.verdicts["latent"][LARGER_LATENT.id]
    arch = f"dense MLP 784-{'-'.join(map(str, p.model.layers))}-latent" if p.model.arch == "dense" else (
        f"convolutional, channels {list(p.model.layers)}")  # fmt: skip
    fid_n = study.recorded["fid_n"]
    lines = [
        "# AE vs VAE on Fashion-MNIST: the source report's claims, measured",
        "",
        "Written by the `plot` stage from `metrics/runs/*.json` and `plots/curves/*.csv` (aggregates and verdicts "
        "also in `metrics/study.json`); every number is read from those files.",
        "",
        _answer(study),
        "",
        "## The claims, at both settings",
        "",
        f"Report's setting: {study.labels['ae']} vs {study.labels['vae_2d']}. Matched: {study.labels['ae']} vs "
        f"{study.labels['vae']}. Each number: mean ± spread (see the metrics table for which spread).",
        "",
        "| claim | report's setting (AE vs VAE_2D) | matched capacity (AE vs VAE) |",
        "|---|---|---|",
        *claim_rows,
        "",
        f"- {LARGER_LATENT.text} {_bold(v)}: {_evidence(rows, 'VAE', 'VAE_2D')}.",
        "- Dense layers ignore spatial structure; convolutions would do better: not part of the default study "
        f"(`model.arch={p.model.arch}`); measured by the campaign (below).",
        "",
        "## Metrics",
        "",
        "| metric | " + " | ".join(study.labels[n] for n in names) + " | spread |",
        "|---|" + "---|" * (len(names) + 1),
        *metric_rows,
        "",
        "Spreads: *seeds* = standard deviation across the training replicates; *bootstrap* = standard deviation "
        f"of FID over {study.recorded['fid_bootstrap']} resamples (with replacement) of both image sets, "
        "for seed 0 only (FID for every seed would cost an Inception pass per seed); "
        "*binomial* = sqrt(p(1 - p)/n) over the n "
        "generated images (or midpoints), seed 0. The active-unit count of an AE says little: its codes have no "
        "fixed scale.",
        "",
        f"`elbo`, `kl` and `nll_iw` use a Bernoulli likelihood on grey-level pixels: they are cross-entropy bounds "
        f"(nats per image, K = {study.recorded['iw_samples']} importance samples), **not comparable with "
        "published NLLs on binarized MNIST-type data**.",
        "",
        "## Setup",
        "",
        f"- Data: Fashion-MNIST, pixels in [0, 1], flattened to 784; {p.n_train_total - p.data.val_size} train, "
        f"{p.data.val_size} validation (seeded split), {p.n_test} test images.",
        f"- Models: {arch}, mirrored decoder; VAE beta = {p.vae.beta}. Seeds: {p.seed} + replicate, replicates "
        f"{list(p.replicates)}.",
        f"- Training: Adam, lr {p.train.lr}, batch {p.train.batch_size}, {p.train.epochs} epochs, the epoch with the "
        "lowest validation loss kept; loss = Bernoulli NLL summed over pixels (+ beta KL for the VAE), mean "
        "over the batch.",
        f"- FID, precision/recall (k = 3): standard TF Inception-v3 pool3 features, {fid_n} images per side "
        "(FID is biased upward at small N: comparable only with other runs at the same N, not with published "
        "numbers at 10,000). AE samples: a full-covariance Gaussian fitted to its training codes; VAE: the prior.",
        "",
        "## Figures",
        "",
    ]
    for name, caption in FIGURES.items():
        lines += [f"### {caption}", "", f"![{caption}]({figures_rel}/{name})", ""]
    lines += [
        "## Beyond the source report",
        "",
        "The report's future work (latent sizes 2 to 64, convolutional models, beta-VAE, a conditional VAE, "
        "ex-post samplers) and a record attempt against the best published VAE-family FID on Fashion-MNIST "
        "are run by the campaign, a second pipeline (`campaign/dvc.yaml`, `make campaign`) kept apart so that "
        "this study reproduces in its own time. Its section, written from `campaign/results.csv` by the "
        "campaign's `summary` stage: [campaign/REPORT.md](../campaign/REPORT.md).",
        "",
    ]
    return "\n".join(lines)
