"""Each study stage's measured time beside its floor: the arithmetic the stage cannot avoid, at this
machine's measured float32 peak (``bench.peak``).

The floor counts: Inception's FLOPs per image (the standard network, as ``bench.fid_throughput``
counts them) for every image a stage scores; a training run's forward and backward FLOPs per training
image for every epoch it ran (its curve), plus a forward pass over the validation images each epoch; a
VAE's importance-weighted bound (``evaluate.iw_samples`` decoder passes per test image). Everything else
(process start-up and loading, the latent classifiers, mixtures, SSIM, the judge's reading of paths, KID)
is not in the floor: the ratio shows what it and the engines' distance from the peak cost together.

    python -m bench.floors logs/repro.log [--peak 286]   # GFLOP/s; measured when not given
"""

from __future__ import annotations

import argparse
import csv
import re

import torch
from torch.utils.flop_counter import FlopCounterMode

from aevae import fid, losses, models, params, paths, samplers
from bench.peak import peak_flops
from bench.stage_times import durations


def inception_flops() -> float:
    """FLOPs per image of the standard FID network (3 channels, 299 x 299, its own resize and normalization)."""
    standard = fid.reference_extractor(paths.FID_WEIGHTS)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        standard(fid.resize(torch.zeros((1, 28, 28), dtype=torch.uint8)))
    return fc.get_total_flops()


def model_flops(name: str, p: params.Params) -> dict[str, float]:
    """Per image: a training step (forward + backward), a forward pass, a decoder pass."""
    spec = models.spec(name, p)
    model = models.build(spec)
    x = torch.rand(p.train.batch_size, models.PIXELS)
    with FlopCounterMode(display=False) as fc:
        losses.loss_fn(spec.kind, p.vae.beta)(model(x), x)["loss"].backward()
    step = fc.get_total_flops() / len(x)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    forward = fc.get_total_flops() / len(x)
    with torch.no_grad():
        z = model.embed(x)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model.decoder(z)
    return {"step": step, "forward": forward, "decode": fc.get_total_flops() / len(x)}


def floor_seconds(stage: str, p: params.Params, peak: float, inc: float, cache: dict) -> float | None:
    """The floor of one stage (``train_<model>@<r>``, ``evaluate_<model>@<r>``, ``fid_reference``), else None."""
    n_train, n_test = p.n_train_total - p.data.val_size, p.n_test
    if stage == "fid_reference":
        return n_test * inc / peak
    m = re.fullmatch(r"(train|evaluate)_(\w+)@(\d+)", stage)
    if m is None:
        return None
    kind, name, rep = m.group(1), m.group(2), int(m.group(3))
    if name not in cache:
        cache[name] = model_flops(name, p)
    f = cache[name]
    spec = models.spec(name, p)
    if kind == "train":
        with open(paths.curves(name, rep)) as fh:
            epochs = sum(1 for _ in csv.DictReader(fh))
        return epochs * (n_train * f["step"] + p.data.val_size * f["forward"]) / peak
    e = p.evaluate
    images = e.fid_samples_seed * (1 + len(samplers.SAMPLERS[spec.kind]))
    if rep == 0:
        images += max(e.fid_samples - e.fid_samples_seed, 0)
    flops = images * inc
    if spec.kind == "vae":
        flops += n_test * e.iw_samples * f["decode"]
    return flops / peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="a stamped `dvc repro` log (bench.stage_times --stamp)")
    ap.add_argument("--peak", type=float, help="float32 peak in GFLOP/s (measured when not given)")
    args = ap.parse_args()
    with open(args.log) as fh:
        times = durations(fh.read().replace("\r", "\n").splitlines())
    p = params.load()
    peak = args.peak * 1e9 if args.peak else peak_flops()
    inc, cache = inception_flops(), {}
    print(f"float32 peak {peak / 1e9:.0f} GFLOP/s; Inception {inc / 1e9:.2f} GFLOP/image")
    print("| stage | measured (min) | floor (min) | measured / floor |")
    print("|---|---|---|---|")
    total = floor_total = 0.0
    for stage, s in times.items():
        fl = floor_seconds(stage, p, peak, inc, cache)
        total += s
        floor_total += fl or 0.0
        ratio = f"{s / fl:.1f}x" if fl else "-"
        print(f"| {stage} | {s / 60:.1f} | {fl / 60:.2f} | {ratio} |" if fl else f"| {stage} | {s / 60:.1f} | - | - |")
    print(f"| total | {total / 60:.1f} | {floor_total / 60:.1f} | {total / floor_total:.1f}x |")


if __name__ == "__main__":
    main()
