"""Atomic writes: a temp file in the destination folder, then ``os.replace``; loads with one clear error.

A crash, an error or Ctrl-C mid-write never leaves a partial file at an output path, and whatever was
there before stays until the new file is complete. An output file that is a symlink stays a link: the
file it points to gets the new content. An output folder that is a symlink is refused: the folder is
replaced whole, which would delete whatever else its target holds. An output that cannot be written
(read-only or immutable folder, full disk) is one ``OutputError`` naming the path and the cause;
``check_outputs`` says so before the work that would fill it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aevae.errors import OS_FIXES, StudyError, describe_os_error

log = logging.getLogger(__name__)


class OutputError(StudyError):
    """An output that cannot be written; whatever was at the path before is unchanged."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    target = _target(path, folder=False)
    with _output_errors(path):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    tmp = Path(name)
    try:
        with _output_errors(path):
            tmp.chmod(0o644)  # mkstemp makes it private; the output is an ordinary file
        with _output_errors(path, written=tmp):
            yield tmp
        with _output_errors(path):
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            _discard(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``path``; on success it replaces ``path`` whole.

    The swap is two renames, each atomic: the old folder aside under a unique name (so a leftover
    of a killed run never blocks a later one), the new one in; if the second fails the old one is
    put back. The old folder is deleted only after the new one is in place.
    """
    path = Path(path)
    target = _target(path, folder=True)
    with _output_errors(path):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        with _output_errors(path):
            tmp.chmod(0o755)  # mkdtemp makes it private; the output is an ordinary folder
        with _output_errors(path, written=tmp):
            yield tmp
        with _output_errors(path):
            _swap_in(tmp, target, path)
    finally:
        if tmp.exists():
            _discard(tmp)


def _target(path: Path, folder: bool) -> Path:
    """The real path to write: a symlink is followed, so the link stays and its target gets the content.

    Outputs are linked elsewhere on purpose (a folder on a bigger disk); replacing the link by a real
    file or folder would silently move the data. The exception is a link to a read-only file: that is
    how DVC's cache protects the files it links out (``cache.type: symlink``), and writing through
    the link would corrupt the cache, so such a link is replaced as ``dvc unprotect`` would.
    """
    if not path.is_symlink():
        return path
    if folder:
        raise OutputError(_linked_folder(path))
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError) as e:  # Python 3.11 raises RuntimeError for a symlink loop
        raise OutputError(f"cannot write {path}: the symlink cannot be followed ({e}); fix or remove the link") from e
    if not folder and real.is_file() and not real.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return path
    return real


@contextlib.contextmanager
def atomic_outputs(files: tuple = (), folders: tuple = ()) -> Iterator[tuple[list[Path], list[Path]]]:
    """A stage's outputs written as one set: checked first (``check_outputs``), then a temp path beside each
    file and a temp folder beside each folder, yielded as (file temps, folder temps) in order; when the block
    ends without error every temp replaces its output, else none does. A full disk or a kill while writing
    leaves every output as it was, never new arrays beside old metrics."""
    check_outputs(*files, *folders)
    with contextlib.ExitStack() as stack:
        file_tmps = [stack.enter_context(atomic_path(p)) for p in files]
        folder_tmps = [stack.enter_context(atomic_dir(p)) for p in folders]
        yield file_tmps, folder_tmps


def _linked_folder(path: Path) -> str:
    return (f"cannot write {path}: it is a symlink to {os.readlink(path)}, and the stage replaces this folder "
            f"whole, which would delete whatever else the link's target holds; remove the link (or link its parent "
            f"folder, {path.parent.name}/, instead), then re-run")  # fmt: skip


def check_outputs(*outputs: Path) -> None:
    """Fail before any work, not after it, when an output could not be written: an output folder that is a
    symlink (``atomic_dir`` refuses it), or an output folder or the folder that holds an output that this user
    may not change (read-only or immutable, or on a read-only file system: ``os.access`` sees all three, for root
    too).
    Folders that do not exist yet are made. A full disk shows only when the write comes."""
    for out in map(Path, outputs):
        if out.is_symlink() and out.is_dir():
            raise OutputError(_linked_folder(out))
        with _output_errors(out):
            out.parent.mkdir(parents=True, exist_ok=True)
        # replacing a file needs its folder's consent only (DVC's hardlink cache leaves outputs read-only)
        for p in (out.parent, out) if out.is_dir() else (out.parent,):
            if not os.access(p, os.W_OK):
                why = "a read-only file system" if _read_only_fs(p) else "its mode, its owner or an immutable flag"
                raise OutputError(f"cannot write {out}: {p} does not allow changes ({why}); fix it (`ls -ld {p}`, "
                                  f"`lsattr -d {p}`: `chattr -i` lifts the flag), then re-run")  # fmt: skip


def check_pipeline_outputs(outputs) -> None:
    """``check_outputs`` for a pipeline's output paths and for the per-run files and folders inside those that
    are folders (``data/eval/<run>``...): what DVC deletes before a stage runs, checked before it does."""
    outputs = [Path(o) for o in outputs]
    inside = [c for o in outputs if o.is_dir() and not o.is_symlink() for c in sorted(o.iterdir())]
    check_outputs(*outputs, *inside)


def _read_only_fs(p: Path) -> bool:
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON into ``path`` (not atomically: a temp path from ``atomic_path``), as ``write_json``."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _swap_in(tmp: Path, target: Path, path: Path) -> None:
    """Put folder ``tmp`` at ``target``, moving what was there aside and deleting it afterwards."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
    os.rename(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:  # Ctrl-C included: the previous version goes back before anything else
        try:
            os.rename(old, target)
        except OSError as e:
            raise OutputError(f"cannot write {path}; its previous version is at {old}: move it back ({e})") from e
        raise
    _discard(old)


def _discard(p: Path) -> None:
    """Delete a temp or set-aside file or folder; a failure is logged, never hidden and never fatal.

    The output is already complete (or the write already failed with its own error), and the
    unique name means a leftover blocks nothing; it only wastes disk, so the user is told where.
    """
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    except OSError as e:
        log.warning("could not delete %s (%s); delete it by hand", p, e.strerror or e)


@contextlib.contextmanager
def _output_errors(path: Path, written: Path | None = None) -> Iterator[None]:
    """Turn an ``OSError`` into one ``OutputError`` line naming the output ``path`` and the cause.

    With ``written`` (the temp file or folder the caller fills) only errors about writing it are
    turned: the caller may also read inputs there, and a failed read is not a failed write. An error
    with no file name counts when its errno is a full or read-only disk (``write`` names no file).
    """
    try:
        yield
    except OSError as e:
        if written is not None and not _about(e, written):
            raise
        raise OutputError(describe_os_error(e, f"cannot write {path}")) from e


def _about(e: OSError, written: Path) -> bool:
    if e.filename is None:
        return e.errno in OS_FIXES
    name, root = os.path.abspath(e.filename), os.path.abspath(written)
    return name == root or name.startswith(root + os.sep)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    """JSON with sorted keys and a trailing newline, so equal content gives equal bytes."""
    with atomic_path(path) as tmp:
        dump_json(tmp, obj)


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


def restore_hint(path: Path) -> str:
    """The fix for a missing or damaged pipeline file: restore it, or rebuild only what changed.

    Not ``dvc repro --force``: that re-runs every upstream stage, for a file the cache already has.
    ``dvc checkout`` alone refuses to overwrite a file that differs from the cache: ``--force`` does.
    """
    return f"`dvc checkout --force {path}` restores the cached version; `dvc repro` rebuilds what is missing or changed"


def load_torch(path: Path) -> Any:
    """Load a checkpoint without executing anything in it (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StudyError(f"{path}: missing; {restore_hint(path)}") from None
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError... for a bad file
        unsafe = _pickled_code(e)
        if unsafe:
            raise StudyError(
                f"{path}: refused for safety: it holds pickled code ({unsafe}) that loading would run, so it is "
                f"not a checkpoint this study wrote (those hold only tensors and plain values); {restore_hint(path)}"
            ) from None
        raise StudyError(
            f"{path}: not a checkpoint this study wrote, or corrupt ({_torch_cause(e)}); {restore_hint(path)}"
        ) from None


def _pickled_code(e: Exception) -> str | None:
    """The code reference torch's safe unpickler refused (``posix.system``), or None for another failure.

    torch's own message for it advises re-loading with ``weights_only=False``, i.e. running that
    code; it is never shown.
    """
    if isinstance(e, pickle.UnpicklingError):
        # "Unsupported global: GLOBAL io.open ..." or "unsupported GLOBAL posix.system whose module ..."
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        if m:
            return m.group(1)
    return None


def _torch_cause(e: Exception) -> str:
    """A short cause: torch's first sentence, without its advice to load the file unsafely."""
    if isinstance(e, OSError):
        return e.strerror or type(e).__name__
    if isinstance(e, EOFError):
        return "it ends early: empty or truncated"
    lines = [line.strip() for line in str(e).splitlines()]
    # torch wraps the unpickler's complaint in advice (weights_only=False, allowlists, docs): keep the complaint
    facts = [line for line in lines if line and not re.search(r"weights_only|trust|documentation|allowlist", line)]
    first = facts[0].removeprefix("WeightsUnpickler error:").split(". ")[0].strip().rstrip(".") if facts else ""
    if isinstance(e, pickle.UnpicklingError):
        return f"unreadable pickle data: {first or type(e).__name__}"
    return first or type(e).__name__


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` (no pickles) with one clear error for a missing, corrupt or unsafe file."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise StudyError(f"{path}: missing; {restore_hint(path)}") from None
    except (ValueError, EOFError, OSError) as e:
        raise StudyError(f"{path}: {_npy_cause(path, e)}; {restore_hint(path)}") from None


def _npy_cause(path: Path, e: Exception) -> str:
    """What is wrong with an array file, in words; numpy's advice to allow pickles is never shown."""
    if isinstance(e, OSError):
        return f"cannot be read ({e.strerror or type(e).__name__})"
    if isinstance(e, EOFError):
        return "corrupt or truncated (empty)"
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:1] == b"\x80":  # numpy's guess for any non-.npy file; true only for this pickle opcode
        return "refused for safety: a pickle, which loading could make run code, not a .npy array"
    if magic != b"\x93NUMPY":
        return "corrupt or not a .npy file (no .npy header)"
    if "object" in str(e).lower():  # "Object arrays cannot be loaded", "Python objects in dtype"
        return "refused for safety: an array of pickled Python objects, not numbers"
    return f"corrupt or truncated ({str(e).split('. ')[0].rstrip('.')})"
