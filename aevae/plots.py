"""The study's figures, drawn only from evaluation arrays, curves and metrics (no model runs here)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from aevae.data import CLASSES  # noqa: E402

MODELS = {"ae": "Autoencoder (AE)", "vae": "Variational AE (VAE)"}
COLORS = {"ae": "#1f77b4", "vae": "#d62728"}
PER_CLASS = 2
GUTTER = 0.25  # in gray_r: light gray between tiles (0 is the white background)
DPI = 110
# the metrics figure: key -> label (which way is better is part of it)
METRIC_LABELS = {
    "mse": "MSE\n(lower is better)",
    "ssim": "SSIM\n(higher is better)",
    "psnr": "PSNR, dB\n(higher is better)",
    "fid_recon": "FID of reconstructions\n(lower is better)",
    "fid_samples": "FID of generated samples\n(lower is better)",
    "latent_acc": "kNN accuracy on latents\n(higher is better)",
}
plt.rcParams.update(
    {"figure.dpi": DPI, "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False}
)


def _save(fig, path: Path) -> None:
    from aevae import fileio

    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _tiles(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """``[rows * cols, 784]`` -> one ``[rows * 29, cols * 29]`` mosaic with 1-px light-gray gutters."""
    side = 28 + pad
    out = GUTTER * np.ones((rows * side - pad, cols * side - pad), np.float32)
    for i, img in enumerate(np.asarray(images)[: rows * cols]):
        r, c = divmod(i, cols)
        out[r * side : r * side + 28, c * side : c * side + 28] = img.reshape(28, 28)
    return out


def example_indices(y: np.ndarray, per_class: int = PER_CLASS) -> np.ndarray:
    """The first ``per_class`` test images of every class, class by class."""
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(len(CLASSES))])


def reconstructions(x: np.ndarray, y: np.ndarray, recon: dict[str, np.ndarray], path: Path) -> None:
    idx = example_indices(y)
    rows = [("Original", x[idx])] + [(MODELS[k], recon[k][idx]) for k in recon]
    fig, axes = plt.subplots(len(rows), 1, figsize=(len(idx) * 0.55, len(rows) * 0.75 + 0.6))
    for ax, (label, imgs) in zip(axes, rows, strict=True):
        ax.imshow(_tiles(imgs, 1, len(idx)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    side = 29
    axes[0].set_xticks([(i * PER_CLASS + (PER_CLASS - 1) / 2) * side + 13.5 for i in range(len(CLASSES))])
    axes[0].set_xticklabels(CLASSES, fontsize=8)
    axes[0].xaxis.tick_top()
    fig.suptitle(
        "Test-set reconstructions: the same images, original / AE / VAE (VAE decodes the posterior mean)", y=1.02
    )
    _save(fig, path)


def project_2d(z: np.ndarray) -> tuple[np.ndarray, str]:
    """2-D view of latents ``[N, D]``: the latents themselves at D = 2, else PCA (fast, linear, exact)."""
    if z.shape[1] == 1:
        return np.c_[z[:, 0], np.zeros(len(z))], "1-d latent (y = 0)"
    if z.shape[1] == 2:
        return z, "latent space (2-d, drawn directly)"
    centered = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    share = (s[:2] ** 2).sum() / (s**2).sum()
    return centered @ vt[:2].T, f"PCA of the {z.shape[1]}-d latent ({share:.0%} of variance)"


def latent_map(latents: dict[str, np.ndarray], y: np.ndarray, acc: dict[str, float], path: Path) -> None:
    fig, axes = plt.subplots(1, len(latents), figsize=(5.2 * len(latents), 4.8))
    cmap = plt.get_cmap("tab10")
    for ax, (k, z) in zip(np.atleast_1d(axes), latents.items(), strict=True):
        xy, how = project_2d(z)
        for c, name in enumerate(CLASSES):
            m = y == c
            ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.5, color=cmap(c), label=name, rasterized=True)
        ax.set_title(f"{MODELS[k]}\n{how}\nkNN accuracy on the latent: {acc[k]:.3f}", fontsize=9)
        ax.set_xlabel("dimension 1" if z.shape[1] <= 2 else "PC 1")
        ax.set_ylabel("dimension 2" if z.shape[1] <= 2 else "PC 2")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", markerscale=5, frameon=False, title="class")
    fig.subplots_adjust(right=0.86)
    fig.suptitle("Test latents coloured by class (VAE: posterior means)", y=1.06)
    _save(fig, path)


def manifold(grid: np.ndarray, how: str, path: Path) -> None:
    g = grid.shape[0]
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(_tiles(grid.reshape(g * g, -1), g, g), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel("latent direction 1  \u2192")
    ax.set_ylabel("latent direction 2  \u2192")
    ax.set_title(f"VAE manifold: decoded {g}x{g} grid\n{how}")
    _save(fig, path)


def samples(gen: dict[str, np.ndarray], sampler: dict[str, str], path: Path, n: int = 8) -> None:
    fig, axes = plt.subplots(1, len(gen), figsize=(4.3 * len(gen), 4.6))
    for ax, (k, s) in zip(np.atleast_1d(axes), gen.items(), strict=True):
        ax.imshow(_tiles(s, n, n), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{MODELS[k]}\nz ~ {sampler[k]}", fontsize=9)
    fig.suptitle("Generated images (first 64 of the FID samples)")
    _save(fig, path)


def interpolations(interp: dict[str, np.ndarray], pairs, path: Path) -> None:
    n_pairs, steps = next(iter(interp.values())).shape[:2]
    fig, axes = plt.subplots(n_pairs, 1, figsize=(steps * 0.6 * 1.1, n_pairs * 1.45 + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes)):
        rows = np.concatenate([interp[k][i] for k in interp])
        ax.imshow(_tiles(rows, len(interp), steps), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([(j + 0.5) * 29 for j in range(len(interp))])
        ax.set_yticklabels([k.upper() for k in interp])
        a, b = pairs[i]
        ax.set_title(f"{CLASSES[a]} \u2192 {CLASSES[b]}", fontsize=9)
    fig.suptitle("Straight lines in latent space between two test images, decoded", y=1.0)
    _save(fig, path)


def curves(tables: dict[str, pd.DataFrame], path: Path) -> None:
    terms = ["loss", "recon", "kl"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, term in zip(axes, terms, strict=True):
        for k, df in tables.items():
            if f"train_{term}" not in df:
                continue
            ax.plot(df["epoch"], df[f"train_{term}"], color=COLORS[k], ls="--", label=f"{k.upper()} train")
            ax.plot(df["epoch"], df[f"val_{term}"], color=COLORS[k], label=f"{k.upper()} validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("nats per image")
        ax.set_title({"loss": "total loss (VAE: recon + beta KL)", "recon": "reconstruction (Bernoulli NLL)",
                      "kl": "KL(q(z|x) || N(0, I)), VAE only"}[term])  # fmt: skip
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Training curves")
    fig.tight_layout()
    _save(fig, path)


def metrics_bars(m: dict[str, dict], path: Path) -> None:
    fig, axes = plt.subplots(1, len(METRIC_LABELS), figsize=(2.3 * len(METRIC_LABELS), 3.0))
    for ax, (key, label) in zip(axes, METRIC_LABELS.items(), strict=True):
        vals = [m[k][key] for k in m]
        bars = ax.bar([k.upper() for k in m], vals, color=[COLORS[k] for k in m])
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in vals], fontsize=8)
        ax.set_title(label, fontsize=8)
        ax.margins(y=0.15)
    fig.suptitle(f"Test-set metrics, AE vs VAE (FID on {next(iter(m.values()))['fid_n']} images per side)")
    fig.tight_layout()
    _save(fig, path)


def sweep(table: pd.DataFrame, keys: list[str], path: Path) -> None:
    """Each metric against latent_dim (log2 axis), one line per model."""
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 3.0))
    for ax, key in zip(axes, keys, strict=True):
        for kind, df in table.groupby("model"):
            ax.plot(df["latent_dim"], df[key], "o-", color=COLORS[kind], label=kind.upper())
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(table["latent_dim"].unique()))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("latent_dim")
        ax.set_title(METRIC_LABELS[key], fontsize=8)
    axes[0].legend(frameon=False)
    fig.suptitle("The latent_dim sweep: every metric against the latent size")
    fig.tight_layout()
    _save(fig, path)
