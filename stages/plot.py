"""Stage plot: every figure and the regenerated report, from evaluation arrays only.

Reads: data/eval/{ae,vae}/, plots/curves/{ae,vae}.csv, metrics/{ae,vae}.json, data/prepared/test_*.
Writes: plots/figures/*.png, plots/REPORT.md.
"""

import json
import os

import numpy as np
import pandas as pd

from aevae import data, evaluate, fileio, params, paths, plots, report
from aevae.errors import StudyError, cli

KINDS = ("ae", "vae")


def main() -> None:
    p = params.load()
    test = data.load_split("test")
    arr, m, curves = {}, {}, {}
    for k in KINDS:
        d = paths.eval_dir(k)
        if not d.is_dir() or not paths.metrics(k).is_file():
            raise StudyError(f"{d}: missing; run `dvc repro evaluate_{k}` first")
        arr[k] = {f.stem: fileio.load_npy(f, mmap=True) for f in d.glob("*.npy")}
        m[k] = json.loads(paths.metrics(k).read_text())
        curves[k] = pd.read_csv(paths.curves(k))
    first = {c: int(np.flatnonzero(test.y == c)[0]) for c in np.unique(test.y)}
    pairs = [(a, b) for a, b in evaluate.INTERP_PAIRS if a in first and b in first]

    with fileio.atomic_dir(paths.PLOTS) as out:
        plots.reconstructions(test.x, test.y, {k: arr[k]["recon"] for k in KINDS}, out / "reconstructions.png")
        plots.latent_map({k: np.asarray(arr[k]["latents"]) for k in KINDS}, test.y,
                         {k: m[k]["latent_acc"] for k in KINDS}, out / "latent_map.png")  # fmt: skip
        plots.manifold(np.asarray(arr["vae"]["manifold"]), m["vae"]["protocol"]["manifold"], out / "manifold.png")
        sampler = {"ae": "Gaussian fitted to training codes", "vae": "N(0, I) prior"}
        plots.samples({k: arr[k]["samples"][:64] for k in KINDS}, sampler, out / "samples.png")
        plots.interpolations(
            {k: np.asarray(arr[k]["interpolations"]) for k in KINDS}, pairs, out / "interpolations.png"
        )
        plots.curves(curves, out / "curves.png")
        plots.metrics_bars(m, out / "metrics.png")
    rel = os.path.relpath(paths.PLOTS, paths.REPORT.parent)
    fileio.write_text(paths.REPORT, report.render(m, curves, p, rel))


if __name__ == "__main__":
    cli(main)
