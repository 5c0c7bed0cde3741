"""The campaign's parts: its FID scores, Dai & Wipf's rescaling, the ex-post samplers, the
conditional VAE, the config's one-line errors and the results table."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from aevae import losses, models, params, samplers, train
from aevae.campaign import conditional, config, run
from aevae.campaign import report as campaign_report
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError
from aevae.models import Spec

# ------------------------------------------------------------------ FID


def test_scores_bootstrap_spread_shrinks_with_more_images():
    r = np.random.default_rng(1)
    sds = []
    for n in (60, 600):
        ref, gen = r.normal(size=(n, 16)), r.normal(0.3, 1.0, (n, 16))
        sds.append(run.scores(gen, ref, 10, torch.Generator().manual_seed(0))["fid_sd"])
    assert sds[1] < sds[0] / 2


def test_dai_wipf_rescale_maps_each_image_to_0_1():
    x = np.array([[0.2, 0.4, 0.6], [0.5, 0.5, 0.5], [0.0, 1.0, 0.25]], np.float32)
    out = run.dai_wipf_rescale(x)
    np.testing.assert_allclose(out[0], [0.0, 0.5, 1.0], atol=1e-6)
    np.testing.assert_array_equal(out[1], x[1])  # a constant image has no range: left as it is
    np.testing.assert_array_equal(out[2], x[2])  # already spans [0, 1]


# ------------------------------------------------------------------ samplers

TWO = dataclasses.make_dataclass("Cfg", ["gmm_components", "two_stage"])


def test_gmm_sampler_recovers_the_mixture_and_interleaves_components():
    r = np.random.default_rng(0)
    z = np.concatenate([r.normal(-5, 0.5, (2000, 2)), r.normal(5, 0.5, (2000, 2))])
    out = samplers.gmm(z, 1000, 2, seed=0)
    assert out.shape == (1000, 2) and out.dtype == np.float32
    assert abs((out[:, 0] > 0).mean() - 0.5) < 0.06
    assert 0.25 < (out[:64, 0] > 0).mean() < 0.75  # scikit-learn groups by component; a prefix must not
    np.testing.assert_allclose(np.sort(out[:, 0])[[100, 900]], [-5.4, 5.4], atol=0.5)
    np.testing.assert_array_equal(out, samplers.gmm(z, 1000, 2, seed=0))


def test_two_stage_sampler_draws_from_the_fitted_density():
    # a short fit to correlated 2-d codes: the draws come back on the codes' scale and location, spread
    # in both directions (the decoder's mean alone lies on a curve: correlation 0.999, see samplers)
    r = np.random.default_rng(0)
    cov = np.array([[2.0, 1.2], [1.2, 1.0]])
    z = r.multivariate_normal([3.0, -1.0], cov, 4000).astype(np.float32)
    out = samplers.two_stage(z, 4000, 0, hidden=(64,), epochs=30, batch_size=128, lr=1e-3)
    np.testing.assert_allclose(out.mean(0), [3.0, -1.0], atol=0.25)
    assert 0.5 < np.corrcoef(out, rowvar=False)[0, 1] < 0.95
    ratio = out.var(0) / np.diag(cov)
    assert ((0.7 < ratio) & (ratio < 1.4)).all(), ratio


def test_sample_names_the_known_samplers():
    with pytest.raises(ValueError, match="one of gmm, two_stage"):
        samplers.sample("flow", np.zeros((10, 2)), 5, 0, None)


# ------------------------------------------------------------------ conditional VAE


def test_cvae_label_columns_add_nothing_to_the_loss():
    torch.manual_seed(0)
    net = conditional.CVAE("dense", 4, (16,))
    xy = torch.as_tensor(conditional.with_labels(np.random.rand(8, 784), np.arange(8) % 10))
    out = net(xy)
    full = losses.recon_nll(out["logits"], xy)
    pixels = losses.recon_nll(out["logits"][:, :784], xy[:, :784])
    torch.testing.assert_close(full, pixels, rtol=0, atol=1e-4)


def test_cvae_trains_through_the_study_loop_and_its_decoder_reads_the_class():
    p = params.from_dict({"train": {"epochs": 15, "batch_size": 32, "lr": 0.003}})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 300)
    x = (rng.random((300, 784)) < 0.1 + 0.08 * y[:, None]).astype(np.float32)  # brightness encodes the class
    s = Spec("cvae", "cvae", "dense", 4, (32,))
    res = train.train(s, p, conditional.with_labels(x, y), conditional.with_labels(x[:60], y[:60]), torch.device("cpu"))
    assert isinstance(res.model, conditional.CVAE)
    z = torch.zeros(2, 4)
    with torch.no_grad():
        dark, bright = torch.sigmoid(res.model.decode(z, torch.eye(10)[[0, 9]])).mean(1)
    assert bright > dark + 0.2


# ------------------------------------------------------------------ config


def _write(tmp_path, edit) -> Path:
    raw = yaml.safe_load(PATHS["params"].read_text())
    edit(raw)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    return f


def test_variant_names_are_plain_dvc_params_keys():
    # DVC reads `variants.vae_b0.5` as nesting (variants -> vae_b0 -> 5): the stage could not find its params
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in config.load_config().variants)


def test_the_committed_config_loads():
    cfg = config.load_config()
    assert cfg.fid_n["record"] == 10_000 and cfg.variants[cfg.record_variant].model == "vae"
    assert {v.model for v in cfg.variants.values()} == {"ae", "vae", "cvae"}


BAD = {
    "unknown model": (lambda r: r["variants"]["ae_z2"].update(model="gan"), "variants.ae_z2.model: 'gan'"),
    "conv cvae": (lambda r: r["variants"]["cvae"].update(arch="conv"), "variants.cvae.arch: 'conv'"),
    "family without fid_n": (lambda r: r["variants"]["ae_z2"].update(family="x"), "variants.ae_z2.family: 'x'"),
    "unknown sampler": (lambda r: r["variants"]["ae_z2"].update(samplers=["flow"]), "variants.ae_z2.samplers"),
    "record not a VAE": (lambda r: r["record"].update(variant="ae_conv"), "record.variant: 'ae_conv'"),
    "record unknown": (lambda r: r["record"].update(variant="nope"), "record.variant: 'nope'"),
    "fid_n too small": (lambda r: r["fid_n"].update(latent=10), "fid_n.latent: 10"),
    "fid_n a string": (lambda r: r["fid_n"].update(latent="1000"), "fid_n.latent: '1000'"),
    "missing key": (lambda r: r.pop("iw_samples"), "campaign.iw_samples: missing"),
    "latent a bool": (lambda r: r["variants"]["ae_z2"].update(latent=True), "variants.ae_z2.latent: True"),
    "negative beta": (lambda r: r["variants"]["vae_z2"].update(beta=-1), "variants.vae_z2.beta: -1"),
    "no record size": (lambda r: r["fid_n"].pop("record"), "fid_n.record: missing"),
    "empty hidden": (lambda r: r["two_stage"].update(hidden=[]), "two_stage.hidden"),
    # a key the campaign does not read would silently fall back to its default: every level refuses it
    "misspelled variant key": (
        lambda r: r["variants"]["vae_z2"].update(bta=4.0),
        "variants.vae_z2.bta: unknown key; allowed under variants.vae_z2: family, model",
    ),
    "unknown top-level key": (lambda r: r.update(fid_samples=5), "fid_samples: unknown key; allowed under the top"),
    "unknown nested key": (lambda r: r["two_stage"].update(epoch=3), "two_stage.epoch: unknown key"),
    "a dot in a variant name": (
        lambda r: r["variants"].update({"vae_b0.5": dict(r["variants"]["vae_z2"])}),
        "variants.vae_b0.5: a variant name is letters, digits and _ only",
    ),
    "variant not a mapping": (lambda r: r["variants"].update(v1=[1, 2]), "variants.v1: expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_is_one_line_naming_the_key(tmp_path, case):
    edit, expected = BAD[case]
    with pytest.raises(config.CampaignError) as e:
        config.load_config(_write(tmp_path, edit))
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_fid_n_above_the_test_images_a_subset_leaves_is_refused():
    # with data.subset = 500 the test set holds 500 images: 1,000 used to be cut to 500 without a word
    cfg, small = config.load_config(), params.from_dict({"data": {"subset": 500, "val_size": 100},
                                                           "evaluate": {"fid_samples": 100,
                                                                        "fid_samples_seed": 100}})  # fmt: skip
    with pytest.raises(config.CampaignError, match=r"fid_n.\w+: \d+ is more than the 500 test images .*data.subset"):
        config.check_with_study(cfg, small)
    config.check_with_study(cfg, params.load())  # the committed pair is consistent


def test_unreadable_config_says_how_to_restore(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("variants: [unclosed")
    # read by the study's loader (params.read_yaml), as DVC reads it
    with pytest.raises(StudyError, match=r"not valid YAML \(expected ',' or '\]', but got '<stream end>' at line 1"):
        config.load_config(f)
    with pytest.raises(StudyError, match="missing.yaml: not found; restore it with `git checkout"):
        config.load_config(tmp_path / "missing.yaml")
    f.write_text("fid_n: {record: 10000}\nfid_n: {record: 1000}\n")
    with pytest.raises(StudyError, match="fid_n: given twice"):
        config.load_config(f)


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(config.CampaignError, match="campaign/params.yaml has: ae_z2"):
        config.variant(config.load_config(), "vae_z3")


@pytest.mark.parametrize("args", [[], ["a", "b"]])
def test_stage_usage_errors_are_one_line(args):
    r = subprocess.run([sys.executable, "-m", "stages.campaign_variant", *args], capture_output=True, text=True,
                       cwd=PATHS["params"].parent.parent)  # fmt: skip
    assert r.returncode != 0 and "usage: python -m stages.campaign_variant <name>" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_variant_params_override_only_the_variant_knobs():
    cfg, p = config.load_config(), params.load()
    v = cfg.variants["vae_b4"]
    pv = config.variant_params(p, v, cfg)
    assert (pv.vae.beta, pv.latent_dim, pv.model.arch) == (4.0, 32, "dense")
    assert pv.evaluate.fid_samples == cfg.fid_n["beta"] and pv.evaluate.iw_samples == cfg.iw_samples
    assert pv.train == p.train and pv.seed == p.seed
    assert config.spec(cfg.variants["vae_conv"], p).layers == p.model.conv.channels
    assert isinstance(models.build(config.spec(cfg.variants["cvae"], p)), conditional.CVAE)


# ------------------------------------------------------------------ results table


def _run(model: str, samplers_: dict, **extra) -> dict:
    base = {k: 0.5 for k in campaign_report.METRIC_COLUMNS if k != "seconds"}
    return {**base, "variant": {"family": "latent", "model": model, "arch": "dense", "latent": 8, "beta": 1.0},
            "fid_n": 1000, "epochs": 20, "best_epoch": 19, "seconds": {"train": 60.0, "evaluate": 30.0},
            "samplers": samplers_, **extra}  # fmt: skip


def test_table_has_one_row_per_variant_and_sampler():
    gen = lambda f: {"fid_samples": f, "fid_samples_sd": 1.0, "precision": 0.3, "recall": 0.1}  # noqa: E731
    df = campaign_report.table({"a": _run("ae", {"gaussian": gen(80.0), "gmm": gen(60.0)}),
                                "v": _run("vae", {"prior": gen(70.0)})})  # fmt: skip
    assert list(df["sampler"]) == ["gaussian", "gmm", "prior"]
    assert list(df["fid_samples"]) == [80.0, 60.0, 70.0]
    assert df["mse"].tolist() == [0.5] * 3 and df["seconds"].tolist() == [90.0] * 3
    assert np.isnan(df["beta"].iloc[0]) and df["beta"].iloc[2] == 1.0  # beta means nothing for an AE
    assert list(campaign_report.own_rows(df)["variant"]) == ["a", "v"]
    assert run.best_sampler({"samplers": {"gaussian": gen(80.0), "gmm": gen(60.0)}}) == "gmm"


def test_compare_reads_single_runs_against_the_study_seed_spread():
    a = {"mse": 0.010, "model": "ae"}
    b = {"mse": 0.012, "model": "ae"}
    sd = lambda s: {"ae": {"mse": {"sd": s}}}  # noqa: E731
    assert campaign_report.compare(a, b, "mse", sd(0.0005)) == "confirmed"  # gap 0.002 > 2 x 0.0005
    assert campaign_report.compare(a, b, "mse", sd(0.002)) == "inconclusive"
    assert campaign_report.compare(b, a, "mse", sd(0.0005)) == "refuted"
