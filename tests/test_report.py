"""The report's numbers: spreads, verdicts on both sides of the spread, convergence, and the text."""

import math

import numpy as np
import pandas as pd
import pytest

from aevae import params, report
from aevae.models import Spec
from aevae.report import CONFIRMED, INCONCLUSIVE, REFUTED, Stat
from aevae.study import METRICS


def s(mean, sd):
    return Stat(mean, sd, 3, "test")


@pytest.mark.parametrize(
    ("claimed", "other", "higher", "expected"),
    [
        (s(0.9, 0.01), s(0.8, 0.01), True, CONFIRMED),  # gap 0.1 > spread 0.02
        (s(0.9, 0.06), s(0.8, 0.06), True, INCONCLUSIVE),  # gap 0.1 < spread 0.12
        (s(0.7, 0.01), s(0.8, 0.01), True, REFUTED),  # the other way, beyond the spread
        (s(0.7, 0.01), s(0.8, 0.01), False, CONFIRMED),  # lower is the claim (e.g. MSE)
        (s(0.81, 0.0), s(0.8, 0.0), True, CONFIRMED),  # no spread at all: any gap counts
        (s(0.8, 0.0), s(0.8, 0.0), True, INCONCLUSIVE),  # a tie is never a verdict
        (s(0.9, float("nan")), s(0.1, 0.0), True, INCONCLUSIVE),  # one seed: no spread known
    ],
)
def test_verdict_needs_a_gap_larger_than_the_spread(claimed, other, higher, expected):
    assert report.verdict(claimed, other, higher) == expected


def test_combine_gives_a_verdict_only_when_all_measures_agree():
    assert report.combine([CONFIRMED, CONFIRMED]) == CONFIRMED
    assert report.combine([REFUTED, REFUTED]) == REFUTED
    assert report.combine([CONFIRMED, REFUTED]) == report.MIXED  # beyond the spread both ways
    assert report.combine([CONFIRMED, INCONCLUSIVE]) == INCONCLUSIVE
    assert report.combine([]) == INCONCLUSIVE


def test_spreads_seeds_bootstrap_and_binomial():
    runs = {0: {"mse": 1.0, "fid_samples": 50.0, "fid_samples_sd": 0.7, "fid_bootstrap": 20, "precision": 0.64,
                "fid_n": 100}, 1: {"mse": 2.0}, 2: {"mse": 3.0}}  # fmt: skip
    assert report.stat(runs, "mse") == Stat(2.0, 1.0, 3, "sd over 3 seeds")
    assert report.stat(runs, "fid_samples").sd == 0.7
    kid = report.stat({0: {"kid_samples": 0.01, "kid_samples_sd": 0.002, "kid_subsets": 100}}, "kid_samples")
    assert kid == Stat(0.01, 0.002, 1, "sd over 100 subsets, seed 0")
    assert report.stat(runs, "precision").sd == pytest.approx(math.sqrt(0.64 * 0.36 / 100))
    assert report.stat(runs, "recall") is None
    assert math.isnan(report.stat({0: {"mse": 1.0}}, "mse").sd)


def _curve(values):
    return pd.DataFrame({"epoch": np.arange(1, len(values) + 1), "val_loss": values})


def test_convergence_is_absolute_and_finds_the_first_epoch_near_the_final_loss():
    falling = report.convergence(_curve([300, 250, 220, 212, 211, 210.5, 210.2, 210.1, 210.0]))
    assert falling["converged"] and falling["rel_change"] == pytest.approx((212 - 210) / 210)
    assert falling["near_final_epoch"] == 4  # 212 is within 1% of 210; 220 is not
    rising = report.convergence(_curve([200, 150, 140, 139, 140, 141, 143, 146, 150]))
    assert not rising["converged"] and rising["rel_change"] == pytest.approx((150 - 139) / 150)
    still_falling = report.convergence(_curve([300, 280, 260, 240, 220, 200, 180]))
    assert not still_falling["converged"]


def _runs(ae_mse, vae_mse):
    rng = np.random.default_rng(0)

    def one(name, mse, latent, rep):
        m = {k: 0.5 for k in METRICS if not METRICS[k].vae_only}
        spec = Spec(name, "ae" if name == "ae" else "vae", "dense", latent, (512, 256))
        m.update({"mse": mse + 1e-4 * rep, "run": {"spec": spec.as_dict()}, "interp_pairs": 100})
        if rep == 0:
            m.update({"fid_recon_sd": 1.0, "fid_samples_sd": 1.0, "fid_bootstrap": 20, "fid_n": 100,
                      "kid_samples_sd": 0.001, "kid_subsets": 100})  # fmt: skip
        else:
            for k in ("fid_recon", "fid_samples", "kid_samples", "precision", "recall", "interp_precision"):
                m.pop(k)
        return m

    runs = {"ae": {r: one("ae", ae_mse, 32, r) for r in range(3)},
            "vae": {r: one("vae", vae_mse, 32, r) for r in range(3)},
            "vae_2d": {r: one("vae", vae_mse * 2, 2, r) for r in range(3)}}  # fmt: skip
    curves = {n: {r: _curve(list(300 - np.arange(20) - rng.random())) for r in range(3)} for n in runs}
    return runs, curves


def test_study_verdicts_and_report_text():
    p = params.from_dict({})
    runs, curves = _runs(0.01, 0.02)
    study = report.build(runs, curves, p)
    assert study.labels == {"ae": "AE (dense, latent 32)", "vae": "VAE (dense, latent 32)",
                            "vae_2d": "VAE (dense, latent 2)"}  # fmt: skip
    recon = dict((k, v) for k, v, *_ in study.verdicts["report"]["ae_reconstructs_better"][1])
    assert recon["mse"] == CONFIRMED and recon["ssim"] == INCONCLUSIVE  # equal SSIM: no verdict
    assert study.verdicts["report"]["ae_reconstructs_better"][0] == INCONCLUSIVE  # measures disagree
    summary = report.summary(study)
    assert summary["models"]["ae"]["mse"]["mean"] == pytest.approx(0.0101)
    assert summary["converged"] == {"ae": False, "vae": False, "vae_2d": False}  # still falling 1/epoch
    text = report.render(study, "figures")
    assert text.startswith("# AE vs VAE on Fashion-MNIST")
    assert "**Answer.**" in text.split("## The claims")[0]
    assert "**inconclusive**: MSE 0.0101 ± 0.0001 (AE) vs 0.0201 ± 0.0001 (VAE): confirmed" in text
    assert "not comparable with published NLLs" in text
    for fig in report.FIGURES:
        assert f"(figures/{fig})" in text
    # the 32-d VAE (MSE 0.02) against the 2-d one (0.04): "a larger latent reconstructs better" holds
    larger = dict((k, v) for k, v, *_ in study.verdicts["latent"]["larger_latent_richer"][1])
    assert larger["mse"] == CONFIRMED
    flipped = report.build(*_runs(0.03, 0.02), p)
    assert dict((k, v) for k, v, *_ in flipped.verdicts["matched"]["ae_reconstructs_better"][1])["mse"] == REFUTED


def test_one_epoch_cannot_say_whether_a_model_converged():
    runs, _ = _runs(0.01, 0.02)
    curves = {n: {r: _curve([300.0]) for r in range(3)} for n in runs}
    study = report.build(runs, curves, params.from_dict({}))
    verdict, text = report._converged_text(study, ("ae", "vae"))
    assert verdict == INCONCLUSIVE and "nan%" in text
