"""The campaign's results table, figures and report ("Beyond the source report").

Every number is read from the campaign's metrics files (``campaign/runs/<variant>-<seed>.json``); the
table has one row per run. What each variant is for is named in ``campaign/params.yaml`` (``roles``),
never here: a comparison is tested with the study's test (Welch's t over each side's own seeds, its 95%
interval), a trend over one-seed settings with Kendall's tau-b (exact permutation p), the conditional VAE's classes
each against a majority with the exact binomial test; Holm's correction runs within each hypothesis (the family
of its measures or classes), so a hypothesis is decided by its own tests alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.stats as st  # noqa: E402

from aevae import data, plots  # noqa: E402
from aevae import report as study_report  # noqa: E402
from aevae.campaign import config  # noqa: E402
from aevae.campaign.config import CampaignError, Config  # noqa: E402
from aevae.report import ALPHA, CONFIRMED, INCONCLUSIVE, REFUTED  # noqa: E402

COLUMNS = ["run", "variant", "seed", "family", "model", "arch", "latent", "beta", "fid_n", "epochs", "best_epoch",
           "stopped", "seconds"]  # fmt: skip
SWEEP_KEYS = ["mse", "ssim", "fid_recon", "fid_own", "kid_own", "precision_own", "recall_own", "latent_acc",
              "probe_acc", "active_units"]  # fmt: skip
BETA_KEYS = ["mse", "kl", "active_units", "latent_acc", "probe_acc", "knn_group", "fid_normal"]


# ------------------------------------------------------------------ table


def _numbers(name: str, m: dict, keys) -> None:
    """Every metric a run file holds is a number: a text or a list where one belongs is one clear error
    before anything is drawn or written (``json`` reads whatever the file says)."""
    for key in keys:
        v = m.get(key)
        if key in m and (isinstance(v, bool) or not isinstance(v, int | float)) and v is not None:
            raise CampaignError(
                f"campaign/runs/{name}.json: {key} is {v!r}, not a number; `git checkout -- campaign/runs/{name}.json` "
                f"restores the committed one, `make campaign` rebuilds it"
            )


def table(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per run (a variant at one seed): its knobs, then every measure it has (``config.measures``)."""
    known = [k for k in config.measures() if not k.endswith("_own")]  # the _own columns are derived below
    rows = []
    for name, m in runs.items():
        _numbers(name, m, known)
        v = m["variant"]
        rows.append({"run": name, "variant": v["name"], "seed": v["seed"], "family": v["family"], "model": v["model"],
                     "arch": v["arch"], "latent": v["latent"], "beta": v["beta"] if v["model"] != "ae" else math.nan,
                     "fid_n": m["fid_n"], "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                     "stopped": m.get("stopped", ""), "seconds": sum(m["seconds"].values()),
                     **{k: m[k] for k in known if k in m and m[k] is not None},
                     **{f"{k}_own": m.get(f"{k}_{config.OWN_SAMPLER[v['model']]}", math.nan)
                        for k in ("fid", "kid", "precision", "recall")}})  # fmt: skip
    df = pd.DataFrame(rows)
    own = [f"{k}_own" for k in ("fid", "kid", "precision", "recall")]
    return df[COLUMNS + [k for k in known if k in df.columns and k not in own] + own]


def values(df: pd.DataFrame, variant: str, key: str) -> tuple[float, ...]:
    """The per-seed values of ``key`` for ``variant`` (finite ones)."""
    col = df.loc[df["variant"] == variant, key] if key in df.columns else pd.Series(dtype=float)
    return tuple(float(v) for v in col if pd.notna(v) and math.isfinite(v))


def means(df: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: its knobs and each measure's mean over its seeds (``n``: how many)."""
    keys = [c for c in df.columns if c not in COLUMNS]
    knobs = df.groupby("variant", sort=False)[["family", "model", "arch", "latent", "beta", "fid_n"]].first()
    out = knobs.join(df.groupby("variant", sort=False)[keys].mean())
    out["n"] = df.groupby("variant", sort=False).size()
    return out.reset_index()


# ------------------------------------------------------------------ tests


def _orient(key: str):
    """``f(value)`` that grows as the measure improves (a target such as sharpness 1: minus the distance)."""
    m = config.measures()[key]
    if m.target is not None:
        return lambda v: -abs(v - m.target)
    return (lambda v: v) if m.higher_is_better else (lambda v: -v)


@dataclass
class Result:
    """One test of one measure for one hypothesis."""

    hypothesis: str  # the role's key in campaign/params.yaml
    claim: str
    key: str
    kind: str  # "comparison", "trend" or "classes" (the conditional VAE's, one test per class)
    first: tuple[float, ...]  # comparison: the first variant's seed values; trend: one value per setting
    second: tuple[float, ...]  # comparison: the second's; trend: the settings (latent size, beta)
    effect: float  # comparison: the oriented difference of means (> 0 supports); trend: Kendall's tau, oriented
    lo: float
    hi: float
    p: float
    p_holm: float = float("nan")
    verdict: str = INCONCLUSIVE


def comparison(key: str, c: config.Comparison, df: pd.DataFrame) -> Result:
    """Welch's t (the study's ``welch``) on the oriented seed values of ``c.first`` against ``c.second``."""
    f = _orient(key)
    a, b = values(df, c.first, key), values(df, c.second, key)
    diff, lo, hi, _, _, p = study_report.welch(tuple(map(f, a)), tuple(map(f, b)))
    return Result("", c.claim, key, "comparison", a, b, diff, lo, hi, p)


def trend(key: str, t: config.Trend, df: pd.DataFrame, table_means: pd.DataFrame) -> Result:
    """Kendall's tau-b (two-sided p exact: every ordering of the values, ties kept) between the setting
    ``t.by`` and the oriented measure over the trend's variants at seed 0 (``table_means`` of seed 0: a
    replicated variant enters as one seed, like the others); fewer than 3 settings with a value: nothing."""
    f = _orient(key)
    rows = table_means.set_index("variant").reindex(list(t.variants))
    keep = rows[key].notna() if key in rows else pd.Series(False, index=rows.index)
    x, y = rows.loc[keep, t.by].astype(float).tolist(), rows.loc[keep, key].astype(float).tolist()
    nan = float("nan")
    if len(x) < 3 or len(set(y)) < 2:
        return Result("", t.claim, key, "trend", tuple(y), tuple(x), nan, nan, nan, nan)
    tau, p = kendall(x, [f(v) for v in y])
    return Result("", t.claim, key, "trend", tuple(y), tuple(x), tau, nan, nan, p)


def kendall(x: list[float], y: list[float]) -> tuple[float, float]:
    """Kendall's tau-b of ``y`` against ``x`` and its exact two-sided p (every ordering of ``y``, ties kept)."""
    tau = lambda a: st.kendalltau(x, a).statistic  # noqa: E731  (tau-b: ties counted as ties)
    r = st.permutation_test((list(y),), tau, permutation_type="pairings", n_resamples=math.inf)
    return float(tau(y)), float(r.pvalue)


def projection_check(baseline: pd.DataFrame, keys: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """The representation measures on a case that should fail: random projections of the pixels to each latent
    size (``baseline``: latent, then one column per measure), no learning at all, tested by the trend test:
    measure -> (tau-b, exact p). Where it confirms them too, the measure grows with the read-out's width alone
    and a trend over the models cannot be read as better representations."""
    if baseline.empty:
        return {}
    x = baseline["latent"].astype(float).tolist()
    return {key: kendall(x, baseline[key].astype(float).tolist()) for key in keys if key in baseline}


def _projection_rows(baseline: pd.DataFrame, check: dict[str, tuple[float, float]]) -> list[str]:
    if not check:
        return []
    metrics = config.measures()
    rows = [f"| {metrics[key].label} | "
            + ", ".join(f"{int(d)}: {v:.4g}" for d, v in zip(baseline["latent"], baseline[key], strict=True))
            + f" | {tau:.3g} | {p:.2g} |" for key, (tau, p) in check.items()]  # fmt: skip
    return ["", "**The measures on a case that should fail.** Random projections of the pixels to each latent size "
            "(a Gaussian matrix from the study's seed; no learning), read by the same kNN and linear probe and "
            "tested by the same trend test. Where they rise as steadily, a rising measure over the models reflects "
            "the read-out's width, not a better representation; compare each model with the projection of its size.",
            "", "| measure | random projections, by size | tau-b | p (exact) |", "|---|---|---|---|",
            *rows]  # fmt: skip


SAMPLERS = "samplers"  # the hypothesis's key: an ex-post sampler against the model's own, same model and seed
SAMPLERS_CLAIM = "an ex-post sampler improves generation over the model's own"


# samplers fitted to nothing: N(0, I) is a VAE's own prior and, for an AE (no prior), a naive baseline, never an
# ex-post sampler (one fitted to the training codes after training)
NOT_EX_POST = ("normal",)


def sampler_tests(cfg: Config, df: pd.DataFrame) -> list[Result]:
    """Every ex-post sampler (not ``NOT_EX_POST``) of a replicated variant against the variant's own sampler
    (``config.OWN_SAMPLER``), on FID and KID: the same decoder and seed, so the test is paired, a one-sample t
    on the per-seed differences (oriented: > 0, the ex-post sampler better; the study's ``one_sample``). Holm
    runs over every (variant, sampler, measure) of the hypothesis."""
    out = []
    for name in cfg.replicated:
        d = df[df["variant"] == name].sort_values("seed")
        if d.empty:
            continue
        own = config.OWN_SAMPLER[d["model"].iloc[0]]
        others = sorted(c[4:] for c in d.columns if c.startswith("fid_")
                        and c[4:] not in ("recon", "n", "own", own, *NOT_EX_POST) and d[c].notna().any())  # fmt: skip
        for sampler in others:
            for measure in ("fid", "kid"):
                key, base = f"{measure}_{sampler}", f"{measure}_{own}"
                f = _orient(key)
                pairs = d[[key, base]].dropna()
                a, b = tuple(pairs[key].astype(float)), tuple(pairs[base].astype(float))
                diff, lo, hi, _, _, pv = study_report.one_sample(
                    tuple(f(x) - f(y) for x, y in zip(a, b, strict=True)), 0.0
                )
                out.append(Result("", f"`{name}`: {sampler} against {own}", key, "sampler", a, b, diff, lo, hi, pv))
    return _decide(SAMPLERS, out) if out else []


def tests(cfg: Config, df: pd.DataFrame) -> list[Result]:
    """Every hypothesis of ``roles``, each measure tested, Holm within each hypothesis, and decided as the
    study decides (``report.decide``: the Holm-adjusted p below ``ALPHA``, the sign of the effect)."""
    m = means(df[df["seed"] == 0])  # trends: one seed per setting
    out = []
    for name, c in cfg.comparisons.items():
        family = [comparison(k, c, df) for k in c.measures]
        out += _decide(name, family)
    for name, t in cfg.trends.items():
        family = [trend(k, t, df, m) for k in t.measures]
        out += _decide(name, family)
    return out + sampler_tests(cfg, df)


def _decide(name: str, family: list[Result]) -> list[Result]:
    adjusted = study_report.holm([r.p for r in family])
    for r, ph in zip(family, adjusted, strict=True):
        r.hypothesis, r.p_holm = name, ph
        r.verdict = study_report.decide(r.effect, ph)
    return family


CONDITIONAL = "conditional"  # the hypothesis's key: the conditional VAE (model cvae) generates the class asked
CONDITIONAL_CLAIM = "a conditional model generates the asked class"
MAJORITY = 0.5  # a class is generated when the judge reads most of its samples as that class (fixed 2026-12-07,
# before this campaign's cvae ran; the previous campaign's overall 0.77 had been seen, its per-class rates not)


def conditional(run: dict, ceiling: list[float] | None = None) -> list[Result]:
    """The conditional VAE's claim, one test per class: of the samples drawn for class c (the run's
    ``fid_n`` draws, classes 0..9 in turn), the share the study's class judge reads as c, against ``MAJORITY``
    by the exact binomial test, with its Clopper-Pearson 95% interval; Holm over the classes. Confirmed for a
    class when most of its samples read as asked, refuted when significantly fewer than half do. Chance
    (1/10) would be a straw man: a decoder that knows only "a top" is read as the right top a fifth of the
    time. ``ceiling``: the judge's accuracy per class on the real test images, shown beside (a class the judge
    itself reads at about 0.5 cannot be confirmed). One trained model (seed 0): the spread is the draws'."""
    rates = run["sample_class_acc_by_class"]
    k, n = len(rates), int(run["fid_n"])
    ceiling = ceiling or [float("nan")] * k
    out = []
    for c, rate in enumerate(rates):
        draws = n // k + (c < n % k)  # as evaluate_cvae draws them: np.arange(n) % classes
        hits = round(rate * draws)
        r = st.binomtest(hits, draws, MAJORITY)
        ci = r.proportion_ci(1 - ALPHA, method="exact")
        out.append(Result("", CONDITIONAL_CLAIM, "sample_class_acc", "classes", (hits / draws, ceiling[c]),
                          (float(c), draws), hits / draws - MAJORITY, ci.low - MAJORITY, ci.high - MAJORITY,
                          float(r.pvalue)))  # fmt: skip
    return _decide(CONDITIONAL, out)


def verdicts(results: list[Result]) -> dict[str, str]:
    """One verdict per hypothesis: its measures' verdicts combined (``report.combine``)."""
    names = dict.fromkeys(r.hypothesis for r in results)
    return {n: study_report.combine([r.verdict for r in results if r.hypothesis == n]) for n in names}


# ------------------------------------------------------------------ figures


def sweep_figure(df: pd.DataFrame, variants: list[str], path: Path, baseline: pd.DataFrame | None = None) -> None:
    """Each measure against the latent size (log2 axis), one line per kind of model, at seed 0 (as the
    trend tests read them); ``baseline`` (``projection_check``'s random projections of the pixels) dashed
    where it has the measure."""
    m = means(df[df["seed"] == 0])
    sweep = m[m["variant"].isin(variants)].sort_values(["model", "latent"])
    keys = [k for k in SWEEP_KEYS if k in sweep.columns]
    metrics = config.measures()
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        ticks = set(sweep["latent"])
        for kind, d in sweep.groupby("model"):
            ax.plot(d["latent"], d[key], "o-", color=plots.COLORS.get(kind, "k"), label=kind.upper())
        if baseline is not None and key in baseline:
            ax.plot(baseline["latent"], baseline[key], "s--", color="0.5", ms=3, label="random projection")
            ax.legend(frameon=False, fontsize=6)
            ticks |= set(baseline["latent"])
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("latent size")
        ax.set_title(f"{metrics[key].label}\n({metrics[key].better})", fontsize=8)
    axes[0][0].legend(frameon=False)
    fig.suptitle("Latent size: every measure against it (one seed per size)")
    fig.tight_layout()
    plots.save_figure(fig, path)


def beta_figure(df: pd.DataFrame, variants: list[str], path: Path) -> None:
    d = means(df[df["seed"] == 0])
    d = d[d["variant"].isin(variants)].sort_values("beta")
    keys = [k for k in BETA_KEYS if k in d.columns]
    metrics = config.measures()
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 3.0))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        ax.plot(d["beta"], d[key], "o-", color=plots.COLORS["vae"])
        ax.set_xscale("log", base=2)
        ax.set_xticks(d["beta"].tolist())
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("beta")
        ax.set_title(f"{metrics[key].label}\n({metrics[key].better})", fontsize=8)
    fig.suptitle("beta-VAE (dense, latent 32, one seed per beta): reconstruction against latent structure")
    fig.tight_layout()
    plots.save_figure(fig, path)


def epochs_figure(curves: dict[str, pd.DataFrame], fid_n: int, path: Path) -> None:
    """Prior-sample FID against epochs (the curves' ``fid_prior``: ``fid_every`` on a variant, at ``fid_n``
    images per side), one line per run (``<variant>-<seed>`` -> its curve), a colour per variant; nothing beyond
    the last epoch is drawn."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    names = sorted({run.rsplit("-", 1)[0] for run in curves})
    colors = dict(zip(names, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for run, c in sorted(curves.items()):
        d = c[["epoch", "fid_prior"]].dropna()
        variant, seed = run.rsplit("-", 1)
        ax.plot(d["epoch"], d["fid_prior"], "o-", color=colors.get(variant, "k"), alpha=0.85, ms=3,
                label=variant if seed == "0" else None)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"FID of prior samples ({fid_n:,} per side)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("FID against epochs, every seed (Dai & Wipf train 400 epochs)", fontsize=9)
    fig.tight_layout()
    plots.save_figure(fig, path)


def samples_figure(panels: dict[str, np.ndarray], path: Path, title: str, cols: int = 10, rows: int = 10,
                   row_labels: tuple[str, ...] = ()) -> None:  # fmt: skip
    """One mosaic of ``rows x cols`` generated images per panel (title -> images [>= rows*cols, 784]);
    ``row_labels``: a name per row of the mosaic (e.g. the class a conditional model was given)."""
    n = len(panels)
    per_row = min(n, 3)
    fig, axes = plt.subplots(math.ceil(n / per_row), per_row, figsize=(3.4 * per_row, 3.6 * math.ceil(n / per_row)),
                             squeeze=False)  # fmt: skip
    for ax, (name, images) in zip(axes.flat, panels.items(), strict=False):
        k = min(len(images), rows * cols)
        ax.imshow(plots.tiles(images[:k], math.ceil(k / cols), cols), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_yticks([29 * i + 13.5 for i in range(len(row_labels))], row_labels, fontsize=7)
        ax.set_xticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # keep the title clear of the panels'
    plots.save_figure(fig, path)


# ------------------------------------------------------------------ text


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _tally(verdicts: list[str]) -> str:
    """How many of a hypothesis's tests (measures, samplers or classes) reached each verdict: "2 confirmed, 1
    inconclusive" (a combined verdict alone hides a refuted measure behind "inconclusive")."""
    counts = {v: verdicts.count(v) for v in (CONFIRMED, REFUTED, INCONCLUSIVE) if v in verdicts}
    return ", ".join(f"{n} {v}" for v, n in counts.items()) or "-"


def _ms(vals: tuple[float, ...]) -> str:
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.4g} (1 seed)"
    return f"{np.mean(vals):.4g} ± {np.std(vals, ddof=1):.2g} ({len(vals)} seeds)"


def _md_table(df: pd.DataFrame, cols: list[str], names: dict[str, str] | None = None) -> str:
    names = names or {}
    head = "| " + " | ".join(names.get(c, c) for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(_fmt(r[c]) if c in r else "-" for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join([head, sep, *body])


def _test_rows(cfg: Config, results: list[Result]) -> list[str]:
    metrics = config.measures()
    out = ["| hypothesis | measure | first | second | effect [95% CI] | p | p (Holm) | verdict |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in results if r.kind == "comparison"):
        c = cfg.comparisons[r.hypothesis]
        ci = f" [{r.lo:.3g}, {r.hi:.3g}]" if math.isfinite(r.lo) else ""
        out.append(f"| {c.claim} | {metrics[r.key].label} ({metrics[r.key].better}) | `{c.first}` {_ms(r.first)} | "
                   f"`{c.second}` {_ms(r.second)} | {_fmt(r.effect)}{ci} | {_fmt(r.p, 2)} | {_fmt(r.p_holm, 2)} | "
                   f"**{r.verdict}** |")  # fmt: skip
    return out


def _trend_rows(cfg: Config, results: list[Result]) -> list[str]:
    metrics = config.measures()
    out = ["| hypothesis | measure | values over the settings | tau-b (oriented) | p (exact) | p (Holm) "
           "| verdict |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in results if r.kind == "trend"):
        t = cfg.trends[r.hypothesis]
        pairs = ", ".join(f"{t.by} {x:g}: {y:.4g}" for x, y in zip(r.second, r.first, strict=True))
        out.append(f"| {t.claim} | {metrics[r.key].label} ({metrics[r.key].better}) | {pairs} | {_fmt(r.effect, 3)} | "
                   f"{_fmt(r.p, 2)} | {_fmt(r.p_holm, 2)} | **{r.verdict}** |")  # fmt: skip
    return out


def _sampler_rows(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.kind == "sampler"]
    if not rows:
        return []
    metrics = config.measures()
    out = ["", "Each ex-post sampler against the model's own, paired by seed (same decoder): the one-sample t on the "
           "per-seed differences, its unadjusted 95% interval, Holm over every row.", "",
           "| variant: sampler | measure | ex-post | own | improvement [95% CI] | p | p (Holm) | verdict |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = f" [{r.lo:.3g}, {r.hi:.3g}]" if math.isfinite(r.lo) else ""
        out.append(f"| {r.claim} | {metrics[r.key].label.split(',')[0]} | {_ms(r.first)} | {_ms(r.second)} | "
                   f"{_fmt(r.effect)}{ci} | {_fmt(r.p, 2)} | {_fmt(r.p_holm, 2)} | **{r.verdict}** |")  # fmt: skip
    return out


def _class_rows(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.kind == "classes"]
    if not rows:
        return []
    out = ["", f"Each class against {MAJORITY:g} (most of its samples read as asked): the exact binomial test on its "
           "draws, Clopper-Pearson 95% interval, Holm over the classes; one trained model, so the spread is the "
           "draws', not training's. The judge's accuracy on the real test images of the class is its ceiling.", "",
           "| class | draws | judged as asked [95% CI] | the judge on real images | p | p (Holm) | verdict |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        c, draws = int(r.second[0]), int(r.second[1])
        out.append(f"| {data.CLASSES[c]} | {draws} | {r.first[0]:.2f} [{r.lo + MAJORITY:.2f}, {r.hi + MAJORITY:.2f}] | "
                   f"{_fmt(r.first[1], 3)} | {_fmt(r.p, 2)} | {_fmt(r.p_holm, 2)} | **{r.verdict}** |")  # fmt: skip
    return out


def published_rows(cfg: Config, published: dict[str, dict], epochs_of: dict[str, tuple]) -> list[str]:
    """The report's section on Dai & Wipf's rows reproduced like for like: per row, FID under their protocol
    at every seed (mean ± sd), beside the published number, and at seed 0 under ours. ``published``: the
    published stages' files, by run name (``<variant>-<seed>``); ``epochs_of``: variant -> its runs' epochs."""
    if not published:
        return []
    out = ["", "## Published rows, reproduced", "",
           "Each row's model (`published` in campaign/params.yaml) at each of its seeds draws "
           f"{next(iter(published.values()))['fid_n']:,} samples from the row's sampler, scored against as many "
           "test images under Dai & Wipf's protocol (each sample min-max scaled, x 255 in floats, TF1's "
           "bilinear resize, Inception pool3); seed 0 under ours too. Every random choice of a run (training, the "
           "second stage's fit, the draws) comes from its own seed, so the sd is over complete re-runs, as theirs. "
           "Their network is `infogan` at latent 64, trained 400 epochs: a row of ours with another network, or "
           "fewer epochs, reads as comparable, not the same.", "",
           "| published row | ours: variant (network, latent, epochs), sampler | FID, their protocol (mean ± sd) | "
           "per seed | KID, theirs | FID, our protocol (seed 0) | published |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row, (name, sampler) in cfg.published.items():
        runs = [(r["seed"], r["rows"][row]) for r in published.values() if r["variant"] == name and row in r["rows"]]
        if not runs:
            continue
        runs.sort(key=lambda x: x[0])
        fids = tuple(s["dai_wipf"]["fid"] for _, s in runs)
        kids = tuple(s["dai_wipf"]["kid"] for _, s in runs)
        ours = next((s["ours"]["fid"] for seed, s in runs if seed == 0 and "ours" in s), None)
        pub, v = config.PUBLISHED[row], cfg.variants[name]
        epochs = "/".join(sorted({str(int(e)) for e in epochs_of.get(name, ())})) or "?"
        out.append(f"| {pub.label} | {name} ({v.arch}, {v.latent}, {epochs}), {sampler} | **{_ms(fids)}** | "
                   f"{', '.join(f'{f:.2f}' for f in fids)} | {_ms(kids)} | {'-' if ours is None else f'{ours:.2f}'} | "
                   f"{pub.fid}{f' ± {pub.sd}' if pub.sd else ''} |")  # fmt: skip
    return out


def render(cfg: Config, df: pd.DataFrame, results: list[Result], extra: dict, figures_rel: str,
           missing: list[str]) -> str:  # fmt: skip
    """The report "Beyond the source report", from the results table ``df``, the tests and ``extra`` (the
    judge's metrics, the record attempt, the campaign's time and device)."""
    m = means(df)
    final = verdicts(results)
    out = ["# Beyond the source report", ""]
    out += [
        "The source report's future work, run as variants of the study's models (`campaign/params.yaml`): latent "
        "size, beta-VAE, convolutions against a dense net of the same latent and size, a hybrid (VAE-GAN), a "
        "conditional VAE, ex-post samplers, and a record attempt. Written by the campaign's `summary` stage "
        "(`campaign/dvc.yaml`) from `campaign/runs/*.json`; each row of `campaign/results.csv` is one run.",
        "",
        f"**Spreads and tests.** The variants a comparison rests on (`roles.replicated`) are trained at "
        f"{1 + len(cfg.seeds)} seeds each (seeds run: "
        + ", ".join(f"`{n}` {len(df[df['variant'] == n])}" for n in cfg.replicated)
        + ") and every spread is the variant's own; a comparison is Welch's t on those seeds (the study's test), "
        "its interval the unadjusted 95% one (an interval can exclude 0 where the Holm-adjusted verdict does not). "
        "With 3 seeds a side Welch has 2 to 4 degrees of freedom and rests on normality that 3 values cannot "
        "check; no distribution-free test can do better at that size (an exact 3-against-3 permutation test "
        "cannot go below p = 0.1). A hypothesis judged over a range of settings (latent size, beta) rests on one "
        "seed per setting and is tested as a trend: Kendall's tau-b between the setting and the measure, its p "
        "exact (every ordering of the values). It asks for a monotone change over the whole range: a measure "
        "that rises and then plateaus reads as inconclusive. Holm's correction runs over each hypothesis's "
        f"measures (or classes); a verdict needs p (Holm) < {ALPHA} (else **{INCONCLUSIVE}**); the hypotheses "
        "are not corrected against each other (each is its own family at 0.05). A hypothesis with several "
        "measures is confirmed (or refuted) only when every measure is, mixed when some confirm and some refute it, "
        "else inconclusive (`report.combine`); the table counts each hypothesis's tests. Measures "
        "and thresholds were fixed in `campaign/params.yaml` before this run; the conditional claim's majority "
        "rule was set after the previous campaign's overall rate (0.77) had been seen.",
        "",
        "**What the measures measure.** Sharpness is the samples' gradient energy over the test images' (1: "
        "theirs; above 1, sharper than real images, e.g. artefacts), oriented as closeness to 1; precision is "
        "realism, recall diversity (Kynkaanniemi et al.). kNN and linear-probe accuracy on the codes measure how "
        "well the class can be read from them, not separation or disentanglement (classes split into small pure "
        "islands score high), and the probe standardises every code dimension, inactive ones included.",
        "",
        "FID, KID, precision and recall use the study's network and protocol at `fid_n` images per side "
        "(" + ", ".join(f"{fam} {n:,}" for fam, n in cfg.fid_n.items()) + "); FID is biased upward at small N "
        "(KID is not), so FIDs compare only at the same N and not with published 10,000-image numbers. A "
        "replicated variant's KID carries its seeds' sd; a one-seed variant's none (its stage keeps KID's mean, "
        "not its subset sd; the published rows and the record carry both).",
        "",
        f"Campaign time on this machine: {extra['seconds'] / 60:.0f} min ({extra['device']}), summed over its run "
        "files (variants, published rows, record: each one's `seconds`); the `check`, `reference` and `summary` "
        "stages are not in it.",
    ]
    if missing:
        out += ["", f"**Not run yet** (no metrics file): {', '.join(missing)}. `make campaign` runs them."]

    out += ["", "## Hypotheses", "", "| hypothesis | verdict | its tests |", "|---|---|---|"]
    claims = {
        **{k: c.claim for k, c in cfg.comparisons.items()},
        **{k: t.claim for k, t in cfg.trends.items()},
        CONDITIONAL: CONDITIONAL_CLAIM,
        SAMPLERS: SAMPLERS_CLAIM,
    }
    projections = extra.get("projections", pd.DataFrame())
    check = projection_check(projections, tuple(dict.fromkeys(
        k for t in cfg.trends.values() if t.by == "latent" for k in t.measures)))  # fmt: skip
    passes = [k for k, (tau, p) in check.items() if tau > 0 and p < ALPHA]
    for k, v in final.items():
        caveat = ""
        if k in cfg.trends and cfg.trends[k].by == "latent" and set(cfg.trends[k].measures) & set(passes):
            caveat = " (random projections of the pixels pass the same test: see Latent size)"
        out.append(f"| {claims[k]} | **{v}**{caveat} | {_tally([r.verdict for r in results if r.hypothesis == k])} |")
    if any(r.kind == "comparison" for r in results):
        out += ["", "### Comparisons (each side's own seeds)", "", *_test_rows(cfg, results)]
        out += ["", "Effect: the difference of means oriented so that > 0 supports the hypothesis (for sharpness: "
                "closeness to 1), with Welch's 95% interval."]  # fmt: skip
    if any(r.kind == "trend" for r in results):
        out += ["", "### Trends (one seed per setting)", "", *_trend_rows(cfg, results)]
        out += ["", "tau > 0: the measure improves as the setting grows. With k settings the smallest exact "
                "two-sided p is 2/k!: 5 settings can reach 0.017, 4 only 0.083; with two measures under Holm, 5 "
                "settings confirm only a perfect order on both."]  # fmt: skip

    m0 = means(df[df["seed"] == 0])  # the trends' settings, one seed each
    lat = [v for t in cfg.trends.values() if t.by == "latent" for v in t.variants]
    if lat:
        rows = m0[m0["variant"].isin(lat)].sort_values(["model", "latent"])
        out += ["", "## Latent size", "", f"![sweep]({figures_rel}/sweep.png)", "",
                _md_table(rows, ["variant", "latent", "mse", "ssim", "fid_recon", "fid_own", "kid_own",
                                 "latent_acc", "probe_acc", "active_units"]),
                "", "`fid_own`, `kid_own`: each model's own sampler (VAE: prior; AE: fitted Gaussian)."]  # fmt: skip
        out += _projection_rows(projections, check)
    beta = [v for t in cfg.trends.values() if t.by == "beta" for v in t.variants]
    if beta:
        rows = m0[m0["variant"].isin(beta)].sort_values("beta")
        out += ["", "## beta-VAE", "", f"![beta]({figures_rel}/beta.png)", "",
                _md_table(rows, ["variant", "beta", "mse", "kl", "active_units", "latent_acc", "probe_acc",
                                 "knn_group", "fid_normal", "kid_normal"])]  # fmt: skip

    samplers = [c for c in m.columns if c.startswith("fid_") and c not in ("fid_recon", "fid_n", "fid_own")]
    shown = m[m[samplers].notna().sum(axis=1) > 1] if samplers else m.iloc[0:0]
    if len(shown):
        out += ["", "## Samplers", "", f"![samplers]({figures_rel}/samplers.png)", "",
                "Same decoder, codes from different places: the prior (`normal`), a Gaussian fitted to the "
                "codes (`gaussian`, the AE's), a mixture (`gmm`), a second-stage VAE (`two_stage`: Dai & Wipf's as "
                "their code builds it, for fewer epochs than their 800: `campaign/params.yaml`). Means over each "
                "variant's seeds.", "",
                _md_table(shown, ["variant", "n", *samplers, *[f"kid_{c[4:]}" for c in samplers]])]  # fmt: skip
        out += _sampler_rows(results)

    cv = m[m["model"] == "cvae"]
    if len(cv):
        c = cv.iloc[0]
        out += ["", "## Conditional VAE", "", f"![cvae]({figures_rel}/cvae_samples.png)", "",
                f"Samples drawn from the prior for each class in turn ({_fmt(c['fid_n'])} in all): FID "
                f"{_fmt(c.get('fid_normal'))}, KID {_fmt(c.get('kid_normal'))}, precision "
                f"{_fmt(c.get('precision_normal'))}, recall {_fmt(c.get('recall_normal'))}. The study's class judge "
                f"(test accuracy {_fmt(extra.get('judge', {}).get('accuracy'))}) reads "
                f"**{_fmt(c.get('sample_class_acc'))}** of them as the class asked; its ceiling, its accuracy on "
                f"the model's own reconstructions of the test images, is {_fmt(c.get('recon_class_acc'))}. "
                f"Per class: {extra.get('cvae_by_class', '-')}."]  # fmt: skip
        out += _class_rows(results)

    curves = extra.get("curves", {})
    if curves:
        last = {run: c[["epoch", "fid_prior"]].dropna().iloc[-1] for run, c in sorted(curves.items())}
        out += ["", "## FID against epochs", "", f"![fid_epochs]({figures_rel}/fid_epochs.png)", "",
                "Prior samples scored every `fid_every` epochs during training (the curves' `fid_prior`, our "
                "protocol, the variant's `fid_n` per side). Short of Dai & Wipf's 400 epochs, this says where each run "
                "stands; nothing is extrapolated. Last scored epoch: "
                + "; ".join(f"`{run}` {v['fid_prior']:.1f} at epoch {int(v['epoch'])}" for run, v in last.items())
                + "."]  # fmt: skip
    epochs_of = df.groupby("variant")["epochs"].agg(tuple).to_dict() if "epochs" in df else {}
    out += published_rows(cfg, extra.get("published", {}), epochs_of)
    rec = extra.get("record")
    if rec:
        out += [
            "",
            "## Record attempt",
            "",
            f"![record]({figures_rel}/record.png)",
            "",
            f"Candidates (`record.candidates`: a variant's seed-0 model and a sampler) were compared on "
            f"{rec['select_n']:,} samples each against as many **validation** images (held out of training; "
            "the test set is never used to choose); the best of each family was then scored on the test set "
            f"with {rec['fid_n']:,} further samples under Dai & Wipf's protocol, beside its family's "
            "published row (our protocol beside theirs at 10,000: the published rows above, seed 0). Not like "
            "for like with the published rows where our network or epochs differ (see the variants' table).",
            "",
            "| candidate | sampler | family | FID on validation images |",
            "|---|---|---|---|",
        ]
        out += [f"| {c['variant']} | {c['sampler']} | {config.FAMILIES[c['family']].label} | "
                f"{c['fid_validation']:.1f} |" for c in rec["selection"]]  # fmt: skip
        out += ["", "| family | chosen | FID, Dai & Wipf's protocol (seed 0) | over its seeds | KID (seed 0) | "
                "precision / recall | published row |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for family, r in rec["families"].items():
            fam, dw = config.FAMILIES[family], r["dai_wipf"]
            pub = f"{fam.fid}{f' ± {fam.sd}' if fam.sd else ''}"
            seeds = tuple(v["fid"] for _, v in sorted(r.get("seeds", {}).items(), key=lambda kv: int(kv[0])))
            out.append(f"| {fam.label} | {r['variant']}, {r['sampler']} | **{dw['fid']:.2f}** | {_ms(seeds)} | "
                       f"{dw['kid']:.4f} ± {dw['kid_sd']:.4f} | {dw['precision']:.3f} / {dw['recall']:.3f} | "
                       f"{fam.row}: {pub} |")  # fmt: skip
        out += [
            "",
            "Over its seeds: the chosen variant's checkpoint at each of its seeds (replicated variants: "
            f"{1 + len(cfg.seeds)}), each drawing {rec['fid_n']:,} samples of its own; the choice is seed 0's.",
        ]
    return "\n".join(out) + "\n"
