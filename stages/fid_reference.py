"""Stage fid_reference: Inception features of the test set, computed once for every experiment.

Reads: data/prepared/test_x.npy, the FID weights, evaluate.fid_samples, data.subset.
Writes: data/fid/reference/features.npy ([fid_samples, 2048] float32, first test images in order).
"""

import logging

from aevae import data, fid, fileio, params, paths
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    p = params.load()
    n = p.evaluate.fid_samples
    test = data.load_split("test", mmap=True)
    if len(test.x) < n:
        raise fid.FIDError(f"evaluate.fid_samples: {n} but only {len(test.x)} test images were prepared")
    dev = device()
    logging.info("Inception features of %d test images on %s", n, dev)
    feats = fid.features(fid.to_uint8(test.x[:n]), fid.extractor(paths.FID_WEIGHTS, dev), desc="test set")
    with fileio.atomic_dir(paths.FID_REFERENCE) as tmp:
        fileio.save_npy(tmp / "features.npy", feats)


if __name__ == "__main__":
    cli(main)
