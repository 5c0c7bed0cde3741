"""Stages variant@<name> and replicate@<name>-<s> of the campaign (campaign/dvc.yaml): one variant trained
at seed + s and evaluated; its files are named <name>-<s>.

Usage: python -m stages.campaign_variant <name> <s>. Paths: paths.yaml (campaign).
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
    args = sys.argv[1:]
    if len(args) != 2 or not args[1].isdigit():
        raise StudyError(
            f"usage: python -m stages.campaign_variant <name> <seed offset>; got {' '.join(args) or 'nothing'}"
        )
    cfg, p = config.load_checked()
    name, seed = args[0], int(args[1])
    v = config.variant(cfg, name)
    if seed not in cfg.seeds_of(name):
        raise StudyError(f"variant {name} trains at seed offsets {list(cfg.seeds_of(name))} (roles.replicated and "
                         f"seeds in campaign/params.yaml), not {seed}")  # fmt: skip
    run_name = config.run_name(name, seed)
    out_eval, out_run = PATHS["eval"] / run_name, PATHS["runs"] / f"{run_name}.json"
    out_ckpt, out_curves = PATHS["models"] / f"{run_name}.pt", PATHS["curves"] / f"{run_name}.csv"
    fileio.check_outputs(out_ckpt, out_curves, out_run, out_eval)  # before the work, not after it
    dev = device()
    judge_net = judge.load(paths.JUDGE)
    ref = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, cfg.fid_n[v.family])
    splits = {s: data.load_split(s) for s in ("train", "val", "test")}
    features = fid.feature_fn(paths.FID_WEIGHTS, dev)
    metrics, arrays, curves, ckpt = run.run_variant(v, cfg, p, splits, dev, features, ref, judge_net, seed)
    with fileio.atomic_outputs(files=(out_ckpt, out_curves, out_run), folders=(out_eval,)) as (tmps, [eval_tmp]):
        tmps[0].write_bytes(fileio.torch_bytes(ckpt))
        tmps[1].write_text(train.curves_csv(curves))
        fileio.dump_json(tmps[2], metrics)
        for key, arr in arrays.items():
            np.save(eval_tmp / f"{key}.npy", arr)
    logging.info("%s: %s", run_name, {k: metrics.get(k) for k in ("mse", "fid_normal", "seconds")})


if __name__ == "__main__":
    cli(main)
