"""Atomic writes: a temp file in the destination folder, then ``os.replace``.

A crash or an error mid-write never leaves a partial file at an output path, and whatever was
there before stays until the new file is complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes it private; the output is an ordinary file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``path``; on success it replaces ``path`` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    tmp.chmod(0o755)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    """JSON with sorted keys and a trailing newline, so equal content gives equal bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def torch_bytes(obj: Any) -> bytes:
    """Serialize with ``torch.save`` into memory.

    ``torch.save`` writes the file's name into the archive; saving to a buffer gives a fixed name,
    so the bytes (and DVC's hash) do not depend on the temp file's random name.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_torch(path: Path, obj: Any) -> None:
    write_bytes(path, torch_bytes(obj))


def load_torch(path: Path) -> Any:
    """Load a checkpoint without executing anything in it (``weights_only=True``)."""
    from aevae.errors import StudyError

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StudyError(f"{path}: missing; run `dvc repro` (or `dvc checkout` to restore it)") from None
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError... for a bad file
        raise StudyError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}); "
            "`dvc checkout` restores the cached version, `dvc repro --force` rebuilds it"
        ) from None


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` (no pickles) with one clear error for a missing or corrupt file."""
    from aevae.errors import StudyError

    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise StudyError(f"{path}: missing; run `dvc repro` (or `dvc checkout` to restore it)") from None
    except (ValueError, EOFError, OSError) as e:
        raise StudyError(
            f"{path}: corrupt or truncated ({e}); `dvc checkout` restores the cached version, "
            "`dvc repro --force` rebuilds it"
        ) from None
