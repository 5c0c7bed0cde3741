import gzip
import hashlib

import numpy as np
import pytest

from aevae import data
from aevae.data import DataError
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
