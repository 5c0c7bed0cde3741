"""Stage record of the campaign (campaign/dvc.yaml): the record attempt, scored under both protocols.

Usage: python -m stages.campaign_record. Paths: paths.yaml (campaign).
"""

import logging
import time

import numpy as np

from aevae import data, fid, fileio, paths, train
from aevae.campaign import config, run
from aevae.campaign.paths import PATHS
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    cfg, p = config.load_checked()
    name = cfg.record_variant
    v = config.variant(cfg, name)
    n = cfg.fid_n["record"]
    refs = {"ours": fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, n),
            "dai_wipf": fid.load_reference(PATHS["reference"] / paths.FEATURES_FILE, n)}  # fmt: skip
    primary = config.run_name(name, 0)
    sampler = run.best_sampler(config.read_json(PATHS["runs"] / f"{primary}.json"), primary)
    expect = config.spec(v, config.variant_params(p, v, cfg))
    model, _ = train.load_model(PATHS["models"] / f"{primary}.pt", expect=expect, replicate=0)
    dev = device()
    t = time.perf_counter()
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    out, kept = run.record_attempt(model.to(dev), data.load_split("train").x, sampler, cfg, p, dev, net, refs)
    out["variant"] = name
    out["seconds"] = round(time.perf_counter() - t, 1)
    with fileio.atomic_dir(PATHS["record"]) as tmp:
        for key, arr in kept.items():
            np.save(tmp / f"{key}.npy", arr)
    fileio.write_json(PATHS["runs"] / "record.json", out)
    logging.info("record: %s", {k: out[k] for k in ("sampler", "ours", "dai_wipf")})


if __name__ == "__main__":
    cli(main)
