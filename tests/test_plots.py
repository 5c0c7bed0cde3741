"""aevae.plots: every figure drawn from a small synthetic evaluation; its panels, labels and contents checked
on the matplotlib figure itself (captured before it is saved), and the PNG written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aevae import plots
from aevae.data import CLASSES
from aevae.report import Stat
from aevae.study import METRICS

PNG = b"\x89PNG\r\n\x1a\n"
LABELS = {"ae": "AE (latent 32)", "vae": "VAE (latent 32)"}


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Calls a figure function, returns its figure (saved as usual: the PNG is checked)."""
    figures = []
    save = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        save(fig, path)
        assert path.read_bytes()[:8] == PNG

    monkeypatch.setattr(plots, "save_figure", keep)

    def draw(fn, *args, **kwargs):
        fn(*args, tmp_path / f"{fn.__name__}.png", **kwargs)
        assert len(figures) == 1
        return figures.pop()

    return draw


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, 784)).astype(np.float32)


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_reconstructions_rows_are_the_originals_then_each_model(drawn):
    y = np.repeat(np.arange(10), 5)
    x = _images(50)
    recon = {"ae": _images(50, 1), "vae": _images(50, 2)}
    fig = drawn(plots.reconstructions, x, y, recon, LABELS)
    assert [ax.get_ylabel() for ax in fig.axes] == ["Original", *LABELS.values()]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(CLASSES)
    idx = plots.example_indices(y)
    assert list(idx[:4]) == [0, 1, 5, 6]  # the first two of each class, class by class
    for ax, imgs in zip(fig.axes, (x, recon["ae"], recon["vae"]), strict=True):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), plots.tiles(imgs[idx], 1, len(idx)))


def test_tiles_put_each_image_in_its_cell_with_gutters():
    imgs = np.stack([np.full(784, v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)])
    out = plots.tiles(imgs, 2, 3)
    assert out.shape == (2 * 29 - 1, 3 * 29 - 1)
    assert out[0, 0] == np.float32(0.1) and out[0, 29] == np.float32(0.2) and out[29, 58] == np.float32(0.6)
    assert out[28, 0] == plots.GUTTER and out[0, 28] == plots.GUTTER


def test_latent_map_draws_each_class_of_each_model(drawn):
    y = np.repeat(np.arange(10), 7)
    rng = np.random.default_rng(0)
    maps = {"ae": rng.normal(size=(70, 2)), "vae": rng.normal(size=(70, 2))}
    how = {"ae": "PCA of the 32-d latent, 2 leading directions (40% of variance)",
           "vae": "the 2-d latent itself, no projection"}  # fmt: skip
    acc = {"ae": "kNN accuracy 0.80", "vae": "kNN accuracy 0.75"}
    fig = drawn(plots.latent_map, maps, how, y, acc, LABELS)
    panels = fig.axes
    assert len(panels) == 2
    for ax, k in zip(panels, maps, strict=True):
        assert ax.get_title() == f"{LABELS[k]}\n{how[k]}\n{acc[k]}"
        points = [c.get_offsets() for c in ax.collections]
        assert len(points) == 10 and all(len(p) == 7 for p in points)
        np.testing.assert_allclose(points[3], maps[k][y == 3])
    assert [ax.get_xlabel() for ax in panels] == ["PC 1", "z1"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(CLASSES)


def test_manifold_draws_each_grid_whole(drawn):
    g = 5
    rng = np.random.default_rng(0)
    grids = {"ae": rng.uniform(size=(g, g, 784)), "vae": rng.uniform(size=(g, g, 784))}
    how = {k: "the 2-d latent itself, no projection along: z1, z2" for k in grids}
    fig = drawn(plots.manifold, grids, how, LABELS)
    assert len(fig.axes) == 2
    for ax, k in zip(fig.axes, grids, strict=True):
        # row r, column c of the mosaic is grid[r, c]: the grid drawn whole, in its order
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), plots.tiles(grids[k].reshape(g * g, -1), g, g))
        assert ax.get_title().startswith(LABELS[k]) and "\nalong: z1, z2" in ax.get_title()


def test_samples_has_a_row_per_model_and_a_panel_per_sampler(drawn):
    gen = {"ae": {"gaussian": _images(16, 1), "normal": _images(16, 2), "gmm": _images(16, 3)},
           "vae": {"normal": _images(16, 4), "gmm": _images(16, 5)}}  # fmt: skip
    names = {"gaussian": "fitted Gaussian", "normal": "N(0, I)", "gmm": "mixture"}
    fig = drawn(plots.samples, gen, LABELS, names, n=4)
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the VAE's third panel empty
    drawn_titles = [t for t in _titles(fig) if t]
    assert drawn_titles == [f"{LABELS[k]}\nz ~ {names[s]}" for k in gen for s in gen[k]]
    empty = fig.axes[5]
    assert not empty.axison and not empty.get_images()
    np.testing.assert_array_equal(fig.axes[3].get_images()[0].get_array(), plots.tiles(gen["vae"]["normal"], 4, 4))


def test_interpolations_name_each_pair_and_its_kind(drawn):
    rng = np.random.default_rng(0)
    interp = {"ae": rng.uniform(size=(2, 11, 784)), "vae": rng.uniform(size=(2, 11, 784))}
    fig = drawn(plots.interpolations, interp, [(0, 6), (1, 3)], [True, False])
    assert _titles(fig) == [f"{CLASSES[0]} \u2192 {CLASSES[6]} (similar classes)",
                            f"{CLASSES[1]} \u2192 {CLASSES[3]} (dissimilar classes)"]  # fmt: skip
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["AE", "VAE"]
    rows = np.concatenate([interp["ae"][1], interp["vae"][1]])
    np.testing.assert_array_equal(fig.axes[1].get_images()[0].get_array(), plots.tiles(rows, 2, 11))


def _curve(epochs: int, vae: bool) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    df = {"epoch": e, "train_loss": 300 - e, "val_loss": 301 - e, "train_recon": 290 - e, "val_recon": 291 - e}
    if vae:
        df |= {"train_kl": 10 + 0 * e, "val_kl": 11 + 0 * e}
    return pd.DataFrame(df)


def test_curves_draw_every_seed_the_floor_and_kl_for_vaes_only(drawn):
    tables = {"ae": [_curve(5, False), _curve(4, False)], "vae": [_curve(6, True), _curve(6, True)]}
    fig = drawn(plots.curves, tables, LABELS, 188.3)
    total, recon, kl = fig.axes
    for ax in (total, recon):
        lines = ax.get_lines()
        assert len(lines) == 2 * (1 + 2) + 1  # per model: train of the first seed, validation of each seed; floor
        floor = [ln for ln in lines if ln.get_label().startswith("entropy floor")]
        assert len(floor) == 1 and set(floor[0].get_ydata()) == {188.3}
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{LABELS['ae']} validation (2 seeds)" in legend and "entropy floor 188.3" in legend
    assert len(kl.get_lines()) == 3 and all(ln.get_color() == plots.COLORS["vae"] for ln in kl.get_lines())
    np.testing.assert_array_equal(total.get_lines()[2].get_ydata(), tables["ae"][1]["val_loss"])


def test_metrics_bars_show_each_mean_its_spread_and_which_way_is_better(drawn):
    stats = {"ae": {"mse": Stat(0.008, 0.0002, 3, "sd over 3 seeds"), "sharpness": Stat(0.79, 0.01, 3, "")},
             "vae": {"mse": Stat(0.014, 0.0005, 3, "sd over 3 seeds"), "sharpness": Stat(0.67, 0.02, 3, ""),
                     "fid_normal": Stat(179.0, float("nan"), 1, "seed 0")}}  # fmt: skip
    fig = drawn(plots.metrics_bars, stats, LABELS)
    drawn_panels = [ax for ax in fig.axes if ax.axison]
    assert len(drawn_panels) == 3  # the keys of BAR_KEYS present, in its order; the rest switched off
    mse, sharp, fid = drawn_panels
    assert [round(b.get_height(), 4) for b in mse.patches] == [0.008, 0.014]
    assert [t.get_text() for t in mse.get_xticklabels()] == ["AE", "VAE"]
    assert "lower is better" in mse.get_title() and "closer to 1 is better" in sharp.get_title()
    assert METRICS["fid_normal"].label.split()[0] in fid.get_title() and len(fid.patches) == 1
    bars = next(c for c in mse.containers if hasattr(c, "errorbar"))
    segments = bars.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], [0.0004, 0.001])  # +- sd
