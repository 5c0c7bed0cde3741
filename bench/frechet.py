"""Frechet distance cost: today's routes (``fid.Reference``, ``fid.fid``) against the previous one, the
eigenvalues of the non-symmetric D x D product S1 S2 (what torchmetrics computes), in the same run.

Features are random with the real width (2048) and a real-looking spectrum; each figure is the median of
``--rounds`` interleaved rounds. The reference set is fixed at 10,000 images (the test set) as in the
study and the campaign; the sample side takes each size in ``--sizes``.

    python -m bench.frechet [--sizes 128 1000 5000 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from aevae import fid
from bench.fid_recheck import landed_fid  # the landed route, with pytorch-fid's guards


def _feats(rng: np.random.Generator, n: int, d: int, mix: np.ndarray) -> np.ndarray:
    return np.maximum(rng.normal(size=(n, d)) @ mix, 0).astype(np.float32)  # ReLU'd, correlated, like pool3


def _time(fn, *args) -> tuple[float, float]:
    t = time.perf_counter()
    v = fn(*args)
    return time.perf_counter() - t, v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 1000, 5000, 10000])
    ap.add_argument("--reference", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    d = fid.FEATURES
    mix = rng.normal(size=(d, d)) / np.sqrt(d) * np.exp(-np.arange(d) / 300)[:, None]
    real = _feats(rng, args.reference, d, mix)
    t_ref, ref = _time(fid.Reference, real)
    print(f"fid.Reference of {args.reference} x {d} features (once per stage): {t_ref:.2f} s")
    print(f"{'N':>6} | previous: eigvals(S1 S2) | fid.fid (both sets) | Reference.fid (cached) | speed-up | rel. diff")
    for n in args.sizes:
        gen = _feats(rng, n, d, mix * 1.1)
        times: dict[str, list[float]] = {"old": [], "fid": [], "ref": []}
        for _ in range(args.rounds):
            t_old, v_old = _time(landed_fid, real, gen)
            t_fid, v_fid = _time(fid.fid, real, gen)
            t_ref, v_ref = _time(ref.fid, gen)
            times["old"].append(t_old), times["fid"].append(t_fid), times["ref"].append(t_ref)
        med = {k: statistics.median(v) for k, v in times.items()}
        rel = max(abs(v_fid - v_old), abs(v_ref - v_old)) / abs(v_old)
        print(f"{n:>6} | {med['old']:>22.2f} s | {med['fid']:>17.2f} s | {med['ref']:>20.3f} s |"
              f" {med['old'] / med['ref']:>7.1f}x | {rel:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
