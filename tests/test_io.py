import numpy as np
import pytest
import torch

from aevae import fileio
from aevae.errors import StudyError


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


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated zip"])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, content):
    f = tmp_path / "vae.pt"
    f.write_bytes(content)
    with pytest.raises(StudyError, match=r"vae.pt: not a readable checkpoint .*dvc checkout"):
        fileio.load_torch(f)
    with pytest.raises(StudyError, match="missing"):
        fileio.load_torch(tmp_path / "nope.pt")


def test_checkpoint_that_would_execute_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    f = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, f)
    with pytest.raises(StudyError, match="not a readable checkpoint"):
        fileio.load_torch(f)


def test_truncated_array_is_one_clear_error(tmp_path):
    f = tmp_path / "x.npy"
    fileio.save_npy(f, np.arange(1000, dtype=np.float32))
    np.testing.assert_array_equal(fileio.load_npy(f, mmap=True), np.arange(1000))
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(StudyError, match="x.npy: corrupt or truncated"):
        fileio.load_npy(f)
