"""Stages published@<variant> and published_replicate@<variant>-<s> of the campaign (campaign/dvc.yaml): Dai &
Wipf's Table 1 rows reproduced like for like. For each row of ``published`` (campaign/params.yaml) that
``<variant>`` reproduces, its seed-``s`` checkpoint draws ``fid_n.record`` samples from the row's sampler (an
ex-post sampler from the fit the variant stage kept in the checkpoint), scored against as many test images
under their protocol (``aevae.campaign.protocol``); at seed 0 under ours too, beside theirs. Every random
choice of a run comes from its own seed (seed + s: training, the second stage's fit, these draws), as their
spread is over complete re-runs. The scored images are kept, so both FIDs can be recomputed by an
independent implementation.

Usage: python -m stages.campaign_published <variant> <s>. Writes campaign/runs/published-<variant>-<s>.json
and data/campaign/published/<variant>-<s>/<row>-<protocol>.npy (paths.yaml, campaign).
"""

import dataclasses
import logging
import sys
import time

import numpy as np

from aevae import data, fid, fileio, paths, train
from aevae.campaign import config, run
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError, cli
from aevae.runtime import device

PROTOCOLS_AT = {0: ("ours", "dai_wipf")}  # seed 0 under both protocols; every other seed under theirs only


def main() -> None:
    args = sys.argv[1:]
    if len(args) != 2 or not args[1].isdigit():
        raise StudyError(f"usage: python -m stages.campaign_published <variant> <seed offset>; "
                         f"got {' '.join(args) or 'nothing'}")  # fmt: skip
    cfg, p = config.load_checked()
    name, seed = args[0], int(args[1])
    rows = {row: sampler for row, (variant, sampler) in cfg.published.items() if variant == name}
    if not rows:
        raise StudyError(f"{name} reproduces no published row; roles.published in campaign/params.yaml lists "
                         f"{', '.join(cfg.published_variants) or 'none'}")  # fmt: skip
    if seed not in cfg.seeds_of(name):
        raise StudyError(f"variant {name} trains at seed offsets {list(cfg.seeds_of(name))}, not {seed}")
    run_name = config.run_name(name, seed)
    out_json, out_dir = PATHS["runs"] / f"published-{run_name}.json", PATHS["published"] / run_name
    fileio.check_outputs(out_json, out_dir)  # before the work, not after it
    protocols = PROTOCOLS_AT.get(seed, ("dai_wipf",))
    n = cfg.fid_n["record"]
    v = config.variant(cfg, name)
    expect = config.spec(v, config.variant_params(p, v, cfg))
    ckpt = PATHS["models"] / f"{run_name}.pt"
    model = train.load_model(ckpt, expect=expect, replicate=seed)[0]
    fits = {sampler: run.kept_fit(ckpt, sampler) for sampler in rows.values()}  # checked before any work
    refs = {"dai_wipf": fid.load_reference(PATHS["reference"] / paths.FEATURES_FILE, n)}
    if "ours" in protocols:
        refs["ours"] = fid.load_reference(paths.FID_REFERENCE / paths.FEATURES_FILE, n)
    dev = device()
    t = time.perf_counter()
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    x_train = data.load_split("train").x
    p_run = dataclasses.replace(p, seed=train.run_seed(p, seed))  # this run's own draws
    out = {"variant": name, "seed": seed, "draw_seed": p_run.seed, "fid_n": n, "rows": {},
           "protocols": run.protocol_notes(protocols)}  # fmt: skip
    kept = {}
    for row, sampler in rows.items():
        images = run.draw(model.to(dev).eval(), x_train, sampler, n, cfg, p_run, dev, fits[sampler])
        scores, arrays = run.record_scores(images, p, net, refs, f"{row}: {run_name} ({sampler})", protocols)
        out["rows"][row] = {"sampler": sampler, "published": config.PUBLISHED[row].label, **scores}
        kept.update({f"{row}-{k}": a for k, a in arrays.items()})
    out["seconds"] = round(time.perf_counter() - t, 1)
    with fileio.atomic_outputs(files=(out_json,), folders=(out_dir,)) as ([js], [tmp]):
        for key, arr in kept.items():
            np.save(tmp / f"{key}.npy", arr)
        fileio.dump_json(js, out)
    logging.info("published %s: %s", run_name, {r: round(s["dai_wipf"]["fid"], 2) for r, s in out["rows"].items()})


if __name__ == "__main__":
    cli(main)
