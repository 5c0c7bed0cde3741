import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from aevae import metrics, models, params


def test_ssim_identity_and_skimage_crosscheck_on_real_images(splits):
    x = splits["test"].x[:64]
    assert metrics.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(0)
    noisy = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    ref = np.mean([
        structural_similarity(a.reshape(28, 28).astype(np.float64), b.reshape(28, 28).astype(np.float64),
                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        for a, b in zip(x, noisy, strict=True)
    ])  # fmt: skip
    assert metrics.ssim(x, noisy) == pytest.approx(ref, abs=1e-4)
    assert metrics.ssim(x, noisy) < 0.9


def test_iw_nll_bounds(splits):
    torch.manual_seed(0)
    vae = models.build(models.spec("vae", params.from_dict({"latent_dim": 4}))).eval()
    x = splits["test"].x[:16]
    one = metrics.vae_bounds(vae, x, k=1, generator=torch.Generator().manual_seed(0))
    many = metrics.vae_bounds(vae, x, k=500, generator=torch.Generator().manual_seed(0))
    # log p(x) >= IW bound (K) >= ELBO; with K = 1 the IW estimate is a one-sample -ELBO
    assert many["nll_iw"] <= -one["elbo"] + 1.0
    assert one["nll_iw"] == pytest.approx(-one["elbo"], rel=0.05)
    assert one["kl"] > 0 and one["kl"] == many["kl"]


def test_latent_acc_reads_raw_codes_not_standardized_ones():
    # one informative unit and 16 inactive units (noise at 1e-3 scale, as a VAE's collapsed units):
    # on raw codes the noise is negligible; standardized, each weighs as much as the signal
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    z = np.c_[y + rng.normal(0, 0.3, 2000), rng.normal(0, 1e-3, (2000, 16))]
    assert metrics.latent_acc(z[:1000], y[:1000], z[1000:], y[1000:]) > 0.9
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(z[:1000])
    biased = KNeighborsClassifier(10).fit(sc.transform(z[:1000]), y[:1000]).score(sc.transform(z[1000:]), y[1000:])
    assert biased < metrics.latent_acc(z[:1000], y[:1000], z[1000:], y[1000:]) - 0.05  # 0.887 vs 0.953


def test_probe_acc_is_linear():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    linear, ring = (z[:, 0] + z[:, 1] > 0).astype(int), (np.hypot(z[:, 0], z[:, 1]) > 1.2).astype(int)
    assert metrics.probe_acc(z[:1000], linear[:1000], z[1000:], linear[1000:]) > 0.97
    assert metrics.probe_acc(z[:1000], ring[:1000], z[1000:], ring[1000:]) < 0.75  # not linearly separable


def test_active_units_counts_variance_above_burdas_threshold():
    rng = np.random.default_rng(0)
    z = np.c_[rng.normal(0, 1, 5000), rng.normal(0, 0.2, 5000), rng.normal(0, 0.05, 5000), np.full(5000, 3.0)]
    assert metrics.active_units(z) == 2  # variances 1, 0.04 > 0.01; 0.0025 and 0 are not


def test_sharpness_analytic():
    x = np.zeros((1, 28, 28))
    x[0, :, 14:] = 1.0  # one vertical edge: |grad| = 1 on 27 of the 27 x 27 pixels
    half = np.zeros((1, 28, 28))
    half[0, :, 13], half[0, :, 14:] = 0.5, 1.0  # the same edge over two pixels: two steps of 0.5
    assert metrics.sharpness(x.reshape(1, -1), x.reshape(1, -1)) == 1.0
    assert metrics.sharpness(x.reshape(1, -1), half.reshape(1, -1)) == pytest.approx(1.0)  # same total
    flat = np.full((1, 784), 0.5)
    assert metrics.sharpness(x.reshape(1, -1), flat) == 0.0


def test_latent_acc_separable_and_chance():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 50)
    z = np.eye(10)[y] * 10 + rng.normal(0, 0.1, (500, 10))
    assert metrics.latent_acc(z, y, z, y) == 1.0
    noise = rng.normal(size=(500, 4))
    assert metrics.latent_acc(noise[:250], y[:250], noise[250:], y[250:]) < 0.3


def test_fitted_gaussian_recovers_covariance():
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    z = rng.multivariate_normal([1.0, -2.0], cov, size=20_000)
    mean, chol = metrics.fit_gaussian(z)
    np.testing.assert_allclose(mean, [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(chol @ chol.T, cov, atol=0.05)
