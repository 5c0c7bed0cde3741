"""Seeding, device choice and progress bars: the run-time conventions every stage shares."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from tqdm import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed ``random``, numpy and torch, make torch deterministic, return a dedicated generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=False)
    return torch.Generator().manual_seed(seed)


def device() -> torch.device:
    """CUDA when present, else CPU. ``AEVAE_DEVICE`` overrides (e.g. ``cpu`` on a GPU machine)."""
    name = os.environ.get("AEVAE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        # cuBLAS needs this for deterministic matmuls under use_deterministic_algorithms
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(name)


def quiet() -> bool:
    """No progress bars when ``QUIET`` (or CI) is set, e.g. in CI logs."""
    return bool(os.environ.get("QUIET") or os.environ.get("CI"))


def progress(iterable=None, **kwargs) -> tqdm:
    return tqdm(iterable, disable=quiet(), dynamic_ncols=True, leave=False, **kwargs)
