"""Stage variant@<name> of the campaign (campaign/dvc.yaml): one variant trained and evaluated.

Usage: python -m stages.campaign_variant <name>. Paths: paths.yaml (campaign).
"""

import logging
import sys

import numpy as np

from aevae import data, fid, fileio, judge, paths, train
from aevae.campaign import config, run
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError, cli
from aevae.runtime import device


def main() -> None:
    if len(sys.argv) != 2:
        raise StudyError(f"usage: python -m stages.campaign_variant <name>; got {' '.join(sys.argv[1:]) or 'nothing'}")
    cfg, p = config.load_checked()
    name = sys.argv[1]
    v = config.variant(cfg, name)
    out_eval, out_run = PATHS["eval"] / name, PATHS["runs"] / f"{name}.json"
    dev = device()
    judge_net = judge.load(paths.JUDGE)
    ref = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, cfg.fid_n[v.family])
    splits = {s: data.load_split(s) for s in ("train", "val", "test")}
    metrics, arrays, curves, ckpt = run.run_variant(v, cfg, p, splits, dev, run.inception(dev), ref, judge_net)
    fileio.save_torch(PATHS["models"] / f"{name}.pt", ckpt)
    fileio.write_text(PATHS["curves"] / f"{name}.csv", train.curves_csv(curves))
    with fileio.atomic_dir(out_eval) as tmp:
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr)
    fileio.write_json(out_run, metrics)
    logging.info("%s: %s", name, {k: metrics[k] for k in ("mse", "fid_samples", "seconds")})


if __name__ == "__main__":
    cli(main)
