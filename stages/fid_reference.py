"""Stage fid_reference: Inception features of every test image, computed once for the study and the
campaign (each reads the first N it needs). What it reads and writes: dvc.yaml.
"""

import logging
import time

from aevae import data, fid, fileio, paths
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    test = data.load_split("test", mmap=True)
    dev = device()
    t = time.perf_counter()
    feats = fid.feature_fn(paths.FID_WEIGHTS, dev)(test.x, "test set")
    with fileio.atomic_dir(paths.FID_REFERENCE) as tmp:
        fileio.save_npy(tmp / paths.FEATURES_FILE, feats)
    logging.info("Inception features of %d test images on %s in %.0f s", len(feats), dev, time.perf_counter() - t)


if __name__ == "__main__":
    cli(main)
