"""evaluate.run end to end on a small trained model, with a small stand-in feature network (fast)."""

import numpy as np
import pytest
import torch

from aevae import data, evaluate, models, params, train
from aevae.errors import StudyError
from aevae.study import METRICS

CPU = torch.device("cpu")


def _profile(**evaluate_overrides):
    return params.from_dict({"data": {"subset": 600, "val_size": 100}, "train": {"epochs": 1, "batch_size": 64},
                             "latent_dim": 4, "evaluate": {"fid_samples": 60, "iw_samples": 4,
                                                           "fid_bootstrap": 3, **evaluate_overrides}})  # fmt: skip


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
    return p, train_split, test, trained


def _run(small, name, p=None, with_features=True):
    p0, train_split, test, trained = small
    p = p or p0
    net = StandIn()
    ref = net(test.x[: p.evaluate.fid_samples], "reference") if with_features else None
    feats = net if with_features else None
    return evaluate.run(models.spec(name, p), trained[name], p, train_split, test, CPU, feats, ref), net


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_primary_run_has_every_metric_and_array(small, name):
    result, net = _run(small, name)
    m = result.metrics
    expected = {k for k, meta in METRICS.items() if not meta.vae_only or name == "vae"}
    assert expected <= set(m)
    for k in expected:
        assert np.isfinite(m[k]), k
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and m["fid_samples"] > 0 and m["fid_samples_sd"] > 0
    assert m["fid_n"] == 60 and m["protocol"]["device"] == "cpu"
    assert net.calls == ["reference", f"{name} reconstructions", f"{name} samples", f"{name} interpolation midpoints"]
    a = result.arrays
    assert a["recon"].shape == (200, 784) and a["samples"].shape == (60, 784) and a["latent_2d"].shape == (200, 2)
    assert a["interpolations"].shape[1:] == (evaluate.INTERP_STEPS, 784)
    assert ("manifold" in a) == (name == "vae")
    assert m["interp_pairs"] == len(a["midpoints"]) > 50


def test_other_replicates_skip_every_feature_metric(small):
    result, net = _run(small, "vae", with_features=False)
    assert not {"fid_recon", "fid_samples", "precision", "recall", "interp_precision", "fid_n"} & set(result.metrics)
    assert {"mse", "latent_acc", "nll_iw", "interp_evenness"} <= set(result.metrics)


def test_each_random_quantity_has_its_own_stream(small):
    # fid_samples used to share one generator with the bounds: changing it moved elbo and nll_iw
    a, _ = _run(small, "vae")
    b, _ = _run(small, "vae", _profile(fid_samples=80))
    # (the number of interpolation pairs is min(1000, fid_samples) by design, so evenness may move here)
    for k in ("elbo", "kl", "nll_iw", "mse", "latent_acc", "probe_acc"):
        assert a.metrics[k] == b.metrics[k], k
    np.testing.assert_array_equal(a.arrays["samples"][:60], b.arrays["samples"][:60])  # a prefix of the same draw
    assert a.metrics["fid_samples"] != b.metrics["fid_samples"]


def test_stale_reference_features_are_refused(small):
    p, train_split, test, trained = small
    with pytest.raises(StudyError, match="reference features hold 10 images, fewer than evaluate.fid_samples = 60"):
        evaluate.run(models.spec("ae", p), trained["ae"], p, train_split, test, CPU, StandIn(), np.zeros((10, 32)))


def test_the_shared_reference_of_the_whole_test_set_scores_its_first_fid_samples(small):
    # fid_reference holds every test image (study and campaign share it); a run reads its first fid_samples
    p, train_split, test, trained = small
    net = StandIn()
    whole = net(test.x, "whole")
    prefix = whole[: p.evaluate.fid_samples].copy()
    run = lambda ref: evaluate.run(models.spec("ae", p), trained["ae"], p, train_split, test, CPU, net, ref)  # noqa: E731
    a, b = run(whole).metrics, run(prefix).metrics
    for k in (
        "fid_samples",
        "fid_recon",
        "fid_samples_sd",
        "kid_samples",
        "kid_samples_sd",
        "precision",
        "recall",
        "interp_precision",
    ):
        assert a[k] == b[k], k
