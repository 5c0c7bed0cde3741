"""Stage fid_reference: Inception features of the first ``evaluate.fid_samples`` test images, computed
once for every experiment (params.py checks that many were prepared). What it reads: dvc.yaml.
"""

import logging

from aevae import data, fid, fileio, params, paths
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    n = params.load().evaluate.fid_samples
    test = data.load_split("test", mmap=True)
    dev = device()
    logging.info("Inception features of %d test images on %s", n, dev)
    feats = fid.features(fid.to_uint8(test.x[:n]), fid.extractor(paths.FID_WEIGHTS, dev), desc="test set")
    with fileio.atomic_dir(paths.FID_REFERENCE) as tmp:
        fileio.save_npy(tmp / "features.npy", feats)


if __name__ == "__main__":
    cli(main)
