"""Numerical checks against exact or hand-computed values, each named after the bug it catches.

The importance-weighted NLL is checked against log p(x) computed by quadrature for a VAE with a
1-d latent, where the integral over z is cheap to do exactly.
"""

import copy
import math

import numpy as np
import pytest
import torch

from aevae import losses, metrics, models

# ---------------------------------------------------------------------------------------------
# Importance-weighted NLL (Burda et al. 2016) against log p(x) by quadrature
# ---------------------------------------------------------------------------------------------

K_BIG = 5000
# Spread of nll_iw - exact at K = 5000 on this setup, measured over 100 seeds: sd 0.015 nats, mean
# 0.002, largest 0.045. 0.1 is over 6 sd, yet far below what planted bugs cost: dropping the
# `- log K` is off by log 5000 = 8.5 nats, a mean of log-weights for their logsumexp by 17 (the
# K-sample ELBO), dropping logvar from log q by 0.45, log p(z) of eps instead of z by 0.22.
IW_TOL = 0.1
GRID = torch.linspace(-12.0, 12.0, 24_001, dtype=torch.float64)[:, None]  # [G, 1]; prior mass outside ~1e-33


def _log_px_given_z(logits, x):
    """Bernoulli log-likelihood ``[G, B]`` of each of ``x: [B, 784]`` under each row of ``logits: [G, 784]``.

    Written as x.l - softplus(l), independently of ``losses.recon_nll``, so the reference does not
    share that code.
    """
    return logits @ x.T - torch.nn.functional.softplus(logits).sum(1, keepdim=True)


@pytest.fixture(scope="module")
def iw_setup():
    """A 1-d-latent VAE, 4 images, and the exact -log p(x) averaged over them (float64 quadrature).

    The images are decoded from prior draws, so each posterior is far narrower than the prior
    (sd 0.26 to 0.30): log p(x|z) changes by 28 to 55 nats over |z| <= 2. The encoder is made to
    give q about N(0.17, 1.52^2), wider than the posterior (bounded weights, so a finite-variance
    estimator) and neither the prior nor the posterior, so every term of the log-weight matters
    and K = 1 is about 17 nats looser than K = 5000.
    """
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = models.VAE("dense", 1, (16,)).eval()  # one hidden layer of 16 units
        with torch.no_grad():
            model.encoder[-1].weight.mul_(0.1)
            model.encoder[-1].bias.copy_(torch.tensor([0.2, math.log(1.5**2)]))
            x = torch.sigmoid(model.decoder(torch.randn(4, 1)))
    decoder64 = copy.deepcopy(model.decoder).double()
    with torch.no_grad():
        log_joint = _log_px_given_z(decoder64(GRID), x.double())  # [G, B]
        log_joint += -0.5 * (GRID.square() + math.log(2 * math.pi))  # log N(z; 0, 1)
        dz = (GRID[1] - GRID[0]).item()
        log_px = torch.logsumexp(log_joint + math.log(dz), dim=0)  # [B]
        post = torch.softmax(log_joint, dim=0)
        post_sd = ((post * GRID.square()).sum(0) - (post * GRID).sum(0).square()).sqrt()
    # guard: the setup only has power if the posterior is far narrower than q and the prior
    assert (post_sd < 0.4).all(), post_sd
    return model, x.numpy(), -log_px.mean().item()


def _nll_iw_error(estimator, iw_setup, k=K_BIG, seed=0):
    model, x, exact = iw_setup
    return estimator(model, x, k, torch.Generator().manual_seed(seed))["nll_iw"] - exact


def test_nll_iw_matches_quadrature_at_large_k(iw_setup):
    # catches: a missing or doubled `- log K`, a mean of log-weights for the logsumexp, a wrong
    # log q(z|x) or log p(z) term, the decoder fed mu instead of the samples
    err = _nll_iw_error(metrics.vae_bounds, iw_setup)
    assert abs(err) < IW_TOL, f"nll_iw - exact = {err:.4f}"


def test_nll_iw_tightens_with_k_and_elbo_is_a_bound(iw_setup):
    # E[nll_iw] decreases in K towards -log p(x) (Burda et al. 2016, Theorem 1); K = 1 is -ELBO in
    # expectation. Averaged over n independent runs so that each step's gap (about 17 and 0.35 nats)
    # is at least 7 standard errors (about 1.9, 0.05, 0.008 nats for K = 1, 10, 100; measured over
    # 200 seeds). The n runs are one call on the images repeated n times: each row draws its own
    # samples, and the mean over rows is the mean over runs, in one call instead of n.
    model, x, exact = iw_setup

    def mean_of_runs(k, n):
        xs = np.tile(x, (n, 1))
        return metrics.vae_bounds(model, xs, k, torch.Generator().manual_seed(k), batch=64)

    k1 = mean_of_runs(1, 50)
    nll_1, elbo = k1["nll_iw"], k1["elbo"]
    nll_10 = mean_of_runs(10, 200)["nll_iw"]
    nll_100 = mean_of_runs(100, 200)["nll_iw"]
    assert nll_1 > nll_10 > nll_100 > exact - IW_TOL, (nll_1, nll_10, nll_100, exact)
    assert nll_1 - exact > 5.0  # the setup's q is loose, so the K = 1 gap is large
    assert -elbo > exact, (elbo, exact)  # the ELBO lower-bounds log p(x)


def _iw_reference(model, x, k, generator, bug=None):
    """A minimal nll_iw with optional planted bugs, to show the quadrature check has power."""
    x = torch.as_tensor(x)
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        eps = torch.randn((k, *mu.shape), generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
        log_q = -0.5 * (eps.square() + logvar + math.log(2 * math.pi)).sum(-1)
        log_p_z = -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
        log_p_x = _log_px_given_z(model.decoder(z.reshape(-1, 1)), x)  # [K*B, B]: keep matching pairs
        log_p_x = log_p_x.reshape(k, len(x), len(x)).diagonal(dim1=1, dim2=2)
        log_w = (log_p_x + log_p_z - log_q).double()  # [K, B]
    if bug == "no_log_k":
        est = torch.logsumexp(log_w, 0)
    elif bug == "mean_of_log_w":  # the K-sample ELBO, not the IW bound
        est = log_w.mean(0)
    else:
        est = torch.logsumexp(log_w, 0) - math.log(k)
    return {"nll_iw": -est.mean().item()}


@pytest.mark.parametrize("bug", [None, "no_log_k", "mean_of_log_w"])
def test_quadrature_check_rejects_planted_bugs(iw_setup, bug):
    # self-check of the test above: a correct estimator passes, each planted bug is rejected by
    # far more than the tolerance. Fails if the setup loses its power (e.g. q set to the posterior).
    err = _nll_iw_error(lambda *a: _iw_reference(*a, bug=bug), iw_setup)
    if bug is None:
        assert abs(err) < IW_TOL, err
    else:
        assert abs(err) > 20 * IW_TOL, err


# ---------------------------------------------------------------------------------------------
# Reconstruction NLL, KL, beta
# ---------------------------------------------------------------------------------------------


def test_recon_nll_hand_value_and_argument_order():
    # catches: swapped (logits, x), mean instead of sum over pixels, mixing rows of the batch
    x = torch.tensor([0.25, 0.75])[:, None].expand(2, 784)
    logits = torch.full((2, 784), 2.0)
    s = 1 / (1 + math.exp(-2.0))
    expected = [-784 * (v * math.log(s) + (1 - v) * math.log(1 - s)) for v in (0.25, 0.75)]
    got = losses.recon_nll(logits, x)
    assert got.shape == (2,)
    assert torch.allclose(got.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-6)
    # the formula is not symmetric here: with the arguments swapped (logit 0.25, target 2.0) it is
    # another number entirely, so the check above can tell the order apart
    s_swapped = 1 / (1 + math.exp(-0.25))
    swapped = -784 * (2.0 * math.log(s_swapped) + (1 - 2.0) * math.log(1 - s_swapped))
    assert abs(swapped - expected[0]) > 100
    assert not torch.allclose(losses.recon_nll(x, logits), got, rtol=1e-2)


def test_kl_to_prior_analytic():
    # catches: a sign or factor error, var used where logvar is meant
    mu = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    assert torch.equal(losses.kl_to_prior(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(4))
    assert torch.allclose(losses.kl_to_prior(mu, torch.zeros_like(mu)), 0.5 * mu.square().sum(1))
    # general case against torch.distributions, an independent implementation
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(losses.kl_to_prior(mu, logvar), ref, atol=1e-5)


def test_vae_loss_applies_beta():
    # catches: beta ignored or applied to the reconstruction, loss_fn dropping beta
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 784, generator=gen)
    out = {
        "logits": torch.randn(3, 784, generator=gen),
        "mu": torch.randn(3, 2, generator=gen) + 1.0,
        "logvar": torch.randn(3, 2, generator=gen),
    }
    terms = losses.vae_loss(out, x, beta=2.5)
    # recon and kl are the batch means of the per-image terms
    assert torch.allclose(terms["recon"], losses.recon_nll(out["logits"], x).mean())
    assert torch.allclose(terms["kl"], losses.kl_to_prior(out["mu"], out["logvar"]).mean())
    assert terms["kl"] > 1.0  # so a dropped or misapplied beta changes the loss visibly
    assert torch.allclose(terms["loss"], terms["recon"] + 2.5 * terms["kl"])
    assert not torch.allclose(terms["loss"], terms["recon"] + terms["kl"])
    assert torch.allclose(losses.vae_loss(out, x, beta=0.0)["loss"], terms["recon"])
    assert torch.allclose(losses.loss_fn("vae", beta=2.5)(out, x)["loss"], terms["loss"])
    assert torch.allclose(losses.loss_fn("ae")(out, x)["loss"], terms["recon"])


# ---------------------------------------------------------------------------------------------
# Image metrics
# ---------------------------------------------------------------------------------------------


def test_psnr_is_mean_of_per_image_psnr_not_pooled():
    # catches: PSNR of the pooled MSE. Per-image MSEs 0.01 and 0.0001 give 20 and 40 dB, mean 30;
    # the pooled MSE 0.00505 would give 22.97 dB.
    x = np.zeros((2, 784), np.float32)
    x_hat = np.stack([np.full(784, 0.1), np.full(784, 0.01)]).astype(np.float32)
    # 1e-5, not 1e-6: torchmetrics scales by 10 / log(10) computed in float32 (relative error ~4e-8)
    assert metrics.psnr(x, x_hat) == pytest.approx(30.0, abs=1e-5)
    pooled = 10 * math.log10(1 / np.mean([0.01, 0.0001]))
    assert abs(metrics.psnr(x, x_hat) - pooled) > 7


def test_mse_zero_and_hand_value():
    # catches: a sum instead of a mean, a missing square (the errors here have both signs)
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    assert metrics.mse(x, x) == 0.0
    a = np.zeros((2, 4), np.float32)
    b = np.array([[1.0, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 0.0]], np.float32)
    assert metrics.mse(a, b) == 1.25 / 8
