"""Stage summary of the campaign: campaign/results.csv, its figures and campaign/REPORT.md ("Beyond the
source report"), from the campaign's metrics files. What it reads and writes: campaign/dvc.yaml.
"""

import logging

import numpy as np
import pandas as pd
import torch

from aevae import data, fileio, judge, metrics, params, paths
from aevae.campaign import config
from aevae.campaign import report as campaign_report
from aevae.campaign.paths import PATHS
from aevae.errors import cli
from aevae.runtime import stream


def _read_inputs():
    """Every input of the summary, read and checked before anything is written."""
    cfg = config.load_config()
    runs, missing = {}, []
    for name in cfg.variants:
        for seed in cfg.seeds_of(name):
            run = config.run_name(name, seed)
            f = PATHS["runs"] / f"{run}.json"
            if f.is_file():
                runs[run] = config.read_json(f)
            else:
                missing.append(run)
    if not runs:
        raise config.CampaignError("no variant has run yet; `make campaign` runs them")
    extra = {}
    if paths.JUDGE_METRICS.is_file():
        extra["judge"] = config.read_json(paths.JUDGE_METRICS)
    record = PATHS["runs"] / "record.json"
    if record.is_file():
        rec = config.read_json(record)
        families = rec.get("families") if isinstance(rec, dict) else None
        if not (isinstance(families, dict) and set(families) <= set(config.FAMILIES) and "selection" in rec):
            raise config.CampaignError(
                "campaign/runs/record.json: not a record by family (an older record attempt's file?); "
                "`dvc repro campaign/dvc.yaml:record` rebuilds it"
            )
        extra["record"] = rec
    extra["published"] = {}
    for name in cfg.published_variants:
        for seed in cfg.seeds_of(name):
            f = PATHS["runs"] / f"published-{config.run_name(name, seed)}.json"
            if f.is_file():
                extra["published"][config.run_name(name, seed)] = config.read_json(f)
            else:
                missing.append(f.stem)
    extra["curves"] = {run: c for run in runs if (c := _fid_curve(PATHS["curves"] / f"{run}.csv")) is not None}
    sizes = sorted({float(cfg.variants[v].latent) for t in cfg.trends.values() if t.by == "latent" for v in t.variants})
    test = data.load_split("test")  # read once: the projections' test codes and the judge's ceiling
    extra["projections"] = _projections([int(d) for d in sizes], params.load().seed, test)
    if any(r["variant"]["model"] == "cvae" for r in runs.values()):
        extra["judge_by_class"] = _judge_by_class(test)
    return cfg, runs, missing, extra


def _projections(sizes: list[int], seed: int, te: data.Split) -> pd.DataFrame:
    """kNN and linear-probe accuracy (the study's, as ``evaluate.latent_scores``) of random Gaussian projections of the
    pixels to each of ``sizes``: the representation measures on codes that learned nothing."""
    if not sizes:
        return pd.DataFrame()
    tr = data.load_split("train")
    rows = []
    for d in sizes:
        w = torch.randn((tr.x.shape[1], d), generator=stream(seed, f"random projection {d}")).numpy()
        z_train, z_test, y_train, y_test = (
            np.asarray(tr.x) @ w,
            np.asarray(te.x) @ w,
            np.asarray(tr.y),
            np.asarray(te.y),
        )
        rows.append({"latent": d, "latent_acc": metrics.latent_acc(z_train, y_train, z_test, y_test),
                     "probe_acc": metrics.probe_acc(z_train, y_train, z_test, y_test)})  # fmt: skip
    return pd.DataFrame(rows)


def _judge_by_class(test: data.Split) -> list[float]:
    """The class judge's accuracy on the real test images of each class: the conditional claim's ceiling."""
    y = np.asarray(test.y)
    right = judge.predict(judge.load(paths.JUDGE), test.x) == y
    return [float(right[y == c].mean()) for c in range(len(data.CLASSES))]


def _fid_curve(path) -> pd.DataFrame | None:
    """A run's curve when it scored prior samples during training (``fid_every``), else None."""
    if not path.is_file():
        raise config.CampaignError(f"{path}: missing; `dvc repro campaign/dvc.yaml` makes it")
    try:
        c = pd.read_csv(path)
        if "fid_prior" not in c:
            return None
        if c.empty or "epoch" not in c or not pd.api.types.is_numeric_dtype(c["fid_prior"]):
            raise ValueError("no epoch rows or a fid_prior that is not numbers")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise config.CampaignError(
            f"{path}: corrupt or truncated ({type(e).__name__}: {str(e).splitlines()[0][:100]}); "
            f"`git checkout -- {path.relative_to(paths.ROOT)}` restores the committed one"
        ) from None
    return c


def _figures(cfg, df, runs: dict, extra: dict, out) -> None:
    """Every figure of the summary, drawn into the folder ``out``."""
    lat = [v for t in cfg.trends.values() if t.by == "latent" for v in t.variants]
    if lat:
        campaign_report.sweep_figure(df, lat, out / "sweep.png", extra["projections"])
    beta = [v for t in cfg.trends.values() if t.by == "beta" for v in t.variants]
    if beta:
        campaign_report.beta_figure(df, beta, out / "beta.png")
    evals = PATHS["eval"]
    primaries = {n: r for n, r in runs.items() if r["variant"]["seed"] == 0}
    cvae = next((n for n, r in primaries.items() if r["variant"]["model"] == "cvae"), None)
    if cvae is not None:
        grid = fileio.load_npy(evals / cvae / "samples_normal.npy")
        campaign_report.samples_figure({"prior samples, each row given one class": grid}, out / "cvae_samples.png",
                                       "Conditional VAE samples", row_labels=data.CLASSES)  # fmt: skip
    panels = {}
    for n, r in primaries.items():
        names = config.samplers_of(r)
        if len(names) > 2 and r["variant"]["model"] != "cvae":
            panels.update({f"{n}: {s}": fileio.load_npy(evals / n / f"samples_{s}.npy") for s in names})
    if panels:
        campaign_report.samples_figure(panels, out / "samplers.png", "Same decoder, different sampler of codes", 8, 8)
    if extra["curves"]:
        n = {runs[run]["fid_n"] for run in extra["curves"]}
        campaign_report.epochs_figure(extra["curves"], n.pop() if len(n) == 1 else 0, out / "fid_epochs.png")
    if "record" in extra:
        rec, shown = extra["record"], {}
        for family, r in rec["families"].items():
            theirs = fileio.load_npy(PATHS["record"] / f"{family}-dai_wipf.npy")[:100]  # fewer on a small profile
            label = f"{config.FAMILIES[family].label}: {r['variant']}, {r['sampler']} sampler"
            shown[label] = theirs.reshape(len(theirs), -1) / 255.0  # as scored: each min-max scaled, x 255
        n = len(next(iter(shown.values())))
        title = f"The record attempt: each family's best on validation images (first {n} of {rec['fid_n']:,} samples)"
        campaign_report.samples_figure(shown, out / "record.png", title)


def main() -> None:
    fileio.check_outputs(PATHS["results"], PATHS["report"], PATHS["figures"])  # before the work, not after it
    cfg, runs, missing, extra = _read_inputs()
    # everything is computed before anything is written: a bad input leaves the committed results whole
    try:
        df = campaign_report.table(runs)
        results = campaign_report.tests(cfg, df)
        extra["seconds"] = (float(df["seconds"].sum()) + (extra["record"]["seconds"] if "record" in extra else 0.0)
                            + sum(r["seconds"] for r in extra["published"].values()))  # fmt: skip
        extra["device"] = ", ".join(
            sorted({r["protocol"]["device"] for r in runs.values() if "device" in r["protocol"]})
        )
        cv = [r for r in runs.values() if r["variant"]["model"] == "cvae" and r["variant"]["seed"] == 0]
        if cv:
            results += campaign_report.conditional(cv[0], extra["judge_by_class"])
            rates = cv[0]["sample_class_acc_by_class"]
            extra["cvae_by_class"] = ", ".join(f"{c} {v:.2f}" for c, v in zip(data.CLASSES, rates, strict=True))
        rel = PATHS["figures"].relative_to(PATHS["report"].parent)
        report = campaign_report.render(cfg, df, results, extra, str(rel), missing)
        csv = df.to_csv(index=False)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise config.CampaignError(
            f"the campaign's metrics files ({PATHS['runs']}) do not hold what its stages write "
            f"({type(e).__name__}: {str(e)[:120]}); `git checkout -- {PATHS['runs'].relative_to(paths.ROOT)}` "
            "restores the committed ones, `make campaign` rebuilds them"
        ) from None
    outputs = fileio.atomic_outputs(files=(PATHS["results"], PATHS["report"]), folders=(PATHS["figures"],))
    with outputs as ([csv_tmp, report_tmp], [figures]):  # one set: a figure whose variants are gone goes too
        _figures(cfg, df, runs, extra, figures)
        csv_tmp.write_text(csv)
        report_tmp.write_text(report)
    logging.info("campaign: %d runs; missing %s", len(runs), missing or "none")


if __name__ == "__main__":
    cli(main)
