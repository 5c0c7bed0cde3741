import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aevae import errors, fileio, paths
from aevae.errors import StudyError

RESTORE = "`dvc checkout --force {}` restores the cached version; `dvc repro` rebuilds what is missing or changed"


def test_atomic_write_keeps_old_content_on_error(tmp_path):
    f = tmp_path / "out.json"
    fileio.write_json(f, {"b": 1, "a": 2})
    assert f.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'  # sorted keys, trailing newline
    with pytest.raises(RuntimeError), fileio.atomic_path(f) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert f.read_text().startswith('{\n  "a": 2')
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    d = tmp_path / "eval"
    with fileio.atomic_dir(d) as tmp:
        (tmp / "a.npy").write_text("1")
    with pytest.raises(RuntimeError), fileio.atomic_dir(d) as tmp:
        (tmp / "b.npy").write_text("2")
        raise RuntimeError
    assert [p.name for p in d.iterdir()] == ["a.npy"]
    with fileio.atomic_dir(d) as tmp:
        (tmp / "c.npy").write_text("3")
    assert [p.name for p in d.iterdir()] == ["c.npy"]  # stale files never survive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_torch_bytes_do_not_depend_on_the_file_name(tmp_path):
    obj = {"w": torch.arange(5.0)}
    fileio.save_torch(tmp_path / "a.pt", obj)
    fileio.save_torch(tmp_path / "other-name.pt", obj)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other-name.pt").read_bytes()


def test_a_symlinked_output_folder_is_refused_before_anything_is_touched(tmp_path):
    """The folder is replaced whole: through a link that would delete whatever else the target holds."""
    elsewhere = tmp_path / "disk" / "eval"
    elsewhere.mkdir(parents=True)
    (elsewhere / "theirs.txt").write_text("keep")
    link = tmp_path / "out" / "eval"
    link.parent.mkdir()
    link.symlink_to(elsewhere, target_is_directory=True)
    want = rf"cannot write {link}: it is a symlink to {elsewhere}, and the stage replaces this folder whole.*remove"
    with pytest.raises(fileio.OutputError, match=want):
        fileio.check_outputs(tmp_path / "out" / "run.json", link)
    with pytest.raises(fileio.OutputError, match=want), fileio.atomic_dir(link) as tmp:
        (tmp / "new.npy").write_text("1")
    assert [p.name for p in elsewhere.iterdir()] == ["theirs.txt"] and link.is_symlink()
    assert [p.name for p in link.parent.iterdir()] == ["eval"]


def test_an_output_set_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk while the second output is written: the first is not replaced either (new arrays beside old
    metrics was the failure), and no temp is left."""
    run, folder = tmp_path / "run.json", tmp_path / "eval"
    with fileio.atomic_outputs(files=(run,), folders=(folder,)) as ([js], [d]):
        (d / "a.npy").write_text("old")
        fileio.dump_json(js, {"v": "old"})

    def disk_full(self, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(fileio.OutputError, match="No space left on device; the disk is full"):
        with fileio.atomic_outputs(files=(run,), folders=(folder,)) as ([js], [d]):
            (d / "a.npy").write_text("new")
            monkeypatch.setattr(pathlib.Path, "write_text", disk_full)
            fileio.dump_json(js, {"v": "new"})
    monkeypatch.undo()
    assert (folder / "a.npy").read_text() == "old" and json.loads(run.read_text()) == {"v": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "run.json"]


def _a_set(tmp_path, value: str):
    run, folder = tmp_path / "run.json", tmp_path / "eval"
    with fileio.atomic_outputs(files=(run,), folders=(folder,)) as ([js], [d]):
        (d / "a.npy").write_text(value)
        fileio.dump_json(js, {"v": value})
    return run, folder


def _state(tmp_path):
    return json.loads((tmp_path / "run.json").read_text())["v"], (tmp_path / "eval" / "a.npy").read_text()


def test_a_failed_step_of_the_commit_puts_back_what_it_had_replaced(tmp_path, monkeypatch):
    """The file is replaced first; the folder's rename then fails: the file goes back to its previous version."""
    run, folder = _a_set(tmp_path, "old")
    real = os.replace

    def fail_on_the_folder(src, dst):
        if Path(dst) == folder and str(src).endswith(".tmp"):
            raise OSError(errno.EIO, "Input/output error", str(src))
        real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", fail_on_the_folder)
    with pytest.raises(fileio.OutputError, match=f"cannot write {folder}: Input/output error"):
        _a_set(tmp_path, "new")
    monkeypatch.undo()
    assert _state(tmp_path) == ("old", "old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "run.json"]  # no temp, no set-aside copy


def test_sigterm_during_the_commit_waits_until_the_set_is_whole(tmp_path, monkeypatch):
    _a_set(tmp_path, "old")
    real, sent = fileio._place, []

    def place_then_kill(e):
        real(e)
        if not sent:  # after the first output is replaced, before the second
            sent.append(os.kill(os.getpid(), signal.SIGTERM))

    monkeypatch.setattr(fileio, "_place", place_then_kill)
    previous = signal.signal(signal.SIGTERM, errors._terminate)
    try:
        with pytest.raises(errors.Terminated):
            _a_set(tmp_path, "new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent and _state(tmp_path) == ("new", "new")  # delivered once the commit had ended
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "run.json"]


def test_a_holder_of_run_outputs_may_be_a_symlink_but_a_run_folder_may_not(tmp_path):
    disk = tmp_path / "disk"
    (disk / "vae-0").mkdir(parents=True)
    holder = tmp_path / "data" / "eval"
    holder.parent.mkdir()
    holder.symlink_to(disk, target_is_directory=True)  # data/eval on a bigger disk: written into, never replaced
    fileio.check_pipeline_outputs([tmp_path / "data" / "params.ok"], holders=[holder])
    (disk / "vae-1").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(fileio.OutputError, match=f"cannot write {holder / 'vae-1'}: it is a symlink to {tmp_path}"):
        fileio.check_pipeline_outputs([], holders=[holder])
    (disk / "vae-1").unlink()
    (disk / "vae-1").symlink_to(tmp_path / "gone")
    with pytest.raises(fileio.OutputError, match="which does not exist; remove the link"):
        fileio.check_pipeline_outputs([], holders=[holder])


def test_an_output_folder_that_refuses_changes_is_named_before_the_work(tmp_path, monkeypatch):
    """An immutable folder (chattr +i, which refuses root too) or a read-only one: os.access says no."""
    locked = tmp_path / "eval"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(fileio.os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    with pytest.raises(fileio.OutputError) as e:
        fileio.check_pipeline_outputs([tmp_path / "run.json"], holders=[tmp_path])
    assert str(e.value).startswith(f"cannot write {locked}: {locked} does not allow changes (its mode, its owner or "
                                   "an immutable flag); fix it (`ls -ld")  # fmt: skip
    assert "chattr -i" in str(e.value) and "\n" not in str(e.value)


def test_sigterm_is_one_line_and_leaves_the_output_as_it_was(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("before")
    script = (
        "import pathlib, sys, time\n"
        "from aevae import fileio\nfrom aevae.errors import cli\n"
        "def main():\n"
        f"    with fileio.atomic_path(pathlib.Path({str(out)!r})) as tmp:\n"
        "        tmp.write_text('half')\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
        "cli(main)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=paths.ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.strip() == f"error: {errors.TERMINATED}" and "Traceback" not in err
    assert out.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_path_writes_through_a_symlinked_file_twice(tmp_path):
    target = tmp_path / "disk" / "ae.pt"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "out" / "ae.pt"
    link.parent.mkdir()
    link.symlink_to(target)
    for run in ("1", "2"):
        fileio.write_text(link, run)
        assert link.is_symlink() and link.resolve() == target.resolve()
        assert target.read_text() == run
        assert [p.name for p in link.parent.iterdir()] == ["ae.pt"]
        assert [p.name for p in target.parent.iterdir()] == ["ae.pt"]


def test_atomic_path_never_writes_into_a_read_only_link_target(tmp_path):
    """DVC's symlink cache links outputs to read-only files; writing through would corrupt the cache."""
    cached = tmp_path / "cache" / "ab12"
    cached.parent.mkdir()
    cached.write_text("cached")
    cached.chmod(0o444)
    link = tmp_path / "ae.pt"
    link.symlink_to(cached)
    fileio.write_text(link, "new")
    assert not link.is_symlink() and link.read_text() == "new"
    assert cached.read_text() == "cached"


def test_stale_leftovers_never_block_atomic_dir(tmp_path):
    d = tmp_path / "eval"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".eval.old").symlink_to(elsewhere, target_is_directory=True)  # what the old code left behind
    for run in ("1", "2"):
        with fileio.atomic_dir(d) as tmp:
            (tmp / "a.npy").write_text(run)
        assert (d / "a.npy").read_text() == run
    assert sorted(p.name for p in tmp_path.iterdir()) == [".eval.old", "elsewhere", "eval"]


def test_interrupted_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    d = tmp_path / "eval"
    with fileio.atomic_dir(d) as tmp:
        (tmp / "a.npy").write_text("old")
    real_replace = os.replace

    def ctrl_c_on_swap(src, dst):
        if str(src).endswith(".tmp"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", ctrl_c_on_swap)
    with pytest.raises(KeyboardInterrupt), fileio.atomic_dir(d) as tmp:
        (tmp / "b.npy").write_text("new")
    assert [p.name for p in d.iterdir()] == ["a.npy"] and (d / "a.npy").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_full_disk_is_one_line_naming_the_output(tmp_path, monkeypatch):
    f = tmp_path / "out.json"
    fileio.write_json(f, {"a": 1})

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write(2) raises: no file name

    monkeypatch.setattr(pathlib.Path, "write_bytes", disk_full)
    monkeypatch.setattr(pathlib.Path, "write_text", disk_full)
    with pytest.raises(fileio.OutputError) as e:
        fileio.write_json(f, {"a": 2})
    assert str(e.value).startswith(f"cannot write {f}: No space left on device; the disk is full: free some space")
    assert "\n" not in str(e.value)
    assert f.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_unwritable_folder_is_one_line_naming_the_output(tmp_path, monkeypatch):
    d = tmp_path / "eval"

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".eval.x.tmp"))

    monkeypatch.setattr(fileio.tempfile, "mkdtemp", denied)
    with pytest.raises(fileio.OutputError, match=rf"cannot write {d}: Permission denied: .*check the owner and mode"):
        with fileio.atomic_dir(d):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line_naming_the_output(tmp_path):
    f = tmp_path / "ro" / "out.json"
    f.parent.mkdir()
    f.write_text("before")
    f.parent.chmod(0o555)
    try:
        with pytest.raises(fileio.OutputError, match=rf"cannot write {f}: Permission denied"):
            fileio.write_json(f, {})
    finally:
        f.parent.chmod(0o755)
    assert f.read_text() == "before"


def test_a_failed_read_inside_atomic_dir_stays_what_it_is(tmp_path):
    """Only errors about the output are turned into "cannot write": a missing input is not one."""
    with pytest.raises(FileNotFoundError), fileio.atomic_dir(tmp_path / "eval"):
        (tmp_path / "missing-input.npy").read_bytes()
    assert list(tmp_path.iterdir()) == []


def _assert_clean(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert "weights_only=False" not in message and "allow_pickle" not in message and "repro --force" not in message


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"", "it ends early: empty or truncated"),
        (b"garbage", "unreadable pickle data: Unsupported operand 103"),
        (b"PK\x03\x04truncated zip", "PytorchStreamReader failed reading zip archive: not a ZIP archive"),
    ],
)
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, content, cause):
    f = tmp_path / "vae.pt"
    f.write_bytes(content)
    with pytest.raises(StudyError) as e:
        fileio.load_torch(f)
    assert str(e.value) == f"{f}: not a checkpoint this study wrote, or corrupt ({cause}); {RESTORE.format(f)}"
    _assert_clean(str(e.value))


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    f = tmp_path / "vae.pt"
    fileio.save_torch(f, {"w": torch.arange(1000.0)})
    assert torch.equal(fileio.load_torch(f)["w"], torch.arange(1000.0))
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(StudyError, match=r"vae.pt: not a checkpoint this study wrote, or corrupt \(Pytorch") as e:
        fileio.load_torch(f)
    _assert_clean(str(e.value))


def test_missing_checkpoint_or_array_says_how_to_restore_it(tmp_path):
    for load, f in ((fileio.load_torch, tmp_path / "nope.pt"), (fileio.load_npy, tmp_path / "nope.npy")):
        with pytest.raises(StudyError) as e:
            load(f)
        assert str(e.value) == f"{f}: missing; {RESTORE.format(f)}"


class _Payload:
    """Unpickling this creates ``marker`` by calling ``how``: any code could stand in its place."""

    def __init__(self, marker, how="open"):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        return (open, (self.marker, "w")) if self.how == "open" else (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize(("how", "code"), [("open", "io.open"), ("system", "posix.system")])
def test_checkpoint_that_would_execute_code_is_refused(tmp_path, how, code):
    f, marker = tmp_path / "evil.pt", tmp_path / "executed"
    torch.save({"x": _Payload(marker, how)}, f)
    with pytest.raises(StudyError) as e:
        fileio.load_torch(f)
    assert not marker.exists()
    msg = str(e.value)
    assert msg.startswith(f"{f}: refused for safety: it holds pickled code ({code}) that loading would run")
    assert msg.endswith(RESTORE.format(f))
    _assert_clean(msg)
    loaded = torch.load(f, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()
    if how == "open":
        loaded["x"].close()


def test_truncated_array_is_one_clear_error(tmp_path):
    f = tmp_path / "x.npy"
    fileio.save_npy(f, np.arange(1000, dtype=np.float32))
    np.testing.assert_array_equal(fileio.load_npy(f, mmap=True), np.arange(1000))
    f.write_bytes(f.read_bytes()[:500])
    for mmap in (False, True):
        with pytest.raises(StudyError, match="x.npy: corrupt or truncated") as e:
            fileio.load_npy(f, mmap=mmap)
        assert str(e.value).endswith(RESTORE.format(f))
        _assert_clean(str(e.value))


@pytest.mark.parametrize(
    ("write", "cause"),
    [
        (lambda f: f.write_bytes(b"<html>not found</html>"), "corrupt or not a .npy file"),
        (lambda f: torch.save(_Payload(f.parent / "executed"), f, _use_new_zipfile_serialization=False), "a pickle"),
        (lambda f: np.save(f, np.array([{"a": 1}], dtype=object)), "an array of pickled Python objects"),
    ],
)
def test_foreign_or_pickled_array_file_is_refused(tmp_path, write, cause):
    f = tmp_path / "x.npy"
    write(f)
    for mmap in (False, True):
        with pytest.raises(StudyError) as e:
            fileio.load_npy(f, mmap=mmap)
        assert str(e.value).startswith(f"{f}: ") and cause in str(e.value)
        _assert_clean(str(e.value))
    assert not (tmp_path / "executed").exists()
