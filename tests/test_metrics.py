import math

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage.metrics import structural_similarity

from aevae import fid, losses, metrics, models, params


def test_mse_analytic():
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    assert metrics.mse(x, x) == 0.0
    assert metrics.mse(x, np.clip(x, 0, 1) * 0 + 0.5) == pytest.approx(np.mean((x - 0.5) ** 2))


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


def test_psnr_analytic():
    x = np.zeros((3, 784), np.float32)
    x_hat = x + 0.1  # per-image MSE 0.01 -> 20 dB
    assert metrics.psnr(x, x_hat) == pytest.approx(20.0, abs=1e-4)


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


def test_kl_of_prior_is_zero_and_positive_otherwise():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    assert torch.equal(losses.kl_to_prior(mu, logvar), torch.zeros(4))
    # analytic 1-d case: KL(N(1, e^1) || N(0, 1)) = 0.5 * (1 + e - 1 - 1)
    assert losses.kl_to_prior(torch.ones(1, 1), torch.ones(1, 1)).item() == pytest.approx(0.5 * (math.e - 1))


def test_recon_nll_is_bernoulli_sum_over_pixels():
    x = torch.tensor([[1.0, 0.0, 0.5]])
    logits = torch.tensor([[0.0, 0.0, 0.0]])
    assert losses.recon_nll(logits, x).item() == pytest.approx(3 * math.log(2))


def test_loss_terms_are_named():
    p = params.from_dict({"latent_dim": 3})
    x = torch.rand(4, 784)
    vae = models.build(models.spec("vae", p))
    terms = losses.loss_fn("vae", beta=4.0)(vae(x), x)
    assert set(terms) == {"loss", "recon", "kl"}
    assert terms["loss"].item() == pytest.approx((terms["recon"] + 4 * terms["kl"]).item(), rel=1e-6)
    assert set(losses.loss_fn("ae")(models.build(models.spec("ae", p))(x), x)) == {"loss", "recon"}


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


def test_path_evenness_one_for_even_steps_and_large_for_a_jump():
    t = np.linspace(0, 1, 11)[:, None]
    a, b = np.zeros(784), np.ones(784)
    even = (1 - t) * a + t * b
    jump = np.where(t < 0.5, 0.0, 1.0) * np.ones((11, 784))
    assert metrics.path_evenness(even[None]) == pytest.approx(1.0)
    assert metrics.path_evenness(jump[None]) == pytest.approx(10.0)  # all change in 1 of 10 steps


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
