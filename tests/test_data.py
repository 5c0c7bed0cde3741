import errno
import gzip
import hashlib
import http.client
from pathlib import Path

import numpy as np
import pytest

from aevae import data, paths
from aevae.data import DataError
from aevae.errors import StudyError
from tests.conftest import LOCAL, write_idx


def test_parse_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    blob = write_idx(tmp_path / "x", a)
    np.testing.assert_array_equal(data.parse_idx(blob), a)
    labels = np.array([3, 1, 4], np.uint8)
    np.testing.assert_array_equal(data.parse_idx(write_idx(tmp_path / "y", labels)), labels)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not an IDX file (bad magic empty"),
        (b"PK\x03\x04rest", "not an IDX file (bad magic 504b0304"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x01x", "not an IDX file (type code 0x42, 1 dims)"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated: 6 bytes, shorter than its 16-byte header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated: header says shape (5,) (13 bytes), file has 11 bytes"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "has trailing bytes"),
    ],
)
def test_parse_idx_rejects_bad_input(blob, message):
    with pytest.raises(DataError) as e:
        data.parse_idx(blob, "f")
    assert message in str(e.value)


def _mirror(tmp_path, mutate=None):
    """A local mirror with the real files (gz), one optionally replaced by ``mutate(bytes)``."""
    d = tmp_path / "mirror"
    d.mkdir()
    for name in data.FILES:
        blob = (LOCAL / f"{name}.gz").read_bytes()
        if mutate and name == "t10k-labels-idx1-ubyte":
            blob = mutate(blob)
        (d / f"{name}.gz").write_bytes(blob)
    return d


def test_download_from_local_mirror_verifies_md5(raw_dir):
    for name, md5 in data.FILES.items():
        assert hashlib.md5((raw_dir / name).read_bytes()).hexdigest() == md5


def test_checksum_mismatch_names_file_expected_and_got(tmp_path):
    def flip(blob):
        raw = bytearray(gzip.decompress(blob))
        raw[-1] ^= 1
        return gzip.compress(bytes(raw))

    mirror = _mirror(tmp_path, flip)
    with pytest.raises(DataError) as e:
        data.fetch_verified("t10k-labels-idx1-ubyte", [str(mirror)])
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte: checksum mismatch: expected MD5 15d484375f8d13e6eb1aabb0c3f46965, got " in msg
    assert str(mirror) in msg


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[: len(b) // 2], "corrupt or truncated gzip"),
        (lambda b: gzip.compress(gzip.decompress(b)[:5000]), "truncated: header says shape (10000,)"),
        (lambda b: b"<html>not found</html>", "not an IDX file"),
    ],
)
def test_truncated_or_foreign_file_is_rejected(tmp_path, mutate, reason):
    mirror = _mirror(tmp_path, mutate)
    with pytest.raises(DataError, match="no good copy of t10k-labels-idx1-ubyte") as e:
        data.fetch_verified("t10k-labels-idx1-ubyte", [str(mirror)])
    assert reason in str(e.value)


def test_no_source_names_every_source_and_the_fix(tmp_path):
    sources = ["http://127.0.0.1:9/fashion", str(tmp_path / "empty"), str(tmp_path / "missing")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        data.fetch_verified("train-images-idx3-ubyte", sources)
    msg = str(e.value)
    for s in sources:
        assert s in msg
    assert "unreachable" in msg and "apt-get install dataset-fashion-mnist" in msg and "data.local_dirs" in msg


LABELS = "t10k-labels-idx1-ubyte"
OFFLINE = "http://127.0.0.1:9/fashion"  # the discard port: connection refused at once


def _fix(sources) -> tuple[str, str]:
    """The whole message and its advice part (from the ``Fix`` line on)."""
    with pytest.raises(DataError) as e:
        data.fetch_verified(LABELS, [str(s) for s in sources])
    msg = str(e.value)
    for s in sources:
        assert str(s) in msg.split("\nFix")[0]  # every source tried is listed
    return msg, msg[msg.index("\nFix") + 1 :]


def test_damaged_local_file_is_named_to_be_replaced_not_blamed_on_the_network(tmp_path):
    mirror = _mirror(tmp_path, lambda b: b[:100])
    _, fix = _fix([mirror])
    assert fix.startswith(f"Fix: replace {mirror / LABELS}.gz, which is damaged or not the real file")
    assert "apt-get install --reinstall dataset-fashion-mnist" in fix and "data.local_dirs" in fix
    assert "internet" not in fix and "\n" not in fix


def test_only_network_unreachable_suggests_connecting_or_a_local_copy(tmp_path):
    _, fix = _fix([OFFLINE])
    assert fix.startswith("Fix: connect to the internet")
    assert "apt-get install dataset-fashion-mnist" in fix and "data.local_dirs" in fix and "\n" not in fix


def test_missing_local_folder_is_said_to_be_missing(tmp_path):
    msg, fix = _fix([tmp_path / "nope"])
    assert f"{tmp_path / 'nope'}: no such folder" in msg
    assert fix.startswith(f"Fix: {tmp_path / 'nope'} does not exist: install the real files")
    assert "internet" not in fix and "replace" not in fix


def test_local_folder_without_the_file_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    msg, fix = _fix([tmp_path / "empty"])
    assert f"neither {LABELS}.gz nor {LABELS} in it" in msg
    assert fix.startswith(f"Fix: {tmp_path / 'empty'} has no {LABELS}: put the four IDX files")
    assert "internet" not in fix


def test_unreadable_local_file_says_to_make_it_readable(tmp_path, monkeypatch):
    mirror = _mirror(tmp_path)

    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file, so chmod cannot show this
    msg, fix = _fix([mirror])
    assert f"{mirror}: cannot read {LABELS}.gz (Permission denied)" in msg
    assert fix == f"Fix: make {mirror / LABELS}.gz readable (Permission denied)"


def test_several_faults_give_every_fix_most_specific_first(tmp_path):
    mirror = _mirror(tmp_path, lambda b: b[:100])
    _, fix = _fix([OFFLINE, tmp_path / "nope", mirror])
    lines = fix.splitlines()
    assert lines[0] == "Fix (one good source is enough):"
    expected = (
        f"  - replace {mirror / LABELS}.gz,",
        f"  - {tmp_path / 'nope'} does not exist",
        "  - connect to the internet",
    )
    assert len(lines) == 4 and all(line.startswith(e) for line, e in zip(lines[1:], expected, strict=True))


def test_damaged_or_dropped_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_download", lambda base, name: b"<html>not found</html>")
    msg, fix = _fix(["https://mirror.example"])
    assert "not an IDX file" in msg and fix.startswith("Fix: https://mirror.example served a damaged copy")

    def dropped(base, name):
        raise http.client.IncompleteRead(b"partial")  # an HTTPException, not an OSError

    monkeypatch.setattr(data, "_download", dropped)
    msg, fix = _fix(["https://mirror.example"])
    assert "https://mirror.example: unreachable (IncompleteRead" in msg and fix.startswith("Fix: connect")


def test_no_sources_at_all_says_where_to_list_one():
    _, fix = _fix([])
    assert fix == "Fix: list a mirror under data.mirrors or a folder under data.local_dirs in params.yaml"


def test_bad_source_falls_back_to_good_one(tmp_path):
    bad = _mirror(tmp_path, lambda b: b[:100])
    blob = data.fetch_verified("t10k-labels-idx1-ubyte", [str(bad), str(LOCAL)])
    assert hashlib.md5(blob).hexdigest() == data.FILES["t10k-labels-idx1-ubyte"]


def test_failed_download_leaves_earlier_output_intact(tmp_path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "keep").write_text("earlier output")
    mirror = _mirror(tmp_path, lambda b: b[:100])
    with pytest.raises(DataError):
        data.download(out, [str(mirror)])
    assert (out / "keep").read_text() == "earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "raw"]  # no temp left behind


def test_prepare_real_data(splits):
    tr, va, te = splits["train"], splits["val"], splits["test"]
    assert (tr.x.shape, va.x.shape, te.x.shape) == ((55_000, 784), (5_000, 784), (10_000, 784))
    for s in (tr, va, te):
        assert s.x.dtype == np.float32 and s.y.dtype == np.int64
        assert s.x.min() == 0.0 and s.x.max() == 1.0
    assert np.bincount(np.concatenate([tr.y, va.y])).tolist() == [6000] * 10
    assert np.bincount(te.y).tolist() == [1000] * 10
    # exact normalization of a known pixel: x / 255
    raw = data.parse_idx(gzip.decompress((LOCAL / "t10k-images-idx3-ubyte.gz").read_bytes()))
    np.testing.assert_array_equal(te.x, raw.reshape(10_000, 784) / np.float32(255))


def test_split_is_seeded_and_disjoint(raw_dir, splits):
    again = data.prepare(raw_dir, val_size=5000, subset=None, seed=0)
    np.testing.assert_array_equal(again["val"].x, splits["val"].x)
    other = data.prepare(raw_dir, val_size=5000, subset=None, seed=1)
    assert not np.array_equal(other["val"].y, splits["val"].y)
    # train + val is a partition of the original 60,000 (compare by row hashes)
    rows = lambda x: {hashlib.md5(r.tobytes()).hexdigest() for r in x}  # noqa: E731
    assert len(rows(splits["train"].x) & rows(splits["val"].x)) <= 10  # Fashion-MNIST has a few duplicate images


def test_subset_takes_first_images(raw_dir, splits):
    small = data.prepare(raw_dir, val_size=50, subset=300, seed=0)
    assert len(small["train"].x) + len(small["val"].x) == 300 and len(small["test"].x) == 300
    np.testing.assert_array_equal(small["test"].x, splits["test"].x[:300])


def test_load_split_reads_what_write_prepared_wrote(tmp_path, monkeypatch):
    x = np.linspace(0, 1, 3 * 784, dtype=np.float32).reshape(3, 784)
    splits = {
        "train": data.Split(x, np.arange(3)),
        "val": data.Split(x[:1], np.arange(1)),
        "test": data.Split(x, 9 - np.arange(3)),
    }
    monkeypatch.setattr(paths, "PREPARED", tmp_path / "prepared")
    data.write_prepared(paths.PREPARED, splits)
    for name, s in splits.items():
        for mmap in (False, True):
            got = data.load_split(name, mmap=mmap)
            assert isinstance(got.x, np.memmap) == mmap
            np.testing.assert_array_equal(got.x, s.x)
            np.testing.assert_array_equal(got.y, s.y)


_GOOD_X = np.full((4, 784), 0.5, np.float32)


def _nan_image():
    x = _GOOD_X.copy()
    x[2, 100] = np.nan
    return x


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (_nan_image(), np.arange(4), r"test_x.npy: grey levels outside \[0, 1\] or not finite \(from nan"),
        (_GOOD_X * 255, np.arange(4), r"test_x.npy: grey levels outside \[0, 1\] .*to 127.5\)"),
        (_GOOD_X[:, :700], np.arange(4), r"test_x.npy: images of shape \[4, 700\] \(float32\); expected \[N, 784\]"),
        (_GOOD_X.reshape(4, 28, 28), np.arange(4), r"images of shape \[4, 28, 28\]"),
        ((_GOOD_X * 255).astype(np.uint8), np.arange(4), r"\(uint8\); expected \[N, 784\] floats"),
        (_GOOD_X, np.arange(3), r"test_y.npy: labels of shape \[3\] \(int64\) for 4 images; expected \[4\] integers"),
        (_GOOD_X, np.arange(4.0), r"labels of shape \[4\] \(float64\)"),
        (_GOOD_X, np.array([0, 1, 10, 2]), r"test_y.npy: labels outside 0..9 \(from 0 to 10\)"),
    ],
)
def test_prepared_arrays_that_prepare_did_not_write_are_one_clear_error(tmp_path, monkeypatch, x, y, message):
    # NaN images used to run the whole evaluation first (or read as a diverging run in training)
    monkeypatch.setattr(paths, "PREPARED", tmp_path)
    np.save(tmp_path / "test_x.npy", x)
    np.save(tmp_path / "test_y.npy", y)
    for mmap in (False, True):
        with pytest.raises(StudyError, match=message + r".*; `dvc repro prepare` rebuilds the prepared splits"):
            data.load_split("test", mmap=mmap)
