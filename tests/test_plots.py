import numpy as np
import pandas as pd
from scipy.stats import norm

from aevae import evaluate
from aevae.campaign import report as campaign_report


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


def test_sweep_figure_draws_every_metric_against_the_latent_size(tmp_path):
    rows = [{"run": f"{m}_z{d}-0", "variant": f"{m}_z{d}", "seed": 0, "family": "latent", "model": m, "arch": "dense",
             "latent": d, "beta": 1.0, "fid_n": 100, "epochs": 1, "best_epoch": 1, "stopped": "", "seconds": 1.0,
             **{k: d / 100 + (0.5 if m == "vae" else 0) for k in campaign_report.SWEEP_KEYS}}
            for m in ("ae", "vae") for d in (2, 16, 32)]  # fmt: skip
    rows.append({**rows[0], "run": "ae_z2-1", "seed": 1, "mse": 99.0})  # a further seed is not a point of it
    out = tmp_path / "sweep.png"
    campaign_report.sweep_figure(pd.DataFrame(rows), [r["variant"] for r in rows], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
