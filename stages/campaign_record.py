"""Stage record of the campaign (campaign/dvc.yaml): the record attempt, by family.

Each candidate of ``record.candidates`` (a variant's seed-0 checkpoint and a sampler) draws
``record.select_n + fid_n.record`` samples; the first ``select_n`` are scored against as many validation
images (held out of training, never the test set) and the best candidate of each family (prior-sampled
VAE; autoencoder or VAE plus a fitted density; hybrid) is kept. Its other ``fid_n.record`` samples are
scored on the test set under Dai & Wipf's protocol, beside its family's published row (our protocol at
10,000 beside theirs: the published stages, seed 0). When the chosen variant is replicated, its checkpoint at
every further seed draws ``fid_n.record`` samples of its own (its own fit, its own draws) scored alike: the
record's spread is over complete re-runs, as the published rows' (the choice is seed 0's, on validation images).

Usage: python -m stages.campaign_record. Paths: paths.yaml (campaign).
"""

import dataclasses
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
    fileio.check_outputs(PATHS["runs"] / "record.json", PATHS["record"])  # before the work, not after it
    n, n_sel = cfg.fid_n["record"], cfg.record.select_n
    refs = {"dai_wipf": fid.load_reference(PATHS["reference"] / paths.FEATURES_FILE, n)}
    models = {}
    for name in dict.fromkeys(name for name, _ in cfg.record.candidates):  # each checked before any work
        v = config.variant(cfg, name)
        expect = config.spec(v, config.variant_params(p, v, cfg))
        drawn_by = [s for v_name, s in cfg.record.candidates if v_name == name]
        models[name] = {}
        for seed in cfg.seeds_of(name):  # seed 0 chooses; a replicated variant's further seeds are scored too
            ckpt = PATHS["models"] / f"{config.run_name(name, seed)}.pt"
            models[name][seed] = (
                train.load_model(ckpt, expect=expect, replicate=seed)[0],
                {s: run.kept_fit(ckpt, s) for s in drawn_by},
            )  # an ex-post sampler's fit: the variant's own, at that seed
    dev = device()
    t = time.perf_counter()
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    features = fid.feature_fn(net=net)  # the same network: loaded once
    x_train = data.load_split("train").x
    x_val = data.load_split("val").x  # held out of training: the selection never sees the test set
    selection, best = run.select(cfg, p, {k: m[0] for k, m in models.items()}, x_train, x_val, features, dev)

    out = {"fid_n": n, "select_n": n_sel, "selection": selection, "families": {},
           "protocols": run.protocol_notes(("dai_wipf",), selection=True)}  # fmt: skip
    kept = {}
    for family, (score, (name, sampler), images) in best.items():
        scores, arrays = run.record_scores(images, p, net, refs, f"record {family}: {name} ({sampler})", ("dai_wipf",))
        out["families"][family] = {"variant": name, "sampler": sampler, "fid_validation": score, **scores,
                                   "seeds": {0: scores["dai_wipf"]}}  # fmt: skip
        kept.update({f"{family}-{k}": a for k, a in arrays.items()})
        for seed, (model, fits) in models[name].items():  # the chosen variant's further seeds
            if seed == 0:
                continue
            p_run = dataclasses.replace(p, seed=train.run_seed(p, seed))  # that run's own draws
            images = run.draw(model.to(dev).eval(), x_train, sampler, n, cfg, p_run, dev, fits.get(sampler))
            what = f"record {family}: {config.run_name(name, seed)} ({sampler})"
            scores, arrays = run.record_scores(images, p, net, refs, what, ("dai_wipf",))
            out["families"][family]["seeds"][seed] = scores["dai_wipf"]
            kept[f"{family}-{seed}-dai_wipf"] = arrays["dai_wipf"]
    out["seconds"] = round(time.perf_counter() - t, 1)
    with fileio.atomic_outputs(files=(PATHS["runs"] / "record.json",), folders=(PATHS["record"],)) as ([js], [tmp]):
        for key, arr in kept.items():
            np.save(tmp / f"{key}.npy", arr)
        fileio.dump_json(js, out)
    logging.info("record: %s", {f: (r["variant"], r["sampler"], round(r["dai_wipf"]["fid"], 2))
                                for f, r in out["families"].items()})  # fmt: skip


if __name__ == "__main__":
    cli(main)
