"""Shared fixtures: the real data (from a local mirror, never the network) and the FID weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aevae import data, fid, fileio

LOCAL = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    """The four verified IDX files, fetched from the local mirror (Debian's dataset-fashion-mnist)."""
    if not LOCAL.is_dir():
        pytest.fail(f"{LOCAL} missing: run `make install` (installs Debian's dataset-fashion-mnist)")
    out = tmp_path_factory.mktemp("raw") / "raw"
    data.download(out, [str(LOCAL)])
    return out


@pytest.fixture(scope="session")
def splits(raw_dir) -> dict[str, data.Split]:
    return data.prepare(raw_dir, val_size=5000, subset=None, seed=0)


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fid") / "pt_inception-2015-12-05.pth"
    fileio.save_torch(path, fid.convert(fid.wheel_weights_bytes()))
    return path


@pytest.fixture(scope="session")
def inception(fid_weights):
    return fid.extractor(fid_weights)


def write_idx(path: Path, array: np.ndarray) -> bytes:
    """Write ``array`` (uint8) as an IDX file; return its bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(blob)
    return blob
