import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from aevae import evaluate, params, plots, report, sweep


def test_manifold_at_2d_is_the_prior_quantile_grid():
    z, how = evaluate.manifold_latents(np.random.default_rng(0).normal(size=(100, 2)))
    g = evaluate.GRID
    assert z.shape == (g * g, 2) and "N(0, I) quantiles" in how
    np.testing.assert_allclose(sorted(set(np.round(z[:, 0], 6))), np.round(norm.ppf(np.linspace(0.05, 0.95, g)), 6))


def test_manifold_above_2d_spans_the_leading_directions():
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(500, 8)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    z, how = evaluate.manifold_latents(lat)
    assert "PCA" in how
    assert np.abs(z[:, 2:]).max() < 0.1 * np.abs(z[:, :2]).max()  # grid lies in the first two axes


def test_latent_projection_is_direct_at_2d_and_pca_above():
    z = np.random.default_rng(0).normal(size=(50, 2))
    xy, how = plots.project_2d(z)
    assert xy is z and "drawn directly" in how
    xy, how = plots.project_2d(np.c_[z, 0.01 * z])
    assert xy.shape == (50, 2) and how.startswith("PCA") and "100% of variance" in how


def _metrics(ae_mse, vae_mse, ae_fid, vae_fid):
    base = {"ssim": 0.8, "psnr": 20.0, "fid_recon": 10.0, "latent_acc": 0.8, "fid_n": 100}
    return {
        "ae": {**base, "mse": ae_mse, "ssim": 0.9 if ae_mse < vae_mse else 0.7, "fid_samples": ae_fid},
        "vae": {**base, "mse": vae_mse, "fid_samples": vae_fid, "latent_acc": 0.85, "iw_samples": 10},
    }


def test_claim_verdicts_follow_the_numbers_either_way():
    curves = {k: pd.DataFrame({"epoch": [1, 2], "val_loss": [100.0, 99.9]}) for k in ("ae", "vae")}
    p = params.from_dict({})
    confirmed = report.claims(_metrics(0.01, 0.02, 80.0, 40.0), curves, p)
    refuted = report.claims(_metrics(0.03, 0.02, 30.0, 40.0), curves, p)
    assert [v for _, v, _ in confirmed[:4]] == ["**confirmed**"] * 4
    assert [v for _, v, _ in refuted[:2]] == ["**refuted**"] * 2
    assert "0.01 (AE) vs 0.02 (VAE)" in confirmed[0][2]
    assert all(v == "not measured in this run" for _, v, _ in confirmed[4:])


CSV = (
    "Experiment,rev,typ,Created,parent,metrics/ae.json:fid_n,metrics/ae.json:fid_recon,metrics/ae.json:fid_samples,"
    "metrics/ae.json:latent_acc,metrics/ae.json:mse,metrics/ae.json:psnr,metrics/ae.json:ssim,elbo,"
    "metrics/vae.json:fid_n,metrics/vae.json:fid_recon,metrics/vae.json:fid_samples,metrics/vae.json:latent_acc,"
    "metrics/vae.json:mse,metrics/vae.json:psnr,metrics/vae.json:ssim,latent_dim,seed\n"
    ",workspace,baseline,,,100,50,60,0.8,0.01,20,0.8,-250,100,55,45,0.82,0.02,19,0.75,32,0\n"
    ",main,baseline,2026-11-24,,100,50,60,0.8,0.01,20,0.8,-250,100,55,45,0.82,0.02,19,0.75,32,0\n"
    "exp-a,abc1234,branch_commit,2026-11-24,,100,90,95,0.6,0.03,15,0.6,-280,100,80,70,0.7,0.035,14,0.6,2,0\n"
    "exp-b,def5678,branch_commit,2026-11-24,,100,40,55,0.85,0.008,21,0.85,-240,100,50,44,0.84,0.018,19.5,0.78,16,0\n"
    "exp-c,0a1b2c3,branch_commit,2026-11-24,,,,,,,,,,,,,,,,,8,0\n"  # a failed experiment: no metrics
)


def test_sweep_table_and_figure(tmp_path):
    table = sweep.experiments_table(CSV)
    assert sorted(table["latent_dim"].unique()) == [2, 16, 32]  # the failed one and the duplicate dropped
    assert len(table) == 6 and set(table["model"]) == {"ae", "vae"}
    row = table[(table.model == "vae") & (table.latent_dim == 2)].iloc[0]
    assert (row["fid_samples"], row["mse"]) == (70, 0.035)
    out = tmp_path / "sweep.png"
    plots.sweep(table, sweep.KEYS, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_without_experiments_says_what_to_run():
    with pytest.raises(sweep.StudyError, match="run the sweep first"):
        sweep.experiments_table("Experiment,rev,latent_dim\n,workspace,\n")
