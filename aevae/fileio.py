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
import signal
import stat
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aevae.errors import OS_FIXES, StudyError, describe_os_error

log = logging.getLogger(__name__)


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # held while a set of outputs is being replaced


class OutputError(StudyError):
    """An output that cannot be written; whatever was at the path before is unchanged."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    with _atomic((path,), ()) as ([tmp], _):
        yield tmp


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temp folder beside ``path``; on success it replaces ``path`` whole.

    The swap is two renames, each atomic: the old folder aside under a unique name (so a leftover
    of a killed run never blocks a later one), the new one in; if the second fails the old one is
    put back. The old folder is deleted only after the new one is in place.
    """
    with _atomic((), (path,)) as (_, [tmp]):
        yield tmp


@contextlib.contextmanager
def atomic_outputs(files: tuple = (), folders: tuple = ()) -> Iterator[tuple[list[Path], list[Path]]]:
    """A stage's outputs written as one set: checked first (``check_outputs``), then a temp path beside each
    file and a temp folder beside each folder, yielded as (file temps, folder temps) in order. When the block
    ends without error the temps replace their outputs in one commit (``_commit``: Ctrl-C and SIGTERM wait
    until it ends; a failed step puts back every output already replaced), else none does. A full disk or a
    kill while writing or replacing leaves every output as it was, never new arrays beside old metrics."""
    check_outputs(*files, *folders)
    with _atomic(files, folders) as temps:
        yield temps


@dataclass
class _Entry:
    path: Path  # the output as the stage names it
    target: Path  # where it is written (``_target``: a file's symlink followed)
    tmp: Path  # its new version, filled by the caller
    folder: bool
    old: Path | None = None  # its previous version while the commit runs
    placed: bool = False  # the new version is at ``target``


@contextlib.contextmanager
def _atomic(files, folders) -> Iterator[tuple[list[Path], list[Path]]]:
    entries: list[_Entry] = []
    try:
        entries += [_begin(Path(p), folder=False) for p in files]
        entries += [_begin(Path(p), folder=True) for p in folders]
        with _set_errors(entries):
            yield [e.tmp for e in entries if not e.folder], [e.tmp for e in entries if e.folder]
        _commit(entries)
    finally:
        for e in entries:
            if os.path.lexists(e.tmp):
                _discard(e.tmp)


def _begin(path: Path, folder: bool) -> _Entry:
    """A temp file or folder beside ``path``'s target, made as an ordinary one (mkstemp makes them private)."""
    target = _target(path, folder)
    with _output_errors(path):
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.name}."
        if folder:
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=".tmp"))
        else:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=".tmp")
            os.close(fd)
            tmp = Path(name)
    try:
        with _output_errors(path):
            tmp.chmod(0o755 if folder else 0o644)
    except BaseException:
        _discard(tmp)
        raise
    return _Entry(path, target, tmp, folder)


@contextlib.contextmanager
def _set_errors(entries: list[_Entry]) -> Iterator[None]:
    """While the caller fills the temps: an ``OSError`` about one of them is one ``OutputError`` naming its
    output; one that names no file (``write`` on a full disk) names every output of the set."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno in OS_FIXES:
            raise OutputError(describe_os_error(e, f"cannot write {', '.join(str(x.path) for x in entries)}")) from e
        about = next((x for x in entries if e.filename is not None and _about(e, x.tmp)), None)
        if about is None:
            raise  # a failed read of an input is not a failed write
        raise OutputError(describe_os_error(e, f"cannot write {about.path}")) from e


def _commit(entries: list[_Entry]) -> None:
    """Put every temp at its output. Ctrl-C and SIGTERM are held until the commit ends (then they act, on a
    complete set); a failed step puts back what was already replaced. Previous versions are deleted last."""
    with _signals_held():
        try:
            for e in entries:
                with _output_errors(e.path):
                    _place(e)
        except BaseException:
            _roll_back(entries)
            raise
        for e in entries:
            if e.old is not None:
                _discard(e.old)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM recorded, not acted on, inside the block; raised again once it ends. Python runs
    signal handlers in the main thread whichever thread the signal reaches (torch's pools included), so the
    handlers are swapped rather than the thread's signal mask; elsewhere than the main thread, nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in HELD_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)


def _place(e: _Entry) -> None:
    """A file: its previous version kept as a hard link, then ``os.replace`` (the path never goes missing). A
    folder: the previous one renamed aside, the new one renamed in."""
    if os.path.lexists(e.target):
        e.old = e.target.with_name(f".{e.target.name}.{uuid.uuid4().hex[:12]}.old")
        try:
            if e.folder:
                raise IsADirectoryError  # a folder cannot be hard-linked: renamed aside
            os.link(e.target, e.old, follow_symlinks=False)
        except OSError:  # a folder, or a file system without hard links
            os.rename(e.target, e.old)
    os.replace(e.tmp, e.target)
    e.placed = True


def _roll_back(entries: list[_Entry]) -> None:
    """Undo ``_place`` for every entry, last first; a step that fails is named with where the previous version
    is, never hidden."""
    lost = []
    for e in reversed(entries):
        try:
            if e.placed and e.folder:
                os.rename(e.target, e.tmp)  # the new folder back to its temp name (deleted with the temps)
            if e.placed and not e.folder and e.old is None:
                os.unlink(e.target)  # there was nothing before
            if e.old is not None and (e.placed or not os.path.lexists(e.target)):
                os.replace(e.old, e.target)
            elif e.old is not None:
                os.unlink(e.old)  # a file not yet replaced: its backup link only
            e.old, e.placed = None, False
        except OSError as err:
            lost.append(f"{e.path} (its previous version is at {e.old}: move it back; {err.strerror or err})")
    if lost:
        raise OutputError(f"cannot write {lost[0].split(' (')[0]}, and could not put back " + "; ".join(lost))


def _target(path: Path, folder: bool) -> Path:
    """The real path to write. A folder output that is a symlink is refused (the folder is replaced whole, which
    would delete whatever else the link's target holds). A file output's symlink is followed, so the link stays
    and its target gets the content (a file linked to a bigger disk stays there). The exception is a link to a
    read-only file: that is how DVC's cache protects the files it links out (``cache.type: symlink``), and
    writing through the link would corrupt the cache, so such a link is replaced as ``dvc unprotect`` would.
    """
    if not path.is_symlink():
        return path
    if folder:
        raise OutputError(_linked_folder(path))
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError) as e:  # Python 3.11 raises RuntimeError for a symlink loop
        raise OutputError(f"cannot write {path}: the symlink cannot be followed ({e}); fix or remove the link") from e
    if real.is_file() and not real.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return path
    return real


def _linked_folder(path: Path) -> str:
    return (f"cannot write {path}: it is a symlink to {os.readlink(path)}, and the stage replaces this folder "
            f"whole, which would delete whatever else the link's target holds; remove the link (or link the folder "
            f"that holds it, {path.parent}, instead), then re-run")  # fmt: skip


def check_outputs(*outputs: Path) -> None:
    """Fail before any work, not after it, when an output could not be written: an output folder that is a
    symlink (``atomic_dir`` refuses it) or a symlink to nothing, or an output folder or the folder that holds an
    output that this user may not change (read-only or immutable, or on a read-only file system: ``os.access``
    sees all three, for root too). Nothing is created; a full disk shows only when the write comes."""
    for out in map(Path, outputs):
        if out.is_symlink() and out.is_dir():
            raise OutputError(_linked_folder(out))
        if out.is_symlink() and not out.exists():
            raise OutputError(f"cannot write {out}: it is a symlink to {os.readlink(out)}, which does not exist; "
                              "remove the link or restore its target, then re-run")  # fmt: skip
        # replacing a file needs its folder's consent only (DVC's hardlink cache leaves outputs read-only)
        _check_changeable(out, out if out.is_dir() else out.parent)


def _check_changeable(out: Path, folder: Path) -> None:
    folder = next(p for p in (folder, *folder.parents) if p.exists())  # the one a missing folder would be made in
    if not os.access(folder, os.W_OK):
        why = "a read-only file system" if _read_only_fs(folder) else "its mode, its owner or an immutable flag"
        raise OutputError(f"cannot write {out}: {folder} does not allow changes ({why}); fix it (`ls -ld {folder}`, "
                          f"`lsattr -d {folder}`: `chattr -i` lifts the flag), then re-run")  # fmt: skip


def check_pipeline_outputs(outputs, holders=()) -> None:
    """What DVC deletes before a pipeline's stages run, checked before it does: ``check_outputs`` on each of
    ``outputs`` and on the per-run files and folders inside each of ``holders`` (``data/eval/<run>``...). A holder
    itself may be a symlink (e.g. ``data/models`` on a bigger disk): it is never replaced, only written into."""
    inside = [c for h in map(Path, holders) if h.is_dir() for c in sorted(h.iterdir())]
    check_outputs(*outputs, *inside)
    for h in map(Path, holders):
        _check_changeable(h, h)


def _read_only_fs(p: Path) -> bool:
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON into ``path`` (not atomically: a temp path from ``atomic_path``), as ``write_json``."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


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
