"""Stage train_<model>@<replicate>: train one model of the study with one replicate seed.

Usage: python -m stages.train {ae,vae,ae_2d,vae_2d} <replicate>. What it reads and writes: dvc.yaml.
"""

import logging
import sys

from aevae import data, fileio, params, paths, train
from aevae.errors import cli
from aevae.models import run_from_argv
from aevae.runtime import device


def main() -> None:
    p = params.load()
    spec, rep = run_from_argv(sys.argv[1:], p, "train")
    out_ckpt, out_curves = paths.checkpoint(spec.name, rep), paths.curves(spec.name, rep)
    fileio.check_outputs(out_ckpt, out_curves)  # before the work, not after it
    dev = device()
    logging.info("training %s, replicate %d (seed %d) on %s", spec.label, rep, train.run_seed(p, rep), dev)
    result = train.train(spec, p, data.load_split("train").x, data.load_split("val").x, dev, rep)
    with fileio.atomic_outputs(files=(out_ckpt, out_curves)) as ([ckpt_tmp, curves_tmp], _):
        ckpt_tmp.write_bytes(fileio.torch_bytes(train.checkpoint(result, spec, p, rep, dev)))
        curves_tmp.write_text(train.curves_csv(result.curves))
    logging.info("%s-%d: kept epoch %d (lowest validation loss)", spec.name, rep, result.best_epoch)


if __name__ == "__main__":
    cli(main)
