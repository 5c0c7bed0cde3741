"""This machine's measured float32 matmul peak (FLOP/s), the ceiling for dense float32 work."""

from __future__ import annotations

import time

import torch


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


if __name__ == "__main__":
    print(f"float32 matmul peak: {matmul_peak_flops() / 1e9:.0f} GFLOP/s on {torch.get_num_threads()} threads")
