"""The campaign's results table, figures and report section "Beyond the source report".

Every number is read from the campaign's metrics files (``campaign/runs/*.json``); the table has one
row per variant and sampler. A campaign variant is one seed, so a gap in a metric that varies by seed
is read against the study's own seed-to-seed sd of that metric (``metrics/study.json``, 3 seeds of
the dense model of the same kind); FID carries its bootstrap sd and precision/recall a binomial sd.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aevae import plots  # noqa: E402
from aevae.campaign.config import OWN_SAMPLER, CampaignError  # noqa: E402
from aevae.report import CONFIRMED, INCONCLUSIVE, REFUTED, Stat  # noqa: E402
from aevae.study import METRICS  # noqa: E402

GEN_KEYS = ("fid_samples", "fid_samples_sd", "precision", "recall")
COLUMNS = ["variant", "family", "model", "arch", "latent", "beta", "sampler", "fid_n", "epochs", "best_epoch"]
# a variant's metrics (one seed): the study's per-run metrics it has, FID with its bootstrap over images
KEYS = ["mse", "ssim", "psnr", "sharpness", "fid_recon", "fid_samples", "precision", "recall", "latent_acc",
        "knn_group", "probe_acc", "active_units", "path_ab_within", "path_confidence_within", "path_evenness_within",
        "elbo", "kl", "nll_iw"]  # fmt: skip
BOOTSTRAPPED = ("fid_recon", "fid_samples")  # their `_sd`: bootstrap over images (campaign.BOOTSTRAP)
BINOMIAL = ("precision", "recall")
METRIC_COLUMNS = KEYS + ["fid_recon_sd", "fid_samples_sd", "sample_class_acc", "seconds"]
SWEEP_KEYS = ["mse", "ssim", "fid_recon", "fid_samples", "precision", "recall", "latent_acc", "probe_acc",
              "active_units", "path_evenness_within"]  # fmt: skip


def _numbers(name: str, m: dict) -> None:
    """Every metric a run file holds is a number: a text or a list where one belongs is one clear error
    before anything is drawn or written (``json`` reads whatever the file says)."""
    found = [(k, m[k]) for k in METRIC_COLUMNS if k in m and k != "seconds"]
    found += [(f"samplers.{s}.{k}", v[k]) for s, v in m.get("samplers", {}).items() for k in GEN_KEYS if k in v]
    for key, v in found:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise CampaignError(
                f"campaign/runs/{name}.json: {key} is {v!r}, not a number; `git checkout -- campaign/runs/{name}.json` "
                f"restores the committed one, `dvc repro campaign/dvc.yaml:variant@{name}` rebuilds it"
            )


def table(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per variant and sampler: the variant's params, then every metric; a sampler row differs
    from its model's own only in the generation metrics."""
    rows = []
    for name, m in runs.items():
        _numbers(name, m)
        v = m["variant"]
        base = {"variant": name, "family": v["family"], "model": v["model"], "arch": v["arch"],
                "latent": v["latent"], "beta": v["beta"] if v["model"] != "ae" else math.nan,
                "fid_n": m["fid_n"], "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                **{k: m.get(k, math.nan) for k in METRIC_COLUMNS if k != "seconds"},
                "seconds": sum(m["seconds"].values())}  # fmt: skip
        for sampler in ordered_samplers(m):
            rows.append({**base, "sampler": sampler, **{k: m["samplers"][sampler][k] for k in GEN_KEYS}})
    return pd.DataFrame(rows, columns=COLUMNS + METRIC_COLUMNS)


def ordered_samplers(run: dict) -> list[str]:
    """A run's samplers, its own first (the prior; the AE's fitted Gaussian), then the ex-post ones."""
    own = OWN_SAMPLER[run["variant"]["model"]]
    return sorted(run["samplers"], key=lambda s: (s != own, s))


def own_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each model's own sampler (the prior; the AE's fitted Gaussian)."""
    return df[df["sampler"] == df["model"].map(OWN_SAMPLER)]


def _stat(row: pd.Series, key: str, seed_sd: dict[str, dict]) -> Stat:
    if key in BOOTSTRAPPED:
        return Stat(row[key], row[f"{key}_sd"], 1, "bootstrap sd")
    if key in BINOMIAL:
        return Stat(row[key], math.sqrt(max(row[key] * (1 - row[key]), 0) / row["fid_n"]), 1, "binomial sd")
    kind = "ae" if row["model"] == "ae" else "vae"
    sd = seed_sd.get(kind, {}).get(key, {}).get("sd")
    sd = math.nan if sd is None else sd  # null: the study ran one seed
    return Stat(row[key], sd, 1, "the study's seed sd")


def screen(a: Stat, b: Stat, higher: bool) -> str:
    """The campaign's screening rule for one-seed variants (not a test: one seed has no spread of its own):
    ``a`` better than ``b`` when the gap exceeds the sum of the two spreads (the study's seed sd, or the
    evaluation's bootstrap/binomial sd); the other way: refuted; else, or with a spread unknown, inconclusive."""
    gap = (a.mean - b.mean) * (1 if higher else -1)
    spread = a.sd + b.sd
    if not math.isfinite(spread):
        return INCONCLUSIVE
    return CONFIRMED if gap > spread else REFUTED if gap < -spread else INCONCLUSIVE


def compare(a: pd.Series, b: pd.Series, key: str, seed_sd: dict) -> str:
    """Is ``a`` better than ``b`` on ``key``, beyond both spreads? confirmed / refuted / inconclusive."""
    return screen(_stat(a, key, seed_sd), _stat(b, key, seed_sd), METRICS[key].higher_is_better)


# ------------------------------------------------------------------ figures


def sweep_figure(df: pd.DataFrame, path: Path) -> None:
    sweep = own_rows(df[df["family"] == "latent"]).rename(columns={"latent": "latent_dim"})
    plots.sweep(sweep.sort_values(["model", "latent_dim"]), SWEEP_KEYS, path)


def beta_figure(df: pd.DataFrame, path: Path) -> None:
    keys = ["mse", "kl", "active_units", "latent_acc", "probe_acc", "fid_samples"]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 3.0))
    d = beta_rows(df)
    for ax, key in zip(axes, keys, strict=True):
        ax.plot(d["beta"], d[key], "o-", color=plots.COLORS["vae"])
        if f"{key}_sd" in d:
            ax.errorbar(d["beta"], d[key], yerr=d[f"{key}_sd"], fmt="none", color=plots.COLORS["vae"], capsize=3)
        ax.set_xscale("log", base=2)
        ax.set_xticks(d["beta"].tolist())
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("beta")
        ax.set_title(f"{METRICS[key].label}\n({'higher' if METRICS[key].higher_is_better else 'lower'} is better)",
                     fontsize=8)  # fmt: skip
    fig.suptitle("beta-VAE (dense, latent 32): reconstruction against latent structure")
    fig.tight_layout()
    plots._save(fig, path)


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
        ax.imshow(plots._tiles(images[:k], math.ceil(k / cols), cols), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_yticks([29 * i + 13.5 for i in range(len(row_labels))], row_labels, fontsize=7)
        ax.set_xticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # keep the title clear of the panels'
    plots._save(fig, path)


# ------------------------------------------------------------------ text


def beta_rows(df: pd.DataFrame) -> pd.DataFrame:
    own = own_rows(df)
    beta = own[(own["family"] == "beta") | (own["variant"] == "vae_z32")]
    return beta.sort_values("beta").reset_index(drop=True)


def _fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _md_table(df: pd.DataFrame, cols: list[str], names: dict[str, str] | None = None) -> str:
    names = names or {}
    head = "| " + " | ".join(names.get(c, c) for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join([head, sep, *body])


def _pm(row, key: str) -> str:
    return f"{row[key]:.1f} ± {row[f'{key}_sd']:.1f}"


def render(df: pd.DataFrame, extra: dict, seed_sd: dict, figures_rel: str, missing: list[str]) -> str:
    """The section "Beyond the source report", from the results table ``df`` and ``extra``: the
    classifier's and the record attempt's metrics, the campaign's time."""
    own = own_rows(df)
    by = {r["variant"]: r for _, r in own.iterrows()}
    out = ["# Beyond the source report", ""]
    out += [
        "The source report's future work, run: larger and smaller latents, convolutional models, beta-VAE, "
        "a conditional VAE, ex-post samplers for the trained models, and a record attempt against the best "
        "published VAE-family FID on Fashion-MNIST. Written by the campaign's `summary` stage "
        "(`campaign/dvc.yaml`) from `campaign/runs/*.json`; every row of `campaign/results.csv` is one variant "
        "and one sampler. Each variant is trained once (seed 0) with the study's training settings "
        f"({_fmt(df['epochs'].max())} epochs); a gap in a per-seed metric (MSE, SSIM, kNN, ...) counts only "
        "when it exceeds the study's own seed-to-seed sd of that metric (3 seeds of the dense AE or VAE) "
        "plus the same for the other side; FID carries its bootstrap sd, precision and recall a binomial sd.",
        "",
        "FID sample sizes (`fid_n`, per side, the first test images as reference): "
        + ", ".join(f"{fam} {n:,}" for fam, n in extra["fid_n"].items())
        + ". FID is biased upward at small N, so FIDs compare only at the same `fid_n`: the campaign's "
        "1,000-image FIDs are not the study's 5,000-image ones, nor the published 10,000-image ones.",
        "",
        *_calibration(by, seed_sd, extra.get("study_fid_n")),
        f"Campaign time on this machine: {extra['seconds'] / 60:.0f} min in all "
        f"({extra['device']}; summed over its stages).",
    ]
    if missing:
        out += ["", f"**Not run yet** (no metrics file): {', '.join(missing)}. `make campaign` runs them."]

    lat = own[own["family"] == "latent"].sort_values(["model", "latent"])
    if len(lat):
        out += ["", "## Latent size", "", f"![sweep]({figures_rel}/sweep.png)", ""]
        out += [_md_table(lat, ["model", "latent", "mse", "ssim", "fid_recon", "fid_samples", "precision", "recall",
                                "latent_acc", "probe_acc", "active_units"])]  # fmt: skip
        for kind, d in lat.groupby("model"):
            best = d.loc[d["fid_samples"].idxmin()]
            first, last = d.iloc[0], d.iloc[-1]
            units = ", ".join(f"{u:g}" for u in d["active_units"])
            out += ["", f"- {kind.upper()}: MSE {_fmt(first['mse'])} at latent {first['latent']} to "
                    f"{_fmt(last['mse'])} at latent {last['latent']}; lowest FID of samples at latent "
                    f"{best['latent']} ({_pm(best, 'fid_samples')}); active units {units}."]  # fmt: skip

    conv = [(a, b) for a, b in (("ae_conv", "ae_z32"), ("vae_conv", "vae_z32")) if a in by and b in by]
    if conv:
        out += ["", "## Convolutional against dense (latent 32)", ""]
        keys = ["mse", "ssim", "sharpness", "fid_recon", "fid_samples", "precision", "recall", "latent_acc"]
        rows = []
        for a, b in conv:
            rows.append({"comparison": f"{a} vs {b}", **{k: compare(by[a], by[b], k, seed_sd) for k in keys}})
        out += [_md_table(own[own["variant"].isin([x for ab in conv for x in ab])], ["variant", *keys]), "",
                "Does the convolutional model do better? (beyond both spreads)", "",
                _md_table(pd.DataFrame(rows), ["comparison", *keys]), ""]  # fmt: skip
        for a, b in conv:
            (ra, sa), (rb, sb) = _best_sampler_row(df, a), _best_sampler_row(df, b)
            v = screen(Stat(ra["fid_samples"], ra["fid_samples_sd"], 1, ""),
                        Stat(rb["fid_samples"], rb["fid_samples_sd"], 1, ""), higher=False)  # fmt: skip
            out += [f"- With each model's best sampler: {a} {_pm(ra, 'fid_samples')} (`{sa}`) vs {b} "
                    f"{_pm(rb, 'fid_samples')} (`{sb}`): the convolutional one generates better: **{v}**."]  # fmt: skip

    beta = beta_rows(df)
    if len(beta) > 1:
        out += ["", "## beta-VAE: reconstruction against latent structure", "", f"![beta]({figures_rel}/beta.png)",
                "", _md_table(beta, ["beta", "mse", "kl", "active_units", "latent_acc", "probe_acc", "fid_samples",
                                     "precision", "recall"])]  # fmt: skip

    c = next((r for r in by.values() if r["model"] == "cvae"), None)  # the conditional VAE (one drawn)
    if c is not None:
        cls = extra.get("classifier", {})
        out += ["", "## Conditional VAE", "", f"![cvae]({figures_rel}/cvae_samples.png)", "",
                f"Samples drawn from the prior for each class in turn (one row per class, {c['fid_n']:,} in all): "
                f"FID {_pm(c, 'fid_samples')}, precision {_fmt(c['precision'])}, recall {_fmt(c['recall'])}. "
                f"The study's class judge (test accuracy {_fmt(cls.get('accuracy'))}) assigns "
                f"**{_fmt(c['sample_class_acc'])}** of them to the class they were drawn for. Its codes, freed of "
                f"the class, carry style: kNN accuracy on them is {_fmt(c['latent_acc'])} (dense VAE: "
                f"{_fmt(by['vae_z32']['latent_acc']) if 'vae_z32' in by else '-'})."]  # fmt: skip

    ex = df[df["variant"].isin([n for n, r in by.items() if len(df[df["variant"] == n]) > 1])]
    if len(ex):
        out += [
            "",
            "## Ex-post samplers",
            "",
            f"![samplers]({figures_rel}/samplers.png)",
            "",
            "Each model sampled by its own sampler (VAE: the prior; AE: one Gaussian fitted to its codes), by a "
            "10-component full-covariance Gaussian mixture fitted to the training codes (`gmm`) and by a "
            "second-stage VAE on the codes (`two_stage`, Dai & Wipf 2019). Same model, same decoder: only "
            "where the codes come from changes.",
            "",
            _md_table(ex, ["variant", "sampler", "fid_samples", "fid_samples_sd", "precision", "recall"]),
        ]

    rec = extra.get("record")
    if rec:
        published = "; ".join(f"{k}: {v['fid']} ± {v['sd']}" for k, v in rec["published"].items())
        best = min(rec["published"].values(), key=lambda v: v["fid"])
        worst = max(rec["published"].values(), key=lambda v: v["fid"])
        ours, dw = rec["ours"], rec["dai_wipf"]
        out += ["", "## Record attempt", "", f"![record]({figures_rel}/record.png)", "",
                f"Model: `{rec['variant']}` ({extra['labels'][rec['variant']]}), "
                f"sampler `{rec['sampler']}` (the lowest FID among its samplers at {_fmt(by[rec['variant']]['fid_n'])} "
                f"images: chosen on the test set, a mild optimism). {rec['fid_n']:,} samples against the "
                f"{rec['fid_n']:,} test images, standard TF Inception weights.", "",
                "| protocol | FID | precision | recall |", "|---|---|---|---|",
                f"| ours (images as decoded) | {ours['fid_samples']:.2f} ± {ours['fid_samples_sd']:.2f} | "
                f"{ours['precision']:.3f} | {ours['recall']:.3f} |",
                f"| Dai & Wipf's (each image min-max rescaled to [0, 1]) | {dw['fid_samples']:.2f} ± "
                f"{dw['fid_samples_sd']:.2f} | {dw['precision']:.3f} | {dw['recall']:.3f} |", "",
                f"Published (Dai & Wipf's protocol, TF Inception): {published}.", ""]  # fmt: skip
        for name, r in (("our protocol", ours), ("Dai & Wipf's protocol", dw)):
            out += [f"- Under {name}: below the published VAE: **{_below(r, worst['fid'], worst['sd'])}**; below "
                    f"the 2-Stage VAE: **{_below(r, best['fid'], best['sd'])}**."]  # fmt: skip
    return "\n".join(out) + "\n"


def _best_sampler_row(df: pd.DataFrame, variant: str) -> tuple[pd.Series, str]:
    rows = df[df["variant"] == variant]
    best = rows.loc[rows["fid_samples"].idxmin()]
    return best, best["sampler"]


def _calibration(by: dict, study: dict, study_n: int | None) -> list[str]:
    """The dense latent-32 variants are the study's primary models (same seed and params: identical
    weights): their FID at the campaign's N against the study's gives the size of FID's 1/N bias."""
    if "vae_z32" not in by or "vae" not in study or not study_n:
        return []
    r, n = by["vae_z32"], int(by["vae_z32"]["fid_n"])
    f_n, f_s = r["fid_samples"], study["vae"]["fid_samples"]["mean"]
    c = (f_n - f_s) / (1 / n - 1 / study_n)  # FID_N = FID_inf + c / N
    return [
        f"The dense latent-32 variants are the study's primary AE and VAE (same seed and params: identical "
        f"weights and identical non-Inception metrics). They calibrate the bias: the dense VAE's FID of samples "
        f"is {f_n:.1f} at {n:,} images and {f_s:.1f} at the study's {study_n:,}; with a bias falling as 1/N that "
        f"puts it near {f_s - c * (1 / study_n - 1 / 10_000):.0f} at 10,000, i.e. subtract roughly "
        f"{c * (1 / n - 1 / 10_000):.0f} from a campaign FID at {n:,} to compare it with 10,000-image numbers.",
        "",
    ]


def _below(r: dict, target: float, target_sd: float) -> str:
    """Is FID ``r`` below the published ``target``? As every verdict here: only when the gap exceeds
    the sum of the two spreads (our bootstrap sd, their sd over runs), else within the spread."""
    gap, spread = target - r["fid_samples"], r["fid_samples_sd"] + target_sd
    shown = f"{r['fid_samples']:.2f} ± {r['fid_samples_sd']:.2f} vs {target} ± {target_sd}"
    if gap > spread:
        return f"yes ({shown})"
    if gap < -spread:
        return f"no ({shown})"
    return f"within the spreads ({shown})"
