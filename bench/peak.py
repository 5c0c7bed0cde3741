"""This machine's measured float32 peak (FLOP/s), the ceiling for dense float32 work.

Two GEMM engines can serve float32 here, and they do not reach the same rate: torch's matmul goes
through MKL (which, on some non-Intel CPUs, takes its AVX2 path) while convolutions go through oneDNN
(AVX-512 where the CPU has it). The peak is the faster of the two, each the best of ``repeats``:

- ``matmul``: ``n x n`` by ``n x n``, 2 n^3 FLOP;
- ``conv1x1``: a 1x1 convolution in channels-last, i.e. oneDNN's GEMM, 2 * pixels * c_in * c_out FLOP.

A rate above the matmul figure is not faster than the hardware: it is oneDNN using wider vectors.
"""

from __future__ import annotations

import time

import torch


def _best(fn, flop: float, repeats: int) -> float:
    with torch.inference_mode():
        fn()  # warm-up
        best = 0.0
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = max(best, flop / (time.perf_counter() - t))
    return best


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return _best(lambda: a @ b, 2 * n**3, repeats)


def conv1x1_flops(c: int = 1024, side: int = 32, batch: int = 8, repeats: int = 10) -> float:
    x = torch.randn(batch, c, side, side).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(c, c, 1, bias=False).to(memory_format=torch.channels_last)
    return _best(lambda: conv(x), 2 * batch * side * side * c * c, repeats)


def peaks() -> dict[str, float]:
    return {"matmul (MKL)": matmul_flops(), "1x1 conv (oneDNN)": conv1x1_flops()}


def peak_flops() -> float:
    """The machine's float32 peak: the faster of the two engines."""
    return max(peaks().values())


if __name__ == "__main__":
    for name, f in peaks().items():
        print(f"float32 {name}: {f / 1e9:.0f} GFLOP/s on {torch.get_num_threads()} threads")
