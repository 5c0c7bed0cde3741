"""Inception feature extraction speed: images/s against this machine's measured limit, step by step.

The limit: the standard network's float32 arithmetic per image (torchmetrics' extractor on a
3-channel 299 x 299 input, counted by torch's FlopCounterMode) over the measured float32 peak
(``bench.peak``: the faster of MKL's matmul and oneDNN's 1x1 convolution). An exact saving (a
channel summed away) therefore counts as speed. Variants, timed in interleaved rounds (medians):

- ``landed``: torchmetrics' extractor as the study ran it before (``fid.reference_extractor``,
  channels-last, batch 32, 3-channel uint8 input, its TF1 resize at 299 and input normalization);
- ``bn folded``: the same with each batch norm folded into its convolution (3-channel input);
- ``fused``: ``FusedInception`` under PyTorch (``fid.extractor(engine="torch")``): batch norm folded, the
  stem on one channel with the normalization folded in, the identity resize skipped (what the study ran
  before ONNX Runtime, and runs on a GPU);
- ``study``: ``fid.extractor`` on the CPU: the same fused network under ONNX Runtime (``OnnxInception``),
  what the study runs;
- ``compiled``: ``fused`` under ``torch.compile`` with freezing (``--compile``; measured, not used:
  see the README).

    python -m bench.fid_throughput [--images 96] [--rounds 3] [--compile]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import FlopCounterMode

from aevae import fid, paths
from bench.peak import peaks

CL = torch.channels_last


def bn_folded(reference: torch.nn.Module) -> torch.nn.Module:
    net = copy.deepcopy(reference)
    for m in net.modules():
        if isinstance(getattr(m, "bn", None), torch.nn.BatchNorm2d):
            m.conv, m.bn = fuse_conv_bn_eval(m.conv, m.bn), torch.nn.Identity()
    return net


def rate(fn, images: torch.Tensor, batch: int) -> float:
    with torch.inference_mode():
        t = time.perf_counter()
        for chunk in images.split(batch):
            fn(chunk)
        return len(images) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=96, help="images per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    images = torch.randint(0, 256, (args.images, 28, 28), dtype=torch.uint8)
    standard = fid.reference_extractor(paths.FID_WEIGHTS)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        standard(fid.resize(images[:1]))
    flop_per_image = fc.get_total_flops()
    engines = peaks()
    limit = max(engines.values()) / flop_per_image
    print(
        f"threads {torch.get_num_threads()}; standard network {flop_per_image / 1e9:.2f} GFLOP/image; float32 peak "
        + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in engines.items())
        + f" GFLOP/s -> limit {limit:.1f} images/s"
    )
    folded, fused, study = (bn_folded(standard), fid.extractor(paths.FID_WEIGHTS, engine="torch"),
                            fid.extractor(paths.FID_WEIGHTS, engine="onnxruntime"))  # fmt: skip
    gray = lambda u8: fid.resize_gray(u8).float().contiguous(memory_format=CL)  # noqa: E731
    variants = {
        "landed": lambda u8: standard(fid.resize(u8).contiguous(memory_format=CL)),
        "bn folded": lambda u8: folded(fid.resize(u8).contiguous(memory_format=CL)),
        "fused": lambda u8: fused(gray(u8)),
        "study": lambda u8: study(gray(u8)),
    }
    if args.compile:
        import torch._inductor.config as inductor

        inductor.freezing = True
        compiled = torch.compile(fused)
        t = time.perf_counter()
        with torch.inference_mode():
            compiled(gray(images[: fid.BATCH]))
        print(f"torch.compile (freezing): {time.perf_counter() - t:.0f} s to compile")
        variants["compiled"] = lambda u8: compiled(gray(u8))
    with torch.inference_mode():
        for fn in variants.values():
            fn(images[: fid.BATCH])  # warm-up
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for k, fn in variants.items():
            runs[k].append(rate(fn, images, fid.BATCH))
    base = statistics.median(runs["landed"])
    for k, v in runs.items():
        r = statistics.median(v)
        print(f"  {k:10s} batch {fid.BATCH}: {r:5.1f} images/s  {r / limit:4.0%} of limit  {r / base:4.2f}x landed"
              f"  (10,000 images: {10_000 / r / 60:.1f} min)")  # fmt: skip


if __name__ == "__main__":
    main()
