"""The FIDs of the study recomputed with the landed Inception and Frechet code and with today's, on the
same checkpoints and the same images: an optimization that moves a reported metric is not a speed-up.

For each primary run (replicate 0): rebuild its reconstructions and samples exactly as
``aevae.evaluate.run`` draws them, then score them twice against the first ``--n`` test images:

- landed: torchmetrics' Inception (``fid.reference_extractor``: 3 channels, batch norm as its own
  pass, TF1 resize) and the Frechet distance through the eigenvalues of the non-symmetric product S1 S2
  (pytorch-fid's guards), as the code stood before this change;
- today: ``fid.extractor`` (``FusedInception``) and ``fid.Reference`` (symmetric routes).

FID of reconstructions and samples, precision and recall are compared (relative change), and the
features themselves (largest per-image relative L2 difference). The committed value of each metric is
printed beside them: it was computed from the committed checkpoints, which this machine can only
reproduce bitwise when it is the machine that trained them (same CPU family, same GEMM kernels).

    dvc repro train_ae@0 train_vae@0 train_vae_2d@0 fid_weights   # the checkpoints and the weights
    python -m bench.fid_recheck [--n 1000] [--models ae vae vae_2d]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from aevae import data, evaluate, fid, models, params, paths, samplers
from aevae.runtime import progress
from aevae.train import load_model


@torch.inference_mode()
def landed_features(images_u8: torch.Tensor, net: torch.nn.Module) -> np.ndarray:
    """The landed ``fid.features``: 3-channel uint8 input to torchmetrics' network, batch 32, channels-last."""
    out = [net(fid.resize(c).contiguous(memory_format=torch.channels_last)).double() for c in images_u8.split(32)]
    return torch.cat(out).float().numpy()


def landed_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """The landed Frechet distance: sqrt of the eigenvalues of S1 S2 (non-symmetric, 2048 x 2048)."""
    (m1, s1), (m2, s2) = fid.stats(f1), fid.stats(f2)
    roots = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(np.complex128))
    tol = 1e-3 * max(1.0, np.sqrt(abs(roots.real.sum()) / len(s1)))
    if not np.isfinite(roots).all() or np.abs(roots.imag).max() > tol:
        off = 1e-6 * np.eye(len(s1))  # pytorch-fid's offset for a singular product
        s1, s2 = s1 + off, s2 + off
        roots = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(np.complex128))
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * roots.real.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(models.NAMES))
    ap.add_argument("--n", type=int, default=None, help="images per side (default: evaluate.fid_samples)")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    p = params.load()
    n = args.n or p.evaluate.fid_samples
    train, test = data.load_split("train"), data.load_split("test")
    nets = {"landed": fid.reference_extractor(paths.FID_WEIGHTS), "today": fid.extractor(paths.FID_WEIGHTS)}
    seconds = {"landed": 0.0, "today": 0.0}

    def feats(x: np.ndarray) -> dict[str, np.ndarray]:
        u8 = fid.to_uint8(x)
        out = {}
        for k in ("landed", "today"):
            t = time.perf_counter()
            out[k] = landed_features(u8, nets[k]) if k == "landed" else fid.features(u8, nets[k])
            seconds[k] += time.perf_counter() - t
        return out

    ref = feats(test.x[:n])
    reference = fid.Reference(ref["today"])
    worst, worst_feat = 0.0, 0.0
    print(f"n = {n} images per side; the committed values are at each run file's fid_n_primary")
    print("| run | metric | landed code | today's code | relative change | committed |")
    print("|---|---|---|---|---|---|")
    for name in progress(args.models, desc="runs"):
        model, _ = load_model(paths.checkpoint(name, 0))
        spec = models.spec(name, p)
        z_test = evaluate.map_batches(model.embed, test.x, "cpu")
        z_train = evaluate.map_batches(model.embed, train.x, "cpu")
        recon = evaluate.decode(model, z_test, "cpu")[:n]
        samples = evaluate.decode(
            model, samplers.sample_latents(next(iter(samplers.SAMPLERS[spec.kind])), z_train, n, p), "cpu"
        )
        committed = json.loads(paths.metrics(name, 0).read_text())
        for key, x in (("fid_recon", recon), ("fid_samples", samples)):
            f = feats(x)
            for k in ("landed", "today"):
                d = np.linalg.norm(f[k].astype(np.float64) - f["landed"], axis=1)
                worst_feat = max(worst_feat, float((d / np.linalg.norm(f["landed"], axis=1)).max()))
            got = {"landed": landed_fid(ref["landed"], f["landed"]), "today": reference.fid(f["today"])}
            rows = [(key, got)]
            if key == "fid_samples":
                pr = {k: fid.precision_recall(ref[k], f[k]) for k in ("landed", "today")}  # ref: both codes' features
                rows += [(m, {k: pr[k][m] for k in pr}) for m in ("precision", "recall")]
            for metric, v in rows:
                rel = abs(v["today"] - v["landed"]) / abs(v["landed"])
                worst = max(worst, rel)
                cells = f"{v['landed']:.6f} | {v['today']:.6f} | {rel:.1e} | {committed[metric]:.4f}"
                print(f"| {name}-0 | {metric} | {cells} |")
    print(f"\nlargest per-image relative difference of the features: {worst_feat:.1e}")
    verdict = "within" if worst <= args.rtol else "OUTSIDE"
    print(f"largest relative change of a metric: {worst:.1e} ({verdict} {args.rtol:g})")
    imgs = n * (1 + 2 * len(args.models))
    rate = {k: f"{v:.0f} s ({imgs / v:.1f} images/s)" for k, v in seconds.items()}
    print(f"Inception time for {imgs} images: landed {rate['landed']}, today {rate['today']}")


if __name__ == "__main__":
    main()
