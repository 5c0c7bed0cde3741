"""Stages of the campaign (campaign/dvc.yaml): the source report's future work.

Usage: python -m stages.campaign {check | variant <name> | record}.
What each reads and writes: campaign/dvc.yaml; paths: paths.yaml (campaign).
"""

import logging
import sys
import time

import numpy as np

from aevae import campaign, data, fid, fileio, judge, params, paths
from aevae.campaign import PATHS
from aevae.errors import StudyError, cli
from aevae.runtime import device

USAGE = "usage: python -m stages.campaign {check | variant <name> | record}"


def _inception(dev):
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    return lambda images, desc: fid.features(fid.to_uint8(images), net, desc=desc)


def check(cfg, p) -> None:
    """Both params files valid together (``main`` has loaded and checked them): every other campaign stage
    depends on this one's constant output, so a bad value stops DVC before it deletes any output."""
    fileio.write_text(PATHS["params_ok"], "campaign/params.yaml is valid with params.yaml\n")


def variant(cfg, p, name: str) -> None:
    v = campaign.variant(cfg, name)
    out_eval, out_run = PATHS["eval"] / name, PATHS["runs"] / f"{name}.json"
    dev = device()
    judge_net = judge.load(paths.JUDGE)
    ref = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, cfg.fid_n[v.family])
    splits = {s: data.load_split(s) for s in ("train", "val", "test")}
    metrics, arrays, curves, ckpt = campaign.run_variant(v, cfg, p, splits, dev, _inception(dev), ref, judge_net)
    from aevae import train

    fileio.save_torch(PATHS["models"] / f"{name}.pt", ckpt)
    fileio.write_text(PATHS["curves"] / f"{name}.csv", train.curves_csv(curves))
    with fileio.atomic_dir(out_eval) as tmp:
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr)
    fileio.write_json(out_run, metrics)
    logging.info("%s: %s", name, {k: metrics[k] for k in ("mse", "fid_samples", "seconds")})


def record(cfg, p) -> None:
    from aevae import evaluate, train

    name = cfg.record_variant
    v = campaign.variant(cfg, name)
    ref = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, cfg.fid_n["record"])
    sampler = campaign.best_sampler(campaign.read_json(PATHS["runs"] / f"{name}.json"), name)
    expect = campaign.spec(v, campaign.variant_params(p, v, cfg))
    model, _ = train.load_model(PATHS["models"] / f"{name}.pt", expect=expect)
    dev = device()
    t = time.perf_counter()
    z_train = evaluate.map_batches(model.to(dev).embed, data.load_split("train").x, dev)
    out, kept = campaign.record_attempt(model, z_train, sampler, cfg, p, dev, _inception(dev), ref)
    out["variant"] = name
    out["seconds"] = round(time.perf_counter() - t, 1)
    with fileio.atomic_dir(PATHS["record"]) as tmp:
        for key, arr in kept.items():
            np.save(tmp / f"{key}.npy", arr)
    fileio.write_json(PATHS["runs"] / "record.json", out)
    logging.info("record: %s", {k: out[k] for k in ("sampler", "ours", "dai_wipf")})


def main() -> None:
    args = sys.argv[1:]
    if (
        not args
        or args[0] not in ("check", "variant", "record")
        or ((args[0] == "variant") != (len(args) == 2) or len(args) > 2)
    ):
        raise StudyError(f"{USAGE}; got {' '.join(args) or 'no arguments'}")
    cfg, p = campaign.load_config(), params.load()
    campaign.check_with_study(cfg, p)
    {"check": lambda: check(cfg, p), "record": lambda: record(cfg, p), "variant": lambda: variant(cfg, p, args[-1])}[
        args[0]
    ]()


if __name__ == "__main__":
    cli(main)
