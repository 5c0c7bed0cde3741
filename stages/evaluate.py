"""Stage evaluate_<model>: metrics and evaluation arrays of one trained model.

Usage: python -m stages.evaluate {ae,vae}
Reads: data/models/<model>.pt, data/prepared/, data/fid/ (weights, reference features),
seed, evaluate.* (the checkpoint carries the model's own params).
Writes: metrics/<model>.json, data/eval/<model>/*.npy (recon, samples, latents, interpolations,
Inception features; VAE also manifold).
"""

import logging
import sys

import numpy as np

from aevae import data, evaluate, fid, fileio, params, paths
from aevae.errors import StudyError, cli
from aevae.runtime import device, seed_everything
from aevae.train import load_model


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in ("ae", "vae"):
        raise StudyError("usage: python -m stages.evaluate {ae,vae}")
    kind = sys.argv[1]
    p = params.load()
    seed_everything(p.seed)
    model, _ = load_model(paths.checkpoint(kind))
    dev = device()
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    ref = fileio.load_npy(paths.FID_REFERENCE / "features.npy")
    result = evaluate.run(
        kind, model, p,
        data.load_split("train"), data.load_split("test"),
        lambda images, desc: fid.features(fid.to_uint8(images), net, desc=desc),
        ref,
    )  # fmt: skip
    result.metrics["protocol"]["device"] = dev.type
    with fileio.atomic_dir(paths.eval_dir(kind)) as tmp:
        for name, arr in result.arrays.items():
            np.save(tmp / f"{name}.npy", arr)
    fileio.write_json(paths.metrics(kind), result.metrics)
    logging.info("%s: %s", kind, {k: v for k, v in result.metrics.items() if k != "protocol"})


if __name__ == "__main__":
    cli(main)
