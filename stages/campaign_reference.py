"""Stage reference of the campaign: Inception features of every test image, computed once; each variant
reads the first ``fid_n`` of them. What it reads and writes: campaign/dvc.yaml.
"""

import logging
import time

from aevae import data, fid, fileio, paths
from aevae.campaign_paths import PATHS
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    test = data.load_split("test", mmap=True)
    t = time.perf_counter()
    feats = fid.features(fid.to_uint8(test.x), fid.extractor(paths.FID_WEIGHTS, device()), desc="test set")
    with fileio.atomic_dir(PATHS["reference"]) as tmp:
        fileio.save_npy(tmp / "features.npy", feats)
    fileio.write_json(
        PATHS["runs"] / "reference.json", {"images": len(feats), "seconds": round(time.perf_counter() - t, 1)}
    )
    logging.info("reference: %d test images in %.0f s", len(feats), time.perf_counter() - t)


if __name__ == "__main__":
    cli(main)
