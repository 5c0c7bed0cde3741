"""Inception feature extraction speed: images/s against this machine's measured limit.

The limit: the network's float32 arithmetic per image (counted by torch's FlopCounterMode) over the
measured float32 peak (``bench.peak``: the faster of MKL's matmul and oneDNN's GEMM). Prints the
baseline (torchmetrics' extractor as usual: contiguous NCHW) and ours (channels-last, batch 32) in
the same run.

    python bench/fid_throughput.py [--images 256]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from aevae import fid, paths
from bench.peak import peaks


def rate(net, images: torch.Tensor, channels_last: bool, batch: int) -> float:
    with torch.inference_mode():
        net(fid.resize(images[:2]))  # warm-up
        t = time.perf_counter()
        for chunk in images.split(batch):
            x = fid.resize(chunk)
            net(x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous())
        return len(images) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    args = ap.parse_args()
    images = torch.randint(0, 256, (args.images, 28, 28), dtype=torch.uint8)
    net = fid.extractor(paths.FID_WEIGHTS)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        net(fid.resize(images[:1]))
    flop_per_image = fc.get_total_flops()
    engines = peaks()
    peak = max(engines.values())
    limit = peak / flop_per_image
    print(
        f"threads {torch.get_num_threads()}; {flop_per_image / 1e9:.2f} GFLOP/image; float32 peak "
        + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in engines.items())
        + f" GFLOP/s -> limit {limit:.1f} images/s"
    )
    net_nchw = fid.extractor(paths.FID_WEIGHTS).to(memory_format=torch.contiguous_format)
    base = rate(net_nchw, images, channels_last=False, batch=fid.BATCH)
    ours = rate(net, images, channels_last=True, batch=fid.BATCH)
    print(
        f"baseline (torchmetrics extractor, NCHW, batch {fid.BATCH}): {base:.1f} images/s ({base / limit:.0%} of limit)"
    )
    print(
        f"ours     (channels-last, batch {fid.BATCH}):              {ours:.1f} images/s ({ours / limit:.0%} of limit)"
    )
    print(f"speed-up {ours / base:.2f}x; 10,000 images take {10_000 / ours / 60:.1f} min here")


if __name__ == "__main__":
    main()
