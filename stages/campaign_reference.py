"""Stage reference of the campaign (campaign/dvc.yaml): Inception features of every test image under Dai &
Wipf's protocol (``aevae.campaign.protocol``), computed once; the study's ``fid_reference`` holds ours.
"""

import logging
import time

from aevae import data, fid, fileio, paths
from aevae.campaign import protocol
from aevae.campaign.paths import PATHS
from aevae.errors import cli
from aevae.runtime import device


def main() -> None:
    test = data.load_split("test", mmap=True)
    dev = device()
    t = time.perf_counter()
    net = fid.extractor(paths.FID_WEIGHTS, dev)
    feats = protocol.features(protocol.real_inputs(fid.to_uint8(test.x).numpy()), net, desc="test set")
    with fileio.atomic_dir(PATHS["reference"]) as tmp:
        fileio.save_npy(tmp / paths.FEATURES_FILE, feats)
    logging.info("Dai & Wipf's protocol: features of %d test images in %.0f s", len(feats), time.perf_counter() - t)


if __name__ == "__main__":
    cli(main)
