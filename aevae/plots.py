"""The study's figures, drawn only from evaluation arrays, curves and metrics (no model runs here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aevae.data import CLASSES  # noqa: E402
from aevae.params import SIDE  # noqa: E402
from aevae.study import METRICS  # noqa: E402

COLORS = {"ae": "#1f77b4", "vae": "#d62728", "ae_2d": "#9467bd", "vae_2d": "#2ca02c"}
PER_CLASS = 2
GUTTER = 0.25  # in gray_r: light gray between tiles (0 is the white background)
DPI = 110
# the metrics figure: these keys, each with which way is better (the registry in aevae.study)
BAR_KEYS = ("mse", "ssim", "sharpness", "fid_recon", "fid_gaussian", "fid_normal", "fid_gmm", "precision_normal",
            "recall_normal", "latent_acc", "probe_acc", "path_ab_within", "path_confidence_within",
            "path_evenness_within")  # fmt: skip
plt.rcParams.update(
    {"figure.dpi": DPI, "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False}
)


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically as a PNG without a software tag (equal figures, equal bytes); close it."""
    from aevae import fileio

    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def tiles(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """``[rows * cols, 784]`` -> one ``[rows * 29, cols * 29]`` mosaic with 1-px light-gray gutters."""
    side = SIDE + pad
    out = GUTTER * np.ones((rows * side - pad, cols * side - pad), np.float32)
    for i, img in enumerate(np.asarray(images)[: rows * cols]):
        r, c = divmod(i, cols)
        out[r * side : r * side + SIDE, c * side : c * side + SIDE] = img.reshape(SIDE, SIDE)
    return out


def example_indices(y: np.ndarray, per_class: int = PER_CLASS) -> np.ndarray:
    """The first ``per_class`` test images of every class, class by class."""
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(len(CLASSES))])


def _better(key: str) -> str:
    return METRICS[key].better


def reconstructions(x: np.ndarray, y: np.ndarray, recon: dict[str, np.ndarray], labels: dict[str, str],
                    path: Path) -> None:  # fmt: skip
    idx = example_indices(y)
    rows = [("Original", x[idx])] + [(labels[k], recon[k][idx]) for k in recon]
    fig, axes = plt.subplots(len(rows), 1, figsize=(len(idx) * 0.55, len(rows) * 0.75 + 0.6))
    for ax, (label, imgs) in zip(axes, rows, strict=True):
        ax.imshow(tiles(imgs, 1, len(idx)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    side = 29
    axes[0].set_xticks([(i * PER_CLASS + (PER_CLASS - 1) / 2) * side + 13.5 for i in range(len(CLASSES))])
    axes[0].set_xticklabels(CLASSES, fontsize=8)
    axes[0].xaxis.tick_top()
    fig.suptitle("Test-set reconstructions of the same images (a VAE decodes its posterior mean)", y=1.02)
    save_figure(fig, path)


def latent_map(maps: dict[str, np.ndarray], how: dict[str, str], y: np.ndarray, acc: dict[str, str],
               labels: dict[str, str], path: Path) -> None:  # fmt: skip
    """One panel per model: test codes ``[N, 2]`` (projected by ``evaluate``; drawn as they are) by class."""
    fig, axes = plt.subplots(1, len(maps), figsize=(5.0 * len(maps), 5.0))
    cmap = plt.get_cmap("tab10")
    for ax, (k, xy) in zip(np.atleast_1d(axes), maps.items(), strict=True):
        for c, name in enumerate(CLASSES):
            m = y == c
            ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.5, color=cmap(c), label=name, rasterized=True)
        ax.set_title(f"{labels[k]}\n{how[k]}\n{acc[k]}", fontsize=9)
        direct = "itself" in how[k]
        ax.set_xlabel("z1" if direct else "PC 1")
        ax.set_ylabel("z2" if direct else "PC 2")
    handles, names = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", markerscale=5, frameon=False, title="class")
    fig.subplots_adjust(right=0.88, top=0.8)
    fig.suptitle("Test codes coloured by class (VAE: posterior means)", y=0.98)
    save_figure(fig, path)


def manifold(grids: dict[str, np.ndarray], how: dict[str, str], labels: dict[str, str], path: Path) -> None:
    """One panel per model: its decoded ``[G, G, 784]`` grid over its code distribution's quantiles."""
    fig, axes = plt.subplots(1, len(grids), figsize=(6.5 * len(grids), 7))
    for ax, (k, grid) in zip(np.atleast_1d(axes), grids.items(), strict=True):
        g = grid.shape[0]
        ax.imshow(tiles(grid.reshape(g * g, -1), g, g), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel("latent direction 1  \u2192")
        ax.set_ylabel("latent direction 2  \u2192")
        ax.set_title(f"{labels[k]}\n{how[k].replace(' along: ', chr(10) + 'along: ')}", fontsize=9)
    save_figure(fig, path)


def samples(gen: dict[str, dict[str, np.ndarray]], labels: dict[str, str], sampler_labels: dict[str, str],
            path: Path, n: int = 8) -> None:  # fmt: skip
    """One row per model, one panel per sampler of it: the first ``n * n`` samples of each."""
    cols = max(len(v) for v in gen.values())
    fig, axes = plt.subplots(len(gen), cols, figsize=(3.2 * cols, 3.6 * len(gen)), squeeze=False)
    for row, (k, by_sampler) in zip(axes, gen.items(), strict=True):
        for ax in row:
            ax.axis("off")
        for ax, (name, s) in zip(row, by_sampler.items(), strict=False):
            ax.imshow(tiles(s, n, n), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{labels[k]}\nz ~ {sampler_labels[name]}", fontsize=9)
    fig.suptitle("Generated images: every model, every sampler")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # the title clear of the first row's
    save_figure(fig, path)


def interpolations(interp: dict[str, np.ndarray], pairs, similar: list[bool], path: Path) -> None:
    n_pairs, steps = next(iter(interp.values())).shape[:2]
    fig, axes = plt.subplots(n_pairs, 1, figsize=(steps * 0.6 * 1.1, n_pairs * 1.45 + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes)):
        rows = np.concatenate([interp[k][i] for k in interp])
        ax.imshow(tiles(rows, len(interp), steps), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([(j + 0.5) * 29 for j in range(len(interp))])
        ax.set_yticklabels([k.upper() for k in interp], fontsize=7)
        a, b = pairs[i]
        kind = "similar classes" if similar[i] else "dissimilar classes"
        ax.set_title(f"{CLASSES[a]} \u2192 {CLASSES[b]} ({kind})", fontsize=9)
    fig.suptitle("Straight lines in latent space between two test images, decoded")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    save_figure(fig, path)


def curves(tables: dict[str, list[pd.DataFrame]], labels: dict[str, str], floor: float, path: Path) -> None:
    """Validation curves of every replicate (train loss of the first, dashed), one colour per model; the total
    and reconstruction panels show the validation images' entropy floor, which no model can go below."""
    terms = ["loss", "recon", "kl"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, term in zip(axes, terms, strict=True):
        for k, dfs in tables.items():
            if f"train_{term}" not in dfs[0]:
                continue
            ax.plot(dfs[0]["epoch"], dfs[0][f"train_{term}"], color=COLORS[k], ls="--", lw=1,
                    label=f"{labels[k]} train")  # fmt: skip
            for i, df in enumerate(dfs):
                ax.plot(df["epoch"], df[f"val_{term}"], color=COLORS[k], lw=1,
                        label=f"{labels[k]} validation ({len(dfs)} seeds)" if i == 0 else None)  # fmt: skip
        if term != "kl":
            ax.axhline(floor, color="k", lw=0.8, ls=":", label=f"entropy floor {floor:.1f}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("nats per image")
        ax.set_title({"loss": "total loss (VAE: recon + beta KL)", "recon": "reconstruction (Bernoulli NLL)",
                      "kl": "KL(q(z|x) || N(0, I)), VAEs only"}[term])  # fmt: skip
        ax.legend(fontsize=6, frameon=False)
    fig.suptitle("Training curves")
    fig.tight_layout()
    save_figure(fig, path)


def metrics_bars(stats: dict[str, dict], labels: dict[str, str], path: Path) -> None:
    """Mean with its spread (error bar) per model, for the metrics in ``BAR_KEYS``."""
    keys = [k for k in BAR_KEYS if any(k in st for st in stats.values())]
    fig, axes = plt.subplots(2, (len(keys) + 1) // 2, figsize=(2.4 * ((len(keys) + 1) // 2), 6.0))
    for ax, key in zip(axes.flat, keys, strict=False):
        names = [k for k in stats if key in stats[k]]
        means = [stats[k][key].mean for k in names]
        sds = [np.nan_to_num(stats[k][key].sd) for k in names]
        bars = ax.bar([k.upper() for k in names], means, yerr=sds, capsize=3, color=[COLORS[k] for k in names])
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in means], fontsize=7, padding=2)
        title = textwrap.fill(METRICS[key].label, 34)  # long labels wrap instead of running into the next panel
        ax.set_title(f"{title}\n({_better(key)}; {METRICS[key].spread})", fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.margins(y=0.2)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.suptitle("Test-set metrics: mean and spread (error bars) per model; " + ", ".join(
        f"{k.upper()} = {v}" for k, v in labels.items()), fontsize=9)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)
