"""Stage summary of the campaign: campaign/results.csv, its figures and campaign/REPORT.md ("Beyond the
source report"), from the campaign's metrics files. What it reads and writes: campaign/dvc.yaml.
"""

import logging

from aevae import data, fileio, params, paths
from aevae.campaign import config
from aevae.campaign import report as campaign_report
from aevae.campaign.paths import PATHS
from aevae.errors import cli


def _read_inputs():
    """Every input of the summary, read and checked before anything is written."""
    cfg = config.load_config()
    runs, missing = {}, []
    for name in cfg.variants:
        f = PATHS["runs"] / f"{name}.json"
        if f.is_file():
            runs[name] = config.read_json(f)
        else:
            missing.append(name)
    if not runs:
        raise config.CampaignError("no variant has run yet; `make campaign` runs them")
    extra = {"fid_n": cfg.fid_n, "labels": {n: v.label for n, v in cfg.variants.items()},
             "study_fid_n": params.load().evaluate.fid_samples}  # fmt: skip
    done = {"classifier": paths.JUDGE_METRICS, "record": PATHS["runs"] / "record.json"}
    extra.update({k: config.read_json(f) for k, f in done.items() if f.is_file()})
    study = config.read_json(paths.STUDY)
    if not isinstance(study.get("models") if isinstance(study, dict) else None, dict):
        raise config.CampaignError(f"{paths.STUDY}: holds no `models`; `git checkout -- {paths.STUDY.name}` "
                                     "or `dvc repro plot` restores it")  # fmt: skip
    return cfg, runs, missing, extra, study["models"]


def _figures(df, runs: dict, extra: dict, out) -> None:
    """Every figure of the summary, drawn into the folder ``out``."""
    if (df["family"] == "latent").any():
        campaign_report.sweep_figure(df, out / "sweep.png")
    if len(campaign_report.beta_rows(df)) > 1:
        campaign_report.beta_figure(df, out / "beta.png")
    evals = PATHS["eval"]
    cvae = next((n for n, r in runs.items() if r["variant"]["model"] == "cvae"), None)
    if cvae is not None:
        grid = fileio.load_npy(evals / cvae / "samples_prior.npy")
        campaign_report.samples_figure({"prior samples, each row given one class": grid}, out / "cvae_samples.png",
                                       "Conditional VAE samples", row_labels=data.CLASSES)  # fmt: skip
    with_samplers = {n: campaign_report.ordered_samplers(r) for n, r in runs.items() if len(r["samplers"]) > 1}
    panels = {f"{extra['labels'][n]}: {s}": fileio.load_npy(evals / n / f"samples_{s}.npy")
              for n, samplers in with_samplers.items() for s in samplers}  # fmt: skip
    if panels:
        campaign_report.samples_figure(panels, out / "samplers.png", "Same decoder, different sampler of codes", 8, 8)
    if "record" in extra:
        u8 = fileio.load_npy(PATHS["record"] / "ours.npy")[:100]  # fewer on a small profile
        u8 = u8.reshape(len(u8), -1) / 255.0
        campaign_report.samples_figure({f"{extra['labels'][extra['record']['variant']]}, "
                                        f"{extra['record']['sampler']} sampler": u8}, out / "record.png",
                                       f"The record attempt's samples (first {len(u8)} of "
                                       f"{extra['record']['fid_n']:,})")  # fmt: skip


def main() -> None:
    cfg, runs, missing, extra, seed_sd = _read_inputs()
    # everything is computed before anything is written: a bad input leaves the committed results whole
    try:
        df = campaign_report.table(runs)
        # the campaign's own stages (the class judge is the study's)
        extra["seconds"] = float(df.drop_duplicates("variant")["seconds"].sum()) + (
            extra["record"]["seconds"] if "record" in extra else 0.0
        )
        devices = {r["protocol"]["device"] for r in runs.values() if "device" in r["protocol"]}
        extra["device"] = ", ".join(sorted(devices))
        rel = PATHS["figures"].relative_to(PATHS["report"].parent)
        report = campaign_report.render(df, extra, seed_sd, str(rel), missing)
        csv = df.to_csv(index=False)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise config.CampaignError(
            f"the campaign's metrics files ({PATHS['runs']}) do not hold what its stages write "
            f"({type(e).__name__}: {str(e)[:120]}); `git checkout -- {PATHS['runs'].relative_to(paths.ROOT)}` "
            "restores the committed ones, `make campaign` rebuilds them"
        ) from None
    with fileio.atomic_dir(PATHS["figures"]) as tmp:  # a figure whose variants are gone does not outlive them
        _figures(df, runs, extra, tmp)
    fileio.write_text(PATHS["results"], csv)
    fileio.write_text(PATHS["report"], report)
    logging.info("campaign: %d variants, %d rows; missing %s", len(runs), len(df), missing or "none")


if __name__ == "__main__":
    cli(main)
