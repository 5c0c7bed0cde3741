"""Every metric against latent_dim, across the experiments of a sweep.

    dvc exp run --queue -S 'latent_dim=2,8,16,32,64' && dvc queue start && python -m aevae.sweep

Reads the experiments through `dvc exp show --csv` (workspace, baseline and all experiments),
writes plots/sweep.png and plots/sweep.csv.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from aevae import fileio, paths, plots
from aevae.errors import StudyError, cli

# the metrics drawn against latent_dim (labels and directions: aevae.study.METRICS), of the primary runs
KEYS = ["mse", "ssim", "fid_recon", "fid_samples", "precision", "latent_acc", "probe_acc", "active_units"]
MODELS = ("ae", "vae")  # the models whose latent size is latent_dim
OUT_PNG, OUT_CSV = paths.PLOTS.parent / "sweep.png", paths.PLOTS.parent / "sweep.csv"


def experiments_table(csv_text: str) -> pd.DataFrame:
    """One row per (experiment, model) with latent_dim and the metrics, from `dvc exp show --csv`."""
    df = pd.read_csv(io.StringIO(csv_text))
    rows = []
    for _, r in df.iterrows():
        if pd.isna(r.get("latent_dim")):
            continue
        for kind in MODELS:
            vals = {k: r.get(f"metrics/runs/{kind}-0.json:{k}") for k in KEYS}
            if any(pd.isna(v) for v in vals.values()):
                continue
            name = r.get("Experiment") if isinstance(r.get("Experiment"), str) else r.get("rev")
            rows.append({"experiment": name, "model": kind, "latent_dim": int(r["latent_dim"]),
                         "fid_n": r.get(f"metrics/runs/{kind}-0.json:fid_n"), **vals})  # fmt: skip
    if not rows:
        raise StudyError("no experiments with metrics found; run the sweep first (see `make sweep`)")
    out = pd.DataFrame(rows).drop_duplicates(subset=["model", "latent_dim", "fid_n"], keep="first")
    return out.sort_values(["model", "latent_dim"]).reset_index(drop=True)


def main() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--csv"], cwd=paths.ROOT, capture_output=True, text=True
    )
    if r.returncode != 0:
        raise StudyError(f"dvc exp show failed: {r.stderr.strip()}")
    table = experiments_table(r.stdout)
    fileio.write_text(OUT_CSV, table.to_csv(index=False))
    plots.sweep(table, KEYS, OUT_PNG)
    print(f"{OUT_PNG} ({table['latent_dim'].nunique()} latent sizes)")


if __name__ == "__main__":
    cli(main)
