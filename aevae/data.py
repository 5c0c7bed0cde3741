"""Fashion-MNIST: fetching and verifying the IDX files, parsing them, and the prepared arrays.

The four files are verified by the MD5 of their *decompressed* bytes, because distributors
recompress (Debian's .gz differs from the official one, the content does not).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aevae import fileio, paths
from aevae.errors import StudyError
from aevae.params import SIDE

log = logging.getLogger(__name__)

FILES = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
NET_TIMEOUT_S = 20


class DataError(StudyError):
    pass


# ---------------------------------------------------------------- IDX format


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse the IDX format (LeCun's MNIST files): magic 0x0000 TT DD, DD big-endian uint32 dims, data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic {data[:4].hex() or 'empty'}; expected 0000TTDD)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{name}: not an IDX file (type code 0x{code:02x}, {ndim} dims)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated: {len(data)} bytes, shorter than its {header}-byte header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{name}: {what}: header says shape {shape} ({expected} bytes), file has {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _decompress(blob: bytes, name: str) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{name}: corrupt or truncated gzip ({e})") from None
    return blob


def verify(name: str, data: bytes) -> None:
    """Raise ``DataError`` unless ``data`` is a well-formed IDX file with the expected MD5."""
    parse_idx(data, name)
    got = hashlib.md5(data).hexdigest()
    if got != FILES[name]:
        raise DataError(f"{name}: checksum mismatch: expected MD5 {FILES[name]}, got {got}")


# ---------------------------------------------------------------- download


INSTALL = (
    "install the real files (Debian/Ubuntu: `apt-get install dataset-fashion-mnist`), or put the four IDX files "
    "(.gz or plain) in a folder and list it under data.local_dirs in params.yaml"
)
# Advice ranks, most specific first: a named local file to replace beats "connect to the internet".
_DAMAGED_FILE, _UNREADABLE_FILE, _NO_FILE, _NO_FOLDER, _DAMAGED_DOWNLOAD, _OFFLINE, _NO_SOURCES = range(7)


def _download(base: str, name: str) -> bytes:
    with urllib.request.urlopen(f"{base.rstrip('/')}/{name}.gz", timeout=NET_TIMEOUT_S) as r:
        return r.read()


class _Skip(Exception):
    """A source without a usable copy: what was seen there, and the fix for it (ranked, lowest first)."""

    def __init__(self, seen: str, rank: int, fix: str):
        super().__init__(seen)
        self.seen, self.fix = seen, (rank, fix)


def _from_mirror(source: str, name: str) -> tuple[bytes, tuple[int, str]]:
    """The file's bytes from mirror ``source``, and the fix should they be damaged."""
    try:
        blob = _download(source, name)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts, dropped connections
        raise _Skip(f"{source}: unreachable ({e})", _OFFLINE,
                    f"connect to the internet (no mirror could be reached), or {INSTALL}") from None  # fmt: skip
    damaged = f"{source} served a damaged copy: try again later or list another mirror under data.mirrors, or {INSTALL}"
    return blob, (_DAMAGED_DOWNLOAD, damaged)


def _from_folder(source: str, name: str) -> tuple[bytes, tuple[int, str]]:
    """The file's bytes (``name.gz`` or ``name``) from local folder ``source``, and the fix should they be damaged."""
    folder = Path(source)
    if not folder.is_dir():
        raise _Skip(f"{source}: no such folder", _NO_FOLDER,
                    f"{source} does not exist: {INSTALL}, or correct the path in data.local_dirs")  # fmt: skip
    file = next((f for f in (folder / f"{name}.gz", folder / name) if f.is_file()), None)
    if file is None:
        raise _Skip(f"{source}: neither {name}.gz nor {name} in it", _NO_FILE,
                    f"{source} has no {name}: put the four IDX files (.gz or plain) there")  # fmt: skip
    try:
        blob = file.read_bytes()
    except OSError as e:
        raise _Skip(f"{source}: cannot read {file.name} ({e.strerror or e})", _UNREADABLE_FILE,
                    f"make {file} readable ({e.strerror or e})") from None  # fmt: skip
    damaged = (
        f"replace {file}, which is damaged or not the real file: reinstall it (Debian/Ubuntu: "
        "`apt-get install --reinstall dataset-fashion-mnist`), or put good copies of the four IDX files "
        "(.gz or plain) in a folder listed under data.local_dirs in params.yaml"
    )
    return blob, (_DAMAGED_FILE, damaged)


def fetch_verified(name: str, sources: list[str]) -> bytes:
    """Decompressed, verified bytes of one file from the first source that has a good copy.

    The error lists every source tried, and its fix follows what was seen: a damaged local file is
    named to be replaced, a missing folder is said to be missing, and the network is blamed only
    when a mirror could not be reached.
    """
    tried: list[str] = []
    fixes: list[tuple[int, str]] = []
    for source in sources:
        try:
            blob, if_damaged = (_from_mirror if "://" in source else _from_folder)(source, name)
            data = _decompress(blob, name)
            verify(name, data)
        except _Skip as skip:
            tried.append(skip.seen)
            fixes.append(skip.fix)
            continue
        except DataError as e:
            tried.append(f"{source}: {e}")
            fixes.append(if_damaged)
            log.warning("%s from %s rejected: %s", name, source, e)
            continue
        log.info("%s: verified from %s", name, source)
        return data
    if not sources:
        fixes.append((_NO_SOURCES, "list a mirror under data.mirrors or a folder under data.local_dirs in params.yaml"))
    advice = list(dict.fromkeys(text for _, text in sorted(fixes, key=lambda f: f[0])))
    raise DataError(
        f"no good copy of {name} in any source. Tried:\n  "
        + "\n  ".join(tried or ["(no sources configured)"])
        + ("\nFix: " if len(advice) == 1 else "\nFix (one good source is enough):\n  - ")
        + "\n  - ".join(advice)
    )


def download(out_dir: Path, sources: list[str]) -> None:
    """Write the four verified, decompressed IDX files into ``out_dir``, all or nothing."""
    blobs = {name: fetch_verified(name, sources) for name in FILES}
    with fileio.atomic_dir(out_dir) as tmp:
        for name, data in blobs.items():
            (tmp / name).write_bytes(data)


def read_raw(raw_dir: Path, name: str) -> np.ndarray:
    path = Path(raw_dir) / name
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro download` first")
    data = path.read_bytes()
    verify(name, data)
    return parse_idx(data, str(path))


# ---------------------------------------------------------------- prepare


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # [N, 784] float32 in [0, 1]
    y: np.ndarray  # [N] int64


def prepare(raw_dir: Path, val_size: int, subset: int | None, seed: int) -> dict[str, Split]:
    """Normalize to [0, 1], flatten to 784, keep labels, carve a seeded validation split from train.

    ``subset`` keeps the first N images of train and of test (before the split). The sizes are
    validated once, with the params (``aevae.params``).
    """
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_raw(raw_dir, f"{prefix}-images-idx3-ubyte")
        y = read_raw(raw_dir, f"{prefix}-labels-idx1-ubyte")
        if subset is not None:
            x, y = x[:subset], y[:subset]
        out[split] = Split((x.reshape(len(x), -1).astype(np.float32) / 255.0), y.astype(np.int64))
    train = out.pop("train")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(train.x), generator=g).numpy()
    val_idx, train_idx = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    out["train"] = Split(train.x[train_idx], train.y[train_idx])
    out["val"] = Split(train.x[val_idx], train.y[val_idx])
    return {k: out[k] for k in ("train", "val", "test")}


def write_prepared(out_dir: Path, splits: dict[str, Split]) -> None:
    with fileio.atomic_dir(out_dir) as tmp:
        for name, s in splits.items():
            np.save(tmp / f"{name}_x.npy", s.x)
            np.save(tmp / f"{name}_y.npy", s.y)


def load_split(name: str, mmap: bool = False) -> Split:
    """One prepared split, checked (``check_split``); ``mmap=True`` maps the images instead of reading them."""
    d = paths.PREPARED
    split = Split(fileio.load_npy(d / f"{name}_x.npy", mmap=mmap), fileio.load_npy(d / f"{name}_y.npy"))
    check_split(split, d / f"{name}_x.npy", d / f"{name}_y.npy")
    return split


def check_split(split: Split, x_path: Path, y_path: Path) -> None:
    """One clear error, before any work, for prepared arrays that are not what ``prepare`` writes: images
    ``[N, 784]`` of finite grey levels in [0, 1], one integer label in 0..9 per image."""
    x, y = split.x, split.y
    fix = "`dvc repro prepare` rebuilds the prepared splits from the raw files"
    if x.ndim != 2 or x.shape[1] != SIDE * SIDE or not np.issubdtype(x.dtype, np.floating):
        shape = f"{list(x.shape)} ({x.dtype})"
        raise StudyError(f"{x_path}: images of shape {shape}; expected [N, {SIDE * SIDE}] floats; {fix}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise StudyError(
            f"{y_path}: labels of shape {list(y.shape)} ({y.dtype}) for {len(x)} images; expected [{len(x)}] integers; "
            f"{fix}"
        )
    if len(y) and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise StudyError(f"{y_path}: labels outside 0..{len(CLASSES) - 1} (from {y.min()} to {y.max()}); {fix}")
    lo, hi = (float(np.min(x)), float(np.max(x))) if x.size else (0.0, 1.0)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise StudyError(f"{x_path}: grey levels outside [0, 1] or not finite (from {lo} to {hi}); {fix}")
