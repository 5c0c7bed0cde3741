import numpy as np
import pytest
from scipy.stats import norm

from aevae import evaluate, plots, sweep


def test_manifold_at_2d_is_the_prior_quantile_grid():
    basis, how = evaluate.two_d(np.random.default_rng(0).normal(size=(100, 2)))
    z = evaluate.manifold_latents(basis)
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
    z = evaluate.manifold_latents(basis)
    assert np.abs(z[:, 2:]).max() < 0.1 * np.abs(z[:, :2]).max()  # grid lies in the first two axes


def _csv() -> str:
    """`dvc exp show --csv` as it names the primary runs' metrics; values by (model, latent_dim)."""
    cols = [f"metrics/runs/{m}-0.json:{k}" for m in sweep.MODELS for k in ["fid_n", *sweep.KEYS]]
    rows = []
    for exp, rev, d in ((None, "workspace", 32), (None, "main", 32), ("exp-a", "abc1234", 2), ("exp-b", "d5678", 16)):
        vals = [100 if k == "fid_n" else (d + i) / 100 + (0.5 if m == "vae" else 0) for m in sweep.MODELS
                for i, k in enumerate(["fid_n", *sweep.KEYS])]  # fmt: skip
        rows.append([exp or "", rev, *map(str, vals), str(d), "0"])
    rows.append(["exp-c", "0a1b2c3", *[""] * len(cols), "8", "0"])  # a failed experiment: no metrics
    return "\n".join(",".join(r) for r in [["Experiment", "rev", *cols, "latent_dim", "seed"], *rows]) + "\n"


CSV = _csv()


def test_sweep_table_and_figure(tmp_path):
    table = sweep.experiments_table(CSV)
    assert sorted(table["latent_dim"].unique()) == [2, 16, 32]  # the failed one and the duplicate dropped
    assert len(table) == 6 and set(table["model"]) == {"ae", "vae"}
    row = table[(table.model == "vae") & (table.latent_dim == 2)].iloc[0]
    k = sweep.KEYS.index("fid_samples") + 1
    assert row["fid_samples"] == pytest.approx((2 + k) / 100 + 0.5) and row["mse"] == pytest.approx(0.03 + 0.5)
    out = tmp_path / "sweep.png"
    plots.sweep(table, sweep.KEYS, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_without_experiments_says_what_to_run():
    with pytest.raises(sweep.StudyError, match="run the sweep first"):
        sweep.experiments_table("Experiment,rev,latent_dim\n,workspace,\n")
