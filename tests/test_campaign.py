"""The campaign's parts: its FID scores, Dai & Wipf's rescaling, the ex-post samplers, the
conditional VAE, the config's one-line errors and the results table."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
import torch
import yaml

from aevae import evaluate, fid, fileio, losses, models, params, samplers, train
from aevae.campaign import config, protocol, run, two_stage, vaegan
from aevae.campaign import report as campaign_report
from aevae.campaign.paths import PATHS
from aevae.errors import StudyError
from aevae.models import Spec

# ------------------------------------------------------------------ FID


def test_dai_wipf_rescale_maps_each_image_to_0_1():
    x = np.array([[0.2, 0.4, 0.6], [0.5, 0.5, 0.5], [0.0, 1.0, 0.25]], np.float32)
    out = protocol.rescale(x)
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


SHORT = config.TwoStage(width=64, depth=1, epochs=30, batch_size=128, lr=1e-3, lr_halve_every=100)


def _correlated_codes(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    cov = np.array([[2.0, 1.2], [1.2, 1.0]])
    return np.random.default_rng(0).multivariate_normal([3.0, -1.0], cov, n).astype(np.float32), cov


def test_two_stage_sampler_draws_from_the_fitted_density():
    # an AE's codes (no sd): the draws come back on the codes' scale and location, spread in both
    # directions (the decoder's mean alone lies on a curve: correlation 0.999, see two_stage)
    z, cov = _correlated_codes()
    out = two_stage.two_stage(z, None, 4000, 0, SHORT)
    np.testing.assert_allclose(out.mean(0), [3.0, -1.0], atol=0.25)
    assert 0.5 < np.corrcoef(out, rowvar=False)[0, 1] < 0.95
    ratio = out.var(0) / np.diag(cov)
    assert ((0.7 < ratio) & (ratio < 1.4)).all(), ratio


def test_two_stage_fits_the_aggregate_posterior_of_a_vae():
    # a VAE's codes are drawn from its posterior, mu + sd * eps (Dai & Wipf's code): with sd = 1 the density
    # to fit has variance var(mu) + 1 per coordinate (3 and 2 here); fitted to the means alone it would
    # have 2 and 1
    mu, cov = _correlated_codes()
    out = two_stage.two_stage(mu, np.ones_like(mu), 4000, 0, SHORT)
    np.testing.assert_allclose(out.mean(0), [3.0, -1.0], atol=0.3)
    ratio = out.var(0) / (np.diag(cov) + 1.0)
    assert ((0.75 < ratio) & (ratio < 1.3)).all(), ratio


def test_second_stage_has_the_architecture_of_dai_and_wipfs_code():
    # their build_encoder2 / build_decoder2 at latent 64, second_dim 1024, second_depth 3: three dense ReLU
    # layers, the input concatenated to the last, dense heads mu_u and logsd_u (encoder), z_hat (decoder),
    # and the scalar loggamma_z
    d, w = 64, 1024
    body = (d * w + w) + 2 * (w * w + w)
    theirs = (body + 2 * ((d + w) * d + d)) + (body + (d + w) * d + d) + 1
    net = two_stage.SecondStage(d, w, 3)
    assert sum(t.numel() for t in net.parameters()) == theirs == 4_540_609
    assert float(net.gamma()) == 1.0  # loggamma_z starts at 0


def test_two_stage_schedule_and_batches_are_theirs(monkeypatch):
    # their demo.py: lr2 * 0.5 ** floor(epoch / lr_epochs2); num_sample // batch_size batches (the rest dropped)
    theirs = config.TwoStage()
    assert [two_stage.lr_at(theirs, e) for e in (0, 299, 300, 599, 600, 799)] == [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5,
                                                                                    2.5e-5]  # fmt: skip
    seen = []
    loss = two_stage.SecondStage.loss
    monkeypatch.setattr(two_stage.SecondStage, "loss", lambda self, z: seen.append(len(z)) or loss(self, z))
    two_stage.two_stage(np.zeros((300, 2), np.float32), None, 5, 0, dataclasses.replace(SHORT, epochs=2))
    assert seen == [128, 128] * 2  # 300 codes, batch 128: two full batches an epoch, the last 44 dropped


def test_second_stage_layers_start_as_tf_dense_does():
    net = two_stage.SecondStage(64, 1024, 3)
    first = net.encoder.body[0]
    assert first.bias.abs().max() == 0
    bound = (6 / (64 + 1024)) ** 0.5  # Glorot uniform
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.95 * bound


def test_two_stage_refuses_a_batch_larger_than_the_codes():
    with pytest.raises(StudyError, match="two_stage.batch_size: 128 is more than the 100 training codes"):
        two_stage.two_stage(np.zeros((100, 2), np.float32), None, 5, 0, SHORT)


def test_a_kept_second_stage_draws_what_its_fit_drew():
    # the variant stage keeps the fit in its checkpoint; the published rows and the record draw from it
    z, _ = _correlated_codes(600)
    cfg = dataclasses.replace(SHORT, epochs=2)
    fitted = two_stage.fit(z, None, 0, cfg)
    np.testing.assert_array_equal(two_stage.draw(fitted, 50, 0), two_stage.two_stage(z, None, 50, 0, cfg))
    loaded = torch.load(io.BytesIO(fileio.torch_bytes({"sampler_two_stage": fitted})), weights_only=True)
    np.testing.assert_array_equal(two_stage.draw(loaded["sampler_two_stage"], 50, 0), two_stage.draw(fitted, 50, 0))
    # run.draw takes the kept fit, never a new one: a fit of other codes draws those codes' density
    p = params.from_dict(
        {"data": {"subset": 400, "val_size": 100}, "evaluate": {"fid_samples": 100, "fid_samples_seed": 100}}
    )
    v = config.load_config().variants["vae_z2"]
    model = models.build(config.spec(v, config.variant_params(p, v, config.load_config()))).eval()
    other = two_stage.fit(z + 100.0, None, 0, cfg)
    x = np.random.default_rng(0).uniform(size=(200, 784)).astype(np.float32)
    full = dataclasses.replace(config.load_config(), two_stage=cfg)
    drawn = run.draw(model, x, "two_stage", 20, full, p, "cpu", other)
    np.testing.assert_array_equal(drawn, evaluate.decode(model, two_stage.draw(other, 20, p.seed), "cpu"))


def test_a_damaged_kept_second_stage_is_one_line():
    fitted = two_stage.fit(_correlated_codes(300)[0], None, 0, dataclasses.replace(SHORT, epochs=1))
    for bad in ({**fitted, "state": {}}, {**fitted, "width": "wide"}, {"loc": fitted["loc"]}):
        with pytest.raises(StudyError, match="a saved second stage that does not load") as e:
            two_stage.draw(bad, 5, 0)
        assert "\n" not in str(e.value)


# ------------------------------------------------------------------ conditional VAE


def test_cvae_label_columns_add_nothing_to_the_loss():
    torch.manual_seed(0)
    net = models.CVAE("dense", 4, (16,))
    xy = torch.as_tensor(models.with_labels(np.random.rand(8, 784), np.arange(8) % 10))
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
    res = train.train(s, p, models.with_labels(x, y), models.with_labels(x[:60], y[:60]), torch.device("cpu"))
    assert isinstance(res.model, models.CVAE)
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


def test_the_record_selects_on_validation_images_by_family():
    # three candidates, two families: each is scored on its first select_n samples against the validation
    # images handed in (a test set handed in would give other numbers), the best of each family is kept with
    # its other fid_n.record samples
    cfg = config.load_config()
    cfg = dataclasses.replace(cfg, fid_n={**cfg.fid_n, "record": 30}, gmm_components=2, record=config.Record(
        candidates=(("vae_z2", "normal"), ("vae_z2", "gmm"), ("ae_z2", "gmm")), select_n=40))  # fmt: skip
    p = params.from_dict(
        {"data": {"subset": 400, "val_size": 100}, "evaluate": {"fid_samples": 100, "fid_samples_seed": 100}}
    )
    torch.manual_seed(0)
    models_ = {n: (models.build(config.spec(cfg.variants[n], config.variant_params(p, cfg.variants[n], cfg))), {})
               for n in ("vae_z2", "ae_z2")}  # fmt: skip  # (model, checkpoint)
    r = np.random.default_rng(0)
    x_train, x_val = r.uniform(size=(200, 784)).astype(np.float32), r.uniform(size=(60, 784)).astype(np.float32)
    feats = lambda images, desc: np.asarray(images)[:, ::49].astype(np.float64)  # noqa: E731  (16 "features")
    selection, best = run.select(cfg, p, models_, x_train, x_val, feats, "cpu")
    assert [(c["variant"], c["sampler"], c["family"]) for c in selection] == [
        ("vae_z2", "normal", "prior"),
        ("vae_z2", "gmm", "fitted"),
        ("ae_z2", "gmm", "fitted"),
    ]
    reference = fid.Reference(feats(x_val[:40], ""))
    for c in selection:
        images = run.draw(models_[c["variant"]][0], x_train, c["sampler"], 70, cfg, p, "cpu")
        assert c["fid_validation"] == pytest.approx(reference.fid(feats(images[:40], "")), rel=1e-12)
    fitted = min(selection[1:], key=lambda c: c["fid_validation"])
    assert best["fitted"][:2] == (fitted["fid_validation"], (fitted["variant"], fitted["sampler"]))
    kept = best["fitted"][2]
    drawn = run.draw(models_[fitted["variant"]][0], x_train, fitted["sampler"], 70, cfg, p, "cpu")
    np.testing.assert_array_equal(kept, drawn[40:])  # the samples the selection did not see
    assert set(best) == {"prior", "fitted"} and len(best["prior"][2]) == 30


def test_the_committed_config_loads():
    cfg = config.load_config()
    assert cfg.fid_n["record"] == 10_000 and cfg.record.select_n <= 5000
    # the record has a candidate of every family, each a model the campaign trains
    families = {config.family_of(cfg.variants[v].model, s) for v, s in cfg.record.candidates}
    assert families == set(config.FAMILIES)
    assert {v.model for v in cfg.variants.values()} == {"ae", "vae", "cvae", "vaegan"}
    # every comparison's sides have their own seeds; every trend has enough settings for its exact test
    assert all({c.first, c.second} <= set(cfg.replicated) for c in cfg.comparisons.values())
    assert all(len(t.variants) >= 5 for t in cfg.trends.values())
    assert cfg.seeds_of("vae_z32") == (0, 1, 2) and cfg.seeds_of("ae_z2") == (0,)
    # the three rows of Dai & Wipf's table reproduced, each at three seeds; the 2-Stage VAE's first stage is the
    # learned-gamma VAE (one model, two rows)
    assert cfg.published == {"vae": ("vae_infogan", "normal"), "vae_gamma": ("vae_infogan_gamma", "normal"),
                             "two_stage": ("vae_infogan_gamma", "two_stage")}  # fmt: skip
    assert all(cfg.seeds_of(v) == (0, 1, 2) for v in cfg.published_variants)


N_CANDIDATES = len(config.load_config().record.candidates)  # an appended candidate's index
BAD = {
    "unknown model": (
        lambda r: r["variants"]["ae_z2"].update(model="gan"),
        "variants.ae_z2.model: unknown choice 'gan'",
    ),
    "conv cvae": (lambda r: r["variants"]["cvae"].update(arch="conv"), "variants.cvae: the cvae is dense only"),
    "vaegan without gan": (
        lambda r: r["variants"]["vaegan_z32"].pop("gan"),
        "variants.vaegan_z32.gan: a VAE-GAN needs",
    ),
    "gan on a vae": (
        lambda r: r["variants"]["vae_z2"].update(gan={"epochs": 1}),
        "variants.vae_z2.gan: a vae has none",
    ),
    "gan lr text": (
        lambda r: r["variants"]["vaegan_z32"]["gan"].update(lr="1e-4x"),
        "variants.vaegan_z32.gan.lr: expected a number",
    ),
    "train override": (lambda r: r["variants"]["ae_z2"].update(train={"lr": 0}), "variants.ae_z2.train.lr: 0"),
    "replicated unknown": (
        lambda r: r["roles"].update(replicated=["nope"]),
        "roles.replicated: 'nope' is not a variant",
    ),
    "comparison side not replicated": (
        lambda r: r["roles"]["comparisons"]["hybrid"].update(second="ae_z2"),
        "'ae_z2' is not in roles.replicated",
    ),
    "unknown measure": (
        lambda r: r["roles"]["trends"]["beta"].update(measures=["accuracy"]),
        "roles.trends.beta.measures: 'accuracy' is not a measure",
    ),
    "trend of two": (
        lambda r: r["roles"]["trends"]["beta"].update(variants=["vae_b2", "vae_b4"]),
        "at least 3 settings",
    ),
    "unknown role": (lambda r: r["roles"].update(pairs=[]), "roles.pairs: unknown key"),
    "replicated twice": (lambda r: r["roles"].update(replicated=["vae_z32", "vae_z32"]), "names a variant twice"),
    "replicated not a list": (lambda r: r["roles"].update(replicated=5), "roles.replicated: expected a list"),
    "comparisons a list": (lambda r: r["roles"].update(comparisons=[]), "roles.comparisons: expected a mapping"),
    "a side against itself": (
        lambda r: r["roles"]["comparisons"]["hybrid"].update(second="vaegan_z32"),
        "first and second are both 'vaegan_z32'",
    ),
    "a trend over one setting twice": (
        lambda r: r["roles"]["trends"]["latent_ae"].update(variants=["ae_z2", "ae_z8", "ae_z16", "ae_z32", "vae_z32"]),
        "two variants share a latent",
    ),
    "a measure one side lacks": (
        lambda r: r["roles"]["comparisons"]["hybrid"].update(measures=["fid_gaussian"]),
        "'fid_gaussian' is not measured for vaegan_z32, vae_z32",
    ),
    "a VAE bound on an AE": (
        lambda r: r["roles"]["trends"]["latent_ae"].update(measures=["kl"]),
        "'kl' is not measured for ae_z2",
    ),
    "seeds null": (lambda r: r.update(seeds=None), "seeds: a value is required"),
    "vaegan with train overrides": (
        lambda r: r["variants"]["vaegan_z32"].update(train={"lr": 0.1}),
        "a vaegan trains by its gan knobs",
    ),
    "repeated seed": (lambda r: r.update(seeds=[1, 1]), "seeds: [1, 1] repeats a seed"),
    "seed a string": (lambda r: r.update(seeds=["1"]), "seeds[0]: expected an integer"),
    "family without fid_n": (lambda r: r["variants"]["ae_z2"].update(family="x"), "variants.ae_z2.family: 'x'"),
    "unknown sampler": (lambda r: r["variants"]["ae_z2"].update(samplers=["flow"]), "variants.ae_z2.samplers"),
    "record candidate unknown": (
        lambda r: r["record"]["candidates"].append(["nope", "normal"]),
        f"record.candidates[{N_CANDIDATES}]: unknown variant 'nope'",
    ),
    "record AE from the prior": (
        lambda r: r["record"]["candidates"].append(["ae_z8", "normal"]),
        f"record.candidates[{N_CANDIDATES}]: ae_z8 cannot be sampled by 'normal'; one of gaussian, gmm, "
        "two_stage (an AE has no prior)",
    ),
    "record conditional": (
        lambda r: r["record"]["candidates"].append(["cvae", "normal"]),
        f"record.candidates[{N_CANDIDATES}]: cvae is the conditional VAE",
    ),
    "record not a pair": (
        lambda r: r["record"]["candidates"].append(["vae_z2"]),
        f"record.candidates[{N_CANDIDATES}]: ['vae_z2'] is not a [variant, sampler] pair",
    ),
    "record pair twice": (
        lambda r: r["record"]["candidates"].append(["vae_z32", "normal"]),
        "record.candidates: a pair is listed twice",
    ),
    "record unknown sampler": (
        lambda r: r["record"]["candidates"].append(["vae_z2", "flow"]),
        f"record.candidates[{N_CANDIDATES}]: vae_z2 cannot be sampled by 'flow'",
    ),
    "record empty": (lambda r: r["record"].update(candidates=[]), "record.candidates: empty"),
    "record candidates not a list": (
        lambda r: r["record"].update(candidates="vae_z32"),
        "record.candidates: expected a list",
    ),
    "record select_n too small": (lambda r: r["record"].update(select_n=5), "record.select_n: 5 is out of range"),
    "fid_n too small": (lambda r: r["fid_n"].update(latent=10), "fid_n.latent: 10"),
    "fid_n a string": (lambda r: r["fid_n"].update(latent="1000"), "fid_n.latent: '1000'"),
    "missing key": (lambda r: r.pop("iw_samples"), "campaign.iw_samples: missing"),
    "latent a bool": (
        lambda r: r["variants"]["ae_z2"].update(latent=True),
        "variants.ae_z2.latent: expected an integer",
    ),
    "negative beta": (lambda r: r["variants"]["vae_z2"].update(beta=-1), "variants.vae_z2.beta: -1"),
    "no record size": (lambda r: r["fid_n"].pop("record"), "fid_n.record: missing"),
    "zero width": (lambda r: r["two_stage"].update(width=0), "two_stage.width: 0 is out of range"),
    # a key the campaign does not read would silently fall back to its default: every level refuses it
    "misspelled variant key": (
        lambda r: r["variants"]["vae_z2"].update(bta=4.0),
        "variants.vae_z2.bta: unknown key; allowed under variants.vae_z2: family, model",
    ),
    "unknown top-level key": (lambda r: r.update(fid_samples=5), "fid_samples: unknown key in campaign/params.yaml"),
    "unknown nested key": (lambda r: r["two_stage"].update(epoch=3), "two_stage.epoch: unknown key"),
    "a dot in a variant name": (
        lambda r: r["variants"].update({"vae_b0.5": dict(r["variants"]["vae_z2"])}),
        "variants.vae_b0.5: a variant name is letters, digits and _ only",
    ),
    "a learned gamma on an AE": (
        lambda r: r["variants"]["ae_z2"].update(likelihood="gaussian"),
        "variants.ae_z2.likelihood: a gaussian decoder is a VAE's only (model: vae); model ae is bernoulli only",
    ),
    "FID against epochs on an AE": (
        lambda r: r["variants"]["ae_z2"].update(fid_every=2),
        "variants.ae_z2.fid_every: FID against epochs is drawn from a VAE's prior (model: vae); model ae",
    ),
    "an unknown likelihood": (
        lambda r: r["variants"]["vae_z2"].update(likelihood="laplace"),
        "variants.vae_z2.likelihood: unknown choice 'laplace'",
    ),
    "variant not a mapping": (lambda r: r["variants"].update(v1=[1, 2]), "variants.v1: expected a mapping"),
    "published: an unknown row": (
        lambda r: r["published"].update(vae_x=["vae_infogan", "normal"]),
        "published.vae_x: not a published row the campaign reproduces; one of vae, vae_gamma, two_stage",
    ),
    "published: the GAN row": (
        lambda r: r["published"].update(wgan=["vaegan_z32", "normal"]),
        "published.wgan: not a published row the campaign reproduces; one of vae, vae_gamma, two_stage (the GAN row",
    ),
    "published: a beta-VAE as the VAE row": (
        lambda r: (
            r["published"].update(vae=["vae_b0_5", "normal"]),
            r["roles"]["replicated"].append("vae_b0_5"),
            r["roles"].update(published=["vae_b0_5", "vae_infogan_gamma"]),
        ),  # fmt: skip
        "published.vae: vae_b0_5 sampled by normal is not the row's model (VAE (cross-entropy), Dai & Wipf Table 1: "
        "a VAE with beta 1 and a bernoulli decoder, sampled by normal); vae_b0_5 is a vae with beta 0.5",
    ),
    "published: a mixture as the 2-Stage VAE": (
        lambda r: r["published"].update(two_stage=["vae_infogan_gamma", "gmm"]),
        "published.two_stage: vae_infogan_gamma sampled by gmm is not the row's model",
    ),
    "record: an ex-post sampler its variant does not fit": (
        lambda r: r["record"]["candidates"].append(["vae_z32", "two_stage"]),
        f"record.candidates[{N_CANDIDATES}]: vae_z32 is drawn by two_stage, which its variant stage fits and keeps "
        "only if listed: add two_stage to variants.vae_z32.samplers",
    ),
    "published: another family's sampler": (
        lambda r: r["published"].update(vae=["vae_infogan", "gmm"]),
        "published.vae: vae_infogan sampled by gmm is not the row's model",
    ),
    "published: another decoder": (
        lambda r: r["published"].update(vae=["vae_infogan_gamma", "normal"]),
        "published.vae: vae_infogan_gamma sampled by normal is not the row's model",
    ),
    "published: one seed only": (
        lambda r: (
            r["published"].update(vae=["vae_z2", "normal"]),
            r["roles"].update(published=["vae_z2", "vae_infogan_gamma"]),
        ),  # fmt: skip
        "published.vae: vae_z2 is not in roles.replicated",
    ),
    "published: an AE from its prior": (
        lambda r: r["published"].update(two_stage=["ae_z32", "normal"]),
        "published.two_stage: ae_z32 cannot be sampled by 'normal'",
    ),
    "published: not a pair": (
        lambda r: r["published"].update(vae="vae_infogan"),
        "published.vae: 'vae_infogan' is not",
    ),
    "published: not a mapping": (lambda r: r.update(published=[1]), "published: expected a mapping"),
    "published: missing": (lambda r: r.pop("published"), "campaign.published: missing"),
    "roles.published: a variant short": (
        lambda r: r["roles"].update(published=["vae_infogan"]),
        "roles.published: ['vae_infogan'] must list each variant of `published` once: vae_infogan, vae_infogan_gamma",
    ),
    "roles.published: a variant twice": (
        lambda r: r["roles"].update(published=["vae_infogan", "vae_infogan", "vae_infogan_gamma"]),
        "roles.published: ['vae_infogan', 'vae_infogan', 'vae_infogan_gamma'] must list",
    ),
    "variant name with a dash": (
        lambda r: r["variants"].update({"v-1": {"family": "latent", "model": "ae", "arch": "dense", "latent": 2}}),
        "variants.v-1: a variant name",
    ),
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


def test_a_learned_gamma_with_the_stopping_rule_is_refused(tmp_path):
    # the study's train.patience (5) applies unless the variant sets it: a Gaussian decoder's loss has no floor
    cfg = config.load_config(_write(tmp_path, lambda r: r["variants"]["vae_z2"].update(likelihood="gaussian")))
    want = r"^variants.vae_z2.train.patience: 5 \(the study's train.patience unless set\); a gaussian decoder's loss"
    with pytest.raises(config.CampaignError, match=want):
        config.check_with_study(cfg, params.load())
    fixed = config.load_config(_write(tmp_path, lambda r: r["variants"]["vae_z2"].update(
        likelihood="gaussian", train={"patience": 0})))  # fmt: skip
    config.check_with_study(fixed, params.load())
    assert config.spec(fixed.variants["vae_z2"], params.load()).likelihood == "gaussian"
    gaussian = fixed.variants["vae_z2"]
    assert not config.has_measure(gaussian, "nll_iw") and config.has_measure(gaussian, "fid_normal")


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


def test_fid_against_epochs_scores_the_same_codes_every_fid_every_epochs():
    p = params.from_dict({"data": {"subset": 400, "val_size": 100}, "evaluate": {"fid_samples": 80,
                                                                                 "fid_samples_seed": 60}})  # fmt: skip
    cfg = config.load_config()
    v = dataclasses.replace(cfg.variants["vae_z2"], fid_every=2)
    assert run.fid_hook(dataclasses.replace(v, fid_every=0), p, None, None, "cpu") is None
    model = models.build(config.spec(v, p)).eval()
    seen = []
    features = lambda images, desc: seen.append(images) or images[:, ::49].astype(np.float64)  # noqa: E731
    ref = np.random.default_rng(0).random((100, 16))
    hook = run.fid_hook(v, p, features, ref, "cpu")
    first, odd, again = hook(model, 2), hook(model, 3), hook(model, 4)
    assert math.isnan(odd["fid_prior"]) and len(seen) == 2 and len(seen[0]) == 60
    assert first == again and np.array_equal(seen[0], seen[1])  # the same codes: the curve moves with the model only
    assert first["fid_prior"] == pytest.approx(fid.fid(ref[:60], seen[0][:, ::49].astype(np.float64)))


def test_variant_params_override_only_the_variant_knobs():
    cfg, p = config.load_config(), params.load()
    v = cfg.variants["vae_b4"]
    pv = config.variant_params(p, v, cfg)
    assert (pv.vae.beta, pv.latent_dim, pv.model.arch) == (4.0, 32, "dense")
    assert pv.evaluate.fid_samples_seed == cfg.fid_n["beta"] and pv.evaluate.iw_samples == cfg.iw_samples
    assert pv.train == p.train and pv.seed == p.seed
    assert isinstance(models.build(config.spec(cfg.variants["cvae"], p)), models.CVAE)
    # the published network's pair: their optimizer for both, the same latent, a similar parameter count
    conv, dense = cfg.variants["vae_infogan"], cfg.variants["vae_dense_wide"]
    pc, pd_ = config.variant_params(p, conv, cfg), config.variant_params(p, dense, cfg)
    assert pc.train == pd_.train and (pc.train.lr, pc.train.batch_size) == (1e-4, 64)
    assert pc.train.min_improvement == p.train.min_improvement  # what the variant does not name stays the study's
    sizes = [
        sum(t.numel() for t in models.build(config.spec(v, pv)).parameters()) for v, pv in ((conv, pc), (dense, pd_))
    ]
    assert abs(sizes[0] / sizes[1] - 1) < 0.02 and conv.latent == dense.latent == 64
    assert config.spec(cfg.variants["vaegan_z32"], p) == dataclasses.replace(
        config.spec(cfg.variants["vae_z32"], p), name="vaegan_z32"
    )


# ------------------------------------------------------------------ results table and tests


def _run(name: str, seed: int, model: str = "vae", **metrics) -> dict:
    v = {"name": name, "seed": seed, "family": "latent", "model": model, "arch": "dense", "latent": 8, "beta": 1.0}
    return {"variant": v, "fid_n": 1000, "epochs": 20, "best_epoch": 19, "stopped": "plateau",
            "seconds": {"train": 60.0, "evaluate": 30.0}, "protocol": {}, **metrics}  # fmt: skip


def test_table_has_one_row_per_run():
    df = campaign_report.table({"a-0": _run("a", 0, "ae", mse=0.5, fid_gaussian=80.0, fid_gmm=60.0),
                                "v-0": _run("v", 0, mse=0.4, fid_normal=70.0)})  # fmt: skip
    assert list(df["run"]) == ["a-0", "v-0"] and df["seconds"].tolist() == [90.0, 90.0]
    assert np.isnan(df["beta"].iloc[0]) and df["beta"].iloc[1] == 1.0  # beta means nothing for an AE
    with pytest.raises(config.CampaignError, match=r"runs/x-0.json: mse is 'a', not a number"):
        campaign_report.table({"x-0": _run("x", 0, mse="a")})


CMP = config.Comparison("better", "g", "v", ("fid_normal", "sharpness"))


def _two(first: dict, second: dict):
    runs = {f"g-{i}": _run("g", i, "vaegan", **{k: v[i] for k, v in first.items()}) for i in range(3)}
    runs |= {f"v-{i}": _run("v", i, **{k: v[i] for k, v in second.items()}) for i in range(3)}
    return campaign_report.table(runs)


def test_comparison_is_welch_on_each_sides_own_seeds_oriented_by_the_measure():
    df = _two({"fid_normal": (60.0, 61.0, 62.0), "sharpness": (0.99, 1.0, 1.01)},
              {"fid_normal": (70.0, 71.5, 72.0), "sharpness": (1.20, 1.21, 1.22)})  # fmt: skip
    fid_r = campaign_report.comparison("fid_normal", CMP, df)
    expect = st.ttest_ind([-60.0, -61.0, -62.0], [-70.0, -71.5, -72.0], equal_var=False)
    assert fid_r.effect == pytest.approx(71.1667 - 61.0, abs=1e-3) and fid_r.p == pytest.approx(expect.pvalue)
    sharp = campaign_report.comparison("sharpness", CMP, df)
    assert sharp.effect > 0  # closer to 1 is better: 1.0 beats 1.21 though 1.21 > 1.0
    # both confirmed after Holm over the two; the reverse claim is refuted; one seed a side: nothing to test
    results = campaign_report._decide("h", [fid_r, sharp])
    assert [r.verdict for r in results] == ["confirmed", "confirmed"] and campaign_report.verdicts(results) == {
        "h": "confirmed"}  # fmt: skip
    rev = campaign_report._decide("r", [campaign_report.comparison("fid_normal", config.Comparison("c", "v", "g", ()),
                                                                   df)])  # fmt: skip
    assert rev[0].verdict == "refuted"
    one = campaign_report.table({"g-0": _run("g", 0, fid_normal=60.0), "v-0": _run("v", 0, fid_normal=70.0)})
    assert math.isnan(campaign_report.comparison("fid_normal", CMP, one).p)


def test_a_difference_within_the_seed_noise_is_inconclusive():
    df = _two({"fid_normal": (60.0, 70.0, 65.0), "sharpness": (1, 1, 1)},
              {"fid_normal": (64.0, 66.0, 68.0), "sharpness": (1, 1, 1)})  # fmt: skip
    r = campaign_report._decide("h", [campaign_report.comparison("fid_normal", CMP, df)])
    assert r[0].verdict == "inconclusive"


def test_the_hypotheses_table_tallies_each_verdict_so_a_refuted_measure_is_not_hidden():
    # kNN refuted, the probe inconclusive: the combined verdict is "inconclusive", the tally shows the refutation
    verdicts = ["refuted", "inconclusive"]
    tests = [campaign_report.Result("b", "c", k, "trend", (), (), 0, 0, 0, 0, verdict=v)
             for k, v in zip(("latent_acc", "probe_acc"), verdicts, strict=True)]  # fmt: skip
    assert campaign_report.verdicts(tests) == {"b": "inconclusive"}
    assert campaign_report._tally(verdicts) == "1 refuted, 1 inconclusive"
    assert campaign_report._tally(["confirmed"] * 8 + ["refuted", "inconclusive"]) == (
        "8 confirmed, 1 refuted, 1 inconclusive"
    )
    assert campaign_report._tally([]) == "-"


def _sweep(values_: list[float], key: str = "latent_acc"):
    runs = {f"s{i}-0": _run(f"s{i}", 0, **{key: v}) for i, v in enumerate(values_)}
    for i, r in enumerate(runs.values()):
        r["variant"]["latent"] = 2**i
    df = campaign_report.table(runs)
    t = config.Trend("grows", "latent", tuple(f"s{i}" for i in range(len(values_))), (key,))
    return campaign_report.trend(key, t, df, campaign_report.means(df))


def test_trend_is_kendalls_tau_exact_over_the_settings_oriented_by_the_measure():
    r = _sweep([0.6, 0.7, 0.75, 0.8, 0.85])
    assert r.effect == pytest.approx(1.0) and r.p == pytest.approx(2 / 120)  # exact two-sided p, perfect order of 5
    assert _sweep([0.05, 0.04, 0.03, 0.02, 0.01], "mse").effect == pytest.approx(1.0)  # lower MSE: improves
    assert _sweep([0.85, 0.8, 0.75, 0.7, 0.6]).effect == pytest.approx(-1.0)
    assert _sweep([0.6, 0.8, 0.7, 0.85, 0.75]).p > 0.2  # no order: nothing
    assert math.isnan(_sweep([0.6, 0.7]).p)  # two settings: nothing to test
    # a tie: the exact p over all 120 orderings (4 of them as ordered as this one: 2 up, 2 down), where the normal
    # approximation scipy falls back to would say 0.023 and pass Holm over two measures
    tied = _sweep([0.6, 0.7, 0.7, 0.8, 0.85])
    assert tied.p == pytest.approx(4 / 120) and tied.effect == pytest.approx(st.kendalltau(range(5), tied.first)[0])


def test_random_projections_are_the_failing_case_of_the_representation_measures():
    # codes that learned nothing, read by a wider kNN: accuracy rises with the width alone, and the trend test
    # confirms it (a perfect order of 5: p = 2/5!), so a rising measure over the models is not enough
    grows = pd.DataFrame({"latent": [2, 8, 16, 32, 64], "latent_acc": [0.25, 0.64, 0.77, 0.82, 0.83],
                          "probe_acc": [0.27, 0.55, 0.70, 0.77, 0.80]})  # fmt: skip
    check = campaign_report.projection_check(grows, ("latent_acc", "probe_acc"))
    assert check["latent_acc"] == pytest.approx((1.0, 2 / 120)) and check["probe_acc"] == pytest.approx((1.0, 2 / 120))
    flat = grows.assign(latent_acc=[0.8, 0.79, 0.81, 0.8, 0.805])
    assert campaign_report.projection_check(flat, ("latent_acc",))["latent_acc"][1] > 0.05
    assert campaign_report.projection_check(pd.DataFrame(), ("latent_acc",)) == {}


def test_an_ex_post_sampler_is_tested_paired_by_seed_against_the_models_own():
    own, gmm = (90.0, 80.0, 95.0), (75.0, 66.0, 79.0)  # seed effects shared: the pairs differ by 14-16
    runs = {f"v-{i}": _run("v", i, fid_normal=own[i], fid_gmm=gmm[i], kid_normal=0.05, kid_gmm=0.05 - i / 100)
            for i in range(3)}  # fmt: skip
    cfg = dataclasses.replace(config.load_config(), replicated=("v",))
    r = {x.key: x for x in campaign_report.sampler_tests(cfg, campaign_report.table(runs))}
    assert set(r) == {"fid_gmm", "kid_gmm"} and r["fid_gmm"].claim == "`v`: gmm against normal"
    paired = st.ttest_rel(own, gmm)  # lower FID is better: own - gmm > 0 supports the ex-post sampler
    assert r["fid_gmm"].effect == pytest.approx(np.mean(own) - np.mean(gmm)) and r["fid_gmm"].p == pytest.approx(
        paired.pvalue)  # fmt: skip
    assert st.ttest_ind(own, gmm, equal_var=False).pvalue > 0.05 > paired.pvalue  # unpaired, the seeds would hide it
    assert r["fid_gmm"].verdict == "confirmed" and paired.pvalue <= r["fid_gmm"].p_holm < 0.05  # Holm over both


def test_an_aes_naive_normal_sampler_is_not_tested_as_an_ex_post_sampler():
    # an AE's own sampler is the fitted Gaussian; the mixture is ex-post, N(0, I) fitted to nothing (a baseline)
    runs = {f"a-{i}": _run("a", i, "ae", fid_gaussian=100.0 + i, fid_gmm=60.0 - i, fid_normal=180.0 + i,
                           kid_gaussian=0.08, kid_gmm=0.03 + i / 100, kid_normal=0.17) for i in range(3)}  # fmt: skip
    cfg = dataclasses.replace(config.load_config(), replicated=("a",))
    r = campaign_report.sampler_tests(cfg, campaign_report.table(runs))
    assert [(x.claim, x.key) for x in r] == [
        ("`a`: gmm against gaussian", "fid_gmm"),
        ("`a`: gmm against gaussian", "kid_gmm"),
    ]


def _cvae(rates: list[float], n: int = 1000) -> dict:
    return _run("cvae", 0, "cvae", fid_n=n, sample_class_acc=float(np.mean(rates)), sample_class_acc_by_class=rates)


def test_conditional_claim_tests_each_class_against_a_majority_by_the_exact_binomial():
    ceiling = [0.85, 0.98, 0.8, 0.9, 0.8, 0.97, 0.6, 0.95, 0.98, 0.96]
    r = campaign_report.conditional(_cvae([0.62] + [0.9] * 9), ceiling)
    assert [x.second for x in r] == [(float(c), 100) for c in range(10)]  # 1,000 draws, classes in turn
    # 62 of 100 against 0.5, two-sided exact: the outcomes no likelier than 62, summed (independent of binomtest)
    pmf = st.binom.pmf(np.arange(101), 100, 0.5)
    assert r[0].p == pytest.approx(pmf[pmf <= pmf[62] * (1 + 1e-7)].sum(), rel=1e-9)
    assert r[0].effect == pytest.approx(0.12) and r[0].lo < 0.12 < r[0].hi and r[0].first == (0.62, 0.85)
    assert r[0].p_holm == pytest.approx(r[0].p) and r[1].p_holm == pytest.approx(10 * r[1].p)  # Holm: x1 .. x10
    assert all(x.verdict == "confirmed" for x in r) and campaign_report.verdicts(r) == {"conditional": "confirmed"}


def test_a_conditional_model_that_ignores_the_class_is_not_confirmed():
    # a decoder that ignores its label: each class drawn is judged as asked at about chance: refuted everywhere
    blind = campaign_report.conditional(_cvae([0.08, 0.12, 0.1, 0.09, 0.11, 0.1, 0.13, 0.07, 0.1, 0.1]))
    assert campaign_report.verdicts(blind) == {"conditional": "refuted"}
    # one that knows the group, not the class: a shirt drawn is read as a shirt a fifth of the time (chance
    # would confirm it); the other classes right: mixed
    group = campaign_report.conditional(_cvae([0.9] * 6 + [0.2] + [0.9] * 3))
    assert group[6].verdict == "refuted" and campaign_report.verdicts(group) == {"conditional": "mixed"}
    # 55 of 100: most, but not distinguishable from half: inconclusive there
    assert campaign_report.conditional(_cvae([0.55] + [0.9] * 9))[0].verdict == "inconclusive"
    # 1,003 draws: the first three classes get one more, as evaluate_cvae's np.arange(n) % 10
    assert [x.second[1] for x in campaign_report.conditional(_cvae([0.5] * 10, 1003))] == [101] * 3 + [100] * 7


# ------------------------------------------------------------------ VAE-GAN


def test_vaegan_losses_have_their_analytic_values():
    d = vaegan.Discriminator((4, 8), 16).eval()
    x = torch.rand(6, 784)
    assert vaegan.feature_loss(d, x, x).item() == 0.0 and vaegan.feature_loss(d, x, 1 - x).item() > 0
    torch.nn.init.zeros_(d.upper[-1].weight), torch.nn.init.zeros_(d.upper[-1].bias)  # D(x) = 1/2 everywhere
    real, fake, gen = vaegan.gan_terms(d, x, torch.rand(6, 784))
    assert real.item() == pytest.approx(math.log(2)) and fake.item() == pytest.approx(math.log(2))
    assert gen.item() == pytest.approx(math.log(2))


def test_vaegan_trains_the_vae_it_is_built_on_deterministically():
    p = params.from_dict({"train": {"batch_size": 32}})
    s = Spec("g", "vae", "dense", 2, (16,))
    knobs = config.VaeGan(epochs=2, lr=1e-3, recon_weight=1.0, pixel_weight=0.0, channels=(4, 8), hidden=16)
    x = np.random.default_rng(0).random((96, 784), dtype=np.float32)
    a, da = vaegan.train_vaegan(s, p, knobs, x, x[:32], torch.device("cpu"))
    b, _ = vaegan.train_vaegan(s, p, knobs, x, x[:32], torch.device("cpu"))
    assert isinstance(a.model, models.VAE) and len(a.curves) == 2 and a.stopped == "max_epochs"
    assert all(math.isfinite(v) for row in a.curves for v in row.values())
    assert {"train_feat", "train_d_real", "train_d_fake", "train_g", "val_loss", "val_kl"} <= set(a.curves[0])
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    with pytest.raises(ValueError, match="built on a VAE"):
        vaegan.train_vaegan(dataclasses.replace(s, kind="ae"), p, knobs, x, x[:32], torch.device("cpu"))


# ------------------------------------------------------------------ Dai & Wipf's protocol


@pytest.mark.slow
def test_dai_wipf_features_equal_the_torchmetrics_network_that_resizes_as_tf1(splits, fid_weights, inception):
    # an independent route: torchmetrics' copy of torch-fidelity's forward resizes any non-299 input with
    # TF1's bilinear and normalizes; ours feeds the same resize into the fused network. torchmetrics resizes
    # with antialiasing unless told not to (its default, not TF1's: 15-27% off on these features)
    u8 = fid.to_uint8(splits["test"].x[:32]).numpy()
    standard = fid.reference_extractor(fid_weights)
    standard.use_antialias = False
    with torch.inference_mode():
        want = standard(torch.from_numpy(u8)[:, None].expand(-1, 3, -1, -1).contiguous()).double().numpy()
    got = protocol.features(protocol.real_inputs(u8), inception).astype(np.float64)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    assert rel.max() < 1e-5, rel.max()
    # generated images spanning [0, 1] exactly: min-max leaves them, x 255 gives the same gray levels
    spans = u8.reshape(32, -1).astype(np.float32) / 255
    spans[:, 0], spans[:, -1] = 0.0, 1.0
    theirs = protocol.features(protocol.generated_inputs(spans), inception)
    same = protocol.features(protocol.real_inputs(np.round(spans * 255).astype(np.uint8)), inception)
    np.testing.assert_allclose(theirs, same, rtol=1e-4, atol=1e-4)
    # and the protocols differ: ours rounds and resizes half-pixel (on these images, by more than round-off)
    ours = fid.features(fid.to_uint8(spans), inception)
    assert np.abs(ours - same).max() > 1e-2


def test_sweep_figure_draws_every_metric_against_the_latent_size(tmp_path, monkeypatch):
    rows = [{"run": f"{m}_z{d}-0", "variant": f"{m}_z{d}", "seed": 0, "family": "latent", "model": m, "arch": "dense",
             "latent": d, "beta": 1.0, "fid_n": 100, "epochs": 1, "best_epoch": 1, "stopped": "", "seconds": 1.0,
             **{k: d / 100 + (0.5 if m == "vae" else 0) for k in campaign_report.SWEEP_KEYS}}
            for m in ("ae", "vae") for d in (2, 16, 32)]  # fmt: skip
    rows.append({**rows[0], "run": "ae_z2-1", "seed": 1, "mse": 99.0})  # a further seed is not a point of it
    out = tmp_path / "sweep.png"
    campaign_report.sweep_figure(pd.DataFrame(rows), [r["variant"] for r in rows], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the random projections' baseline: one more line on the panels of the measures it has, none elsewhere
    drawn = {}
    monkeypatch.setattr(campaign_report.plots, "save_figure", lambda fig, path: drawn.update(fig=fig))
    baseline = pd.DataFrame({"latent": [2, 16, 32], "latent_acc": [0.3, 0.7, 0.8]})
    campaign_report.sweep_figure(pd.DataFrame(rows), [r["variant"] for r in rows], out, baseline)
    lines = {ax.get_title().split("\n")[0]: [ln.get_label() for ln in ax.get_lines()] for ax in drawn["fig"].axes}
    knn = config.measures()["latent_acc"].label
    assert lines[knn] == ["AE", "VAE", "random projection"]
    assert all(v == ["AE", "VAE"] for k, v in lines.items() if k != knn)
