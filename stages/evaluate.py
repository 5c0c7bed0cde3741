"""Stage evaluate_<model>@<replicate>: metrics and evaluation arrays of one trained run.

Usage: python -m stages.evaluate {ae,vae,ae_2d,vae_2d} <replicate>. What it reads and writes: dvc.yaml.
Every replicate gets the Inception-based metrics; replicate 0 also its main sampler at evaluate.fid_samples.
"""

import logging
import sys

import numpy as np

from aevae import data, evaluate, fid, fileio, judge, params, paths
from aevae.errors import cli
from aevae.models import run_from_argv
from aevae.runtime import device
from aevae.train import load_model


def main() -> None:
    p = params.load()
    spec, rep = run_from_argv(sys.argv[1:], p, "evaluate")
    out_run, out_eval = paths.metrics(spec.name, rep), paths.eval_dir(spec.name, rep)
    fileio.check_outputs(out_run, out_eval)  # before the work, not after it
    model, _ = load_model(paths.checkpoint(spec.name, rep), expect=spec, replicate=rep)
    judge_net = judge.load(paths.JUDGE)
    dev = device()
    primary = rep == 0
    n_ref = max(p.evaluate.fid_samples_seed, p.evaluate.fid_samples if primary else 0)
    ref = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, n_ref)
    features = fid.feature_fn(paths.FID_WEIGHTS, dev)
    splits = data.load_split("train"), data.load_split("test")
    result = evaluate.run(spec, model, p, *splits, dev, features, ref, judge_net, primary=primary)
    result.metrics["run"] = {"model": spec.name, "replicate": rep, "spec": spec.as_dict()}
    with fileio.atomic_outputs(files=(out_run,), folders=(out_eval,)) as ([run_tmp], [eval_tmp]):
        for name, arr in result.arrays.items():
            np.save(eval_tmp / f"{name}.npy", arr)
        fileio.dump_json(run_tmp, result.metrics)
    logging.info("%s-%d: %s", spec.name, rep, {k: v for k, v in result.metrics.items() if k not in ("protocol", "run")})


if __name__ == "__main__":
    cli(main)
