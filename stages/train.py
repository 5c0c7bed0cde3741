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
    dev = device()
    logging.info("training %s, replicate %d (seed %d) on %s", spec.label, rep, train.run_seed(p, rep), dev)
    result = train.train(spec, p, data.load_split("train").x, data.load_split("val").x, dev, rep)
    fileio.save_torch(paths.checkpoint(spec.name, rep), train.checkpoint(result, spec, p, rep, dev))
    fileio.write_text(paths.curves(spec.name, rep), train.curves_csv(result.curves))
    logging.info("%s-%d: kept epoch %d (lowest validation loss)", spec.name, rep, result.best_epoch)


if __name__ == "__main__":
    cli(main)
