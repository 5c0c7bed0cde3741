"""Seeding (global, and one stream per random quantity), device choice, progress bars: what every stage shares."""

from __future__ import annotations

import hashlib
import os
import random
import re

import numpy as np
import torch
from tqdm import tqdm

from aevae.errors import StudyError

DEVICE_VAR = "AEVAE_DEVICE"


def seed_everything(seed: int) -> torch.Generator:
    """Seed ``random``, numpy and torch, make torch deterministic, return a dedicated generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=False)
    return torch.Generator().manual_seed(seed)


def stream(seed: int, name: str) -> torch.Generator:
    """A dedicated CPU generator for one named random quantity (``"split"``, ``"init"``, ...).

    Seeded from the first 8 bytes (big-endian) of sha256 of ``f"{seed}:{name}"``, masked to 63 bits:
    two names never share a stream, so drawing more numbers for one quantity cannot move another,
    and the seed is the same in every process (unlike ``hash()``, which is salted per process).
    """
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") & (2**63 - 1))


def int_seed(seed: int, name: str) -> int:
    """A 31-bit integer seed of the named stream (``stream``), for the libraries that want an int (scikit-learn,
    numpy, ``fid.kid``, the judge's training)."""
    return int(torch.randint(2**31 - 1, (1,), generator=stream(seed, name)).item())


def device() -> torch.device:
    """CUDA when present, else CPU. ``AEVAE_DEVICE`` overrides: ``cpu``, ``cuda`` or ``cuda:N``.

    Checked here, so a typo or a GPU that is not there is one clear error before any work, not a
    torch traceback in the middle of a stage.
    """
    name = os.environ.get(DEVICE_VAR, "").strip()
    if not name:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        _check_device(name)
    if name.startswith("cuda"):
        # cuBLAS needs this for deterministic matmuls under use_deterministic_algorithms
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(name)


def _check_device(name: str) -> None:
    fix = f"unset it (CUDA when present, else CPU) or set {DEVICE_VAR}=cpu"
    m = re.fullmatch(r"cpu|cuda(?::(0|[1-9]\d*))?", name)
    if not m:
        raise StudyError(f"{DEVICE_VAR}={name}: unknown device; allowed: cpu, cuda, cuda:N; {fix}")
    if name == "cpu":
        return
    if not torch.cuda.is_available():
        raise StudyError(f"{DEVICE_VAR}={name}: this machine has no usable CUDA device; {fix}")
    count = torch.cuda.device_count()
    if m.group(1) is not None and int(m.group(1)) >= count:
        raise StudyError(
            f"{DEVICE_VAR}={name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}; "
            f"pick one of those, or {fix}"
        )


def quiet() -> bool:
    """No progress bars when ``QUIET`` (or CI) is set, e.g. in CI logs."""
    return bool(os.environ.get("QUIET") or os.environ.get("CI"))


def progress(iterable=None, **kwargs) -> tqdm:
    return tqdm(iterable, disable=quiet(), dynamic_ncols=True, leave=False, **kwargs)
