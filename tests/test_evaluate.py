"""evaluate.run end to end on a small trained model, with a small stand-in feature network (fast)."""

import numpy as np
import pytest
import torch
from scipy.stats import norm

from aevae import data, evaluate, judge, models, params, samplers, train
from aevae.errors import StudyError
from aevae.study import METRICS

CPU = torch.device("cpu")


def _profile(**evaluate_overrides):
    return params.from_dict({"data": {"subset": 600, "val_size": 100}, "train": {"epochs": 1, "batch_size": 64},
                             "latent_dim": 4, "latent_dim_2d": 2,
                             "evaluate": {"fid_samples": 80, "fid_samples_seed": 60, "iw_samples": 4,
                                          "gmm_components": 3, **evaluate_overrides}})  # fmt: skip


class StandIn(torch.nn.Module):
    """A small fixed random conv net in place of Inception: [N, 784] in [0, 1] -> [N, 32] features."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(123)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 5, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                       torch.nn.LazyLinear(32))  # fmt: skip
        self.calls = []

    @torch.no_grad()
    def __call__(self, images, desc):
        self.calls.append(desc)
        return self.net(torch.as_tensor(np.asarray(images, np.float32)).reshape(-1, 1, 28, 28)).double().numpy()


@pytest.fixture(scope="module")
def small(splits):
    train_split = data.Split(splits["train"].x[:400], splits["train"].y[:400])
    test = data.Split(splits["test"].x[:200], splits["test"].y[:200])
    p = _profile()
    trained = {n: train.train(models.spec(n, p), p, train_split.x, splits["val"].x[:100], CPU).model
               for n in ("ae", "vae")}  # fmt: skip
    net = judge.train(train_split.x, train_split.y, 1, 0)
    return p, train_split, test, trained, net


def _run(small, name, p=None, with_features=True, primary=True):
    p0, train_split, test, trained, judge_net = small
    p = p or p0
    net = StandIn()
    ref = net(test.x, "reference") if with_features else None
    feats = net if with_features else None
    spec = models.spec(name, p)
    return evaluate.run(spec, trained[name], p, train_split, test, CPU, feats, ref, judge_net, primary), net


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_primary_run_has_every_metric_and_array(small, name):
    result, net = _run(small, name)
    m = result.metrics
    own = list(samplers.SAMPLERS[name])
    others = [s for s in ("normal", "gaussian", "gmm") if s not in own]
    expected = {k for k, meta in METRICS.items()
                if (not meta.vae_only or name == "vae") and not k.endswith(tuple(f"_{s}" for s in others))}  # fmt: skip
    assert expected <= set(m)
    for k in expected:  # the share of A-or-B paths is nan when no path's decoded ends are read right (1 epoch)
        assert np.isfinite(m[k]) or (k.startswith("path_ab_") and m[f"path_ab_paths_{k[8:]}"] == 0), k
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and m["fid_samples"] > 0 and m["kid_samples_sd"] > 0
    assert m["fid_n"] == 60 and m["fid_n_primary"] == 80 and m["protocol"]["device"] == "cpu"
    # the main sampler drawn once at 80 (its first 60 scored per seed), every other sampler at 60
    assert net.calls == ["reference", f"{name} reconstructions", *(f"{name} samples ({s})" for s in own)]
    a = result.arrays
    assert a["recon"].shape == (200, 784) and a["samples"].shape == (60, 784) and a["latent_2d"].shape == (200, 2)
    assert a["samples_features"].shape == (80, 32)
    assert a["interpolations"].shape[1:] == (evaluate.INTERP_STEPS, 784)
    assert a["manifold"].shape == (evaluate.GRID, evaluate.GRID, 784)
    assert {f"samples_{s}" for s in own} <= set(a)
    assert m["interp_pairs_within"] > 50 and m["interp_pairs_across"] > 50
    assert 0 <= m["path_ab_paths_within"] <= m["interp_pairs_within"]
    assert m["path_confidence_within"] > 0


def test_a_replicate_gets_every_per_seed_metric_but_not_the_primary_sample(small):
    primary, _ = _run(small, "vae")
    other, net = _run(small, "vae", primary=False)
    assert {k for k, m in METRICS.items() if m.spread != "seeds"} & set(other.metrics) == set()
    assert {"fid_normal", "kid_gmm", "fid_recon", "precision_normal"} <= set(other.metrics)
    # the per-seed numbers of the main sampler are the same draw in both: the first 60 of the primary's 80
    assert other.metrics["fid_normal"] == primary.metrics["fid_normal"]


def test_without_features_every_inception_metric_is_skipped(small):
    result, _ = _run(small, "ae", with_features=False)
    assert not {k for k in result.metrics if k.startswith(("fid", "kid", "precision", "recall"))}
    assert {"mse", "latent_acc", "path_ab_within", "knn_group"} <= set(result.metrics)


def test_each_random_quantity_has_its_own_stream(small):
    # fid_samples used to share one generator with the bounds: changing it moved elbo and nll_iw
    a, _ = _run(small, "vae")
    b, _ = _run(small, "vae", _profile(fid_samples=100))
    for k in (
        "elbo",
        "kl",
        "nll_iw",
        "mse",
        "latent_acc",
        "probe_acc",
        "path_confidence_within",
        "fid_gmm",
        "fid_recon",
    ):
        assert a.metrics[k] == b.metrics[k], k
    assert a.metrics["fid_samples"] != b.metrics["fid_samples"]


def test_stale_reference_features_are_refused(small):
    p, train_split, test, trained, judge_net = small
    with pytest.raises(StudyError, match="reference features hold 10 images, fewer than the 80 this evaluation"):
        evaluate.run(models.spec("ae", p), trained["ae"], p, train_split, test, CPU, StandIn(), np.zeros((10, 32)),
                     judge_net, primary=True)  # fmt: skip


# ------------------------------------------------------------------ the 2-d views (figures' inputs)


def test_manifold_at_2d_is_the_prior_quantile_grid():
    basis, how = evaluate.two_d(np.random.default_rng(0).normal(size=(100, 2)))
    z = evaluate.manifold_latents(basis, None)
    g = evaluate.GRID
    assert z.shape == (g * g, 2) and how == "the 2-d latent itself, no projection"
    q = np.round(norm.ppf(np.linspace(0.05, 0.95, g)), 6)
    np.testing.assert_allclose(sorted(set(np.round(z[:, 0], 6))), q)
    np.testing.assert_allclose(sorted(set(np.round(z[:, 1], 6))), q)
    assert z[0, 1] > z[-1, 1]  # top row = high second coordinate, as the report drew it


def test_manifold_and_map_above_2d_span_the_leading_directions():
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(500, 8)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    basis, how = evaluate.two_d(lat)
    assert how == "PCA of the 8-d latent, 2 leading directions (100% of variance)"  # 34 of 34.06 variance
    z = evaluate.manifold_latents(basis, None)
    assert np.abs(z[:, 2:]).max() < 0.1 * np.abs(z[:, :2]).max()  # grid lies in the first two axes


def test_an_ae_grid_spans_its_own_codes_quantiles():
    # an AE's codes have no fixed scale: its grid covers where its codes are, not N(0, 1)'s quantiles
    z_train = np.random.default_rng(0).normal(size=(20000, 2)) * [10.0, 0.5] + [100.0, -3.0]
    z = evaluate.manifold_latents(np.eye(2), z_train)
    for axis, (centre, scale) in enumerate(((100.0, 10.0), (-3.0, 0.5))):
        lo, hi = z[:, axis].min(), z[:, axis].max()
        assert abs(lo - (centre - 1.645 * scale)) < 0.05 * scale and abs(hi - (centre + 1.645 * scale)) < 0.05 * scale
