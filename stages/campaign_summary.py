"""Stage summary of the campaign: campaign/results.csv, its figures and campaign/REPORT.md ("Beyond the
source report"), from the campaign's metrics files. What it reads and writes: campaign/dvc.yaml.
"""

import json
import logging

import numpy as np

from aevae import campaign, campaign_report, data, fileio, params, paths
from aevae.campaign_paths import PATHS
from aevae.errors import cli


def main() -> None:
    cfg = campaign.load_config()
    runs, missing = {}, []
    for name in cfg.variants:
        f = PATHS["runs"] / f"{name}.json"
        if f.is_file():
            runs[name] = campaign.read_json(f)
        else:
            missing.append(name)
    if not runs:
        raise campaign.CampaignError("no variant has run yet; `make campaign` runs them")
    df = campaign_report.table(runs)
    extra = {"fid_n": cfg.fid_n, "labels": {n: v.label for n, v in cfg.variants.items()},
             "study_fid_n": params.load().evaluate.fid_samples}  # fmt: skip
    done = {k: PATHS["runs"] / f"{k}.json" for k in ("classifier", "record", "reference")}
    extra.update({k: campaign.read_json(f) for k, f in done.items() if f.is_file()})
    extra["seconds"] = float(df.drop_duplicates("variant")["seconds"].sum()) + sum(
        extra[k]["seconds"] for k in done if k in extra
    )
    extra["device"] = ", ".join(sorted({r["protocol"]["device"] for r in runs.values() if "device" in r["protocol"]}))
    seed_sd = json.loads(paths.STUDY.read_text())["models"]
    figs = PATHS["figures"]
    figs.mkdir(parents=True, exist_ok=True)
    for png in figs.glob("*.png"):  # a figure whose variants are gone must not outlive them
        png.unlink()
    if (df["family"] == "latent").any():
        campaign_report.sweep_figure(df, figs / "sweep.png")
    if len(campaign_report.beta_rows(df)) > 1:
        campaign_report.beta_figure(df, figs / "beta.png")
    evals = PATHS["eval"]
    cvae = next((n for n, r in runs.items() if r["variant"]["model"] == "cvae"), None)
    if cvae is not None:
        grid = np.load(evals / cvae / "samples_prior.npy")
        campaign_report.samples_figure({"prior samples, each row given one class": grid}, figs / "cvae_samples.png",
                                       "Conditional VAE samples", row_labels=data.CLASSES)  # fmt: skip
    with_samplers = {n: campaign_report.ordered_samplers(r) for n, r in runs.items() if len(r["samplers"]) > 1}
    panels = {f"{extra['labels'][n]}: {s}": np.load(evals / n / f"samples_{s}.npy")
              for n, samplers in with_samplers.items() for s in samplers}  # fmt: skip
    if panels:
        campaign_report.samples_figure(panels, figs / "samplers.png", "Same decoder, different sampler of codes", 8, 8)
    if "record" in extra:
        u8 = np.load(PATHS["record"] / "ours.npy")[:100]  # fewer on a small profile
        u8 = u8.reshape(len(u8), -1) / 255.0
        campaign_report.samples_figure({f"{extra['labels'][extra['record']['variant']]}, "
                                        f"{extra['record']['sampler']} sampler": u8}, figs / "record.png",
                                       f"The record attempt's samples (first {len(u8)} of "
                                       f"{extra['record']['fid_n']:,})")  # fmt: skip
    fileio.write_text(PATHS["results"], df.to_csv(index=False))
    rel = PATHS["figures"].relative_to(PATHS["report"].parent)
    fileio.write_text(PATHS["report"], campaign_report.render(df, extra, seed_sd, str(rel), missing))
    logging.info("campaign: %d variants, %d rows; missing %s", len(runs), len(df), missing or "none")


if __name__ == "__main__":
    cli(main)
