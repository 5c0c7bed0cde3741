"""Training throughput of each kind of model the study and the campaign train, against a plain PyTorch
loop in the same run and against this machine's float32 peak.

Kinds (``--arch``): ``dense`` (the study's MLP VAE), ``conv`` (the small convolutional VAE),
``infogan`` (Dai & Wipf's published network, 13.3 M parameters, batch 64, latent 64), ``vaegan`` (the
campaign's VAE-GAN: the dense VAE with its discriminator, ``campaign/params.yaml``'s ``vaegan_z32``, one
``aevae.campaign.vaegan.step`` per batch: encoder, decoder and discriminator updates).

Variants, each the same model, loss, optimizer and batch size, timed in alternating rounds (medians):

- ``baseline``: ``torchvision.datasets.FashionMNIST(transform=ToTensor())`` + ``DataLoader``, as
  pytorch/examples' VAE trains;
- ``ours``: the split is one in-memory tensor, a batch is an index into it (``aevae.train``);
- ``bf16``: ours under ``torch.autocast("cpu", torch.bfloat16)`` (measured, not used: it changes the
  arithmetic of training);
- ``compiled``: ours with the model under ``torch.compile`` (``--compile``; measured, not used: its
  fused kernels change the arithmetic too, and compiling costs time per process).

Achieved FLOP/s (forward + backward, torch's FlopCounterMode) is given as a fraction of the measured
float32 peak (``bench.peak``: the faster of MKL's matmul and oneDNN's 1x1 convolution).

    python -m bench.train_throughput [--arch dense|conv|infogan|vaegan] [--steps 100] [--rounds 3] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

from aevae import data, losses, models, params, paths
from aevae.campaign import vaegan
from aevae.models import PIXELS
from bench.peak import peak_flops

SETTINGS = {  # arch -> (batch size, latent size): the study's defaults; Dai & Wipf's for infogan
    "dense": (params.TrainParams().batch_size, params.Params().latent_dim),
    "conv": (params.TrainParams().batch_size, params.Params().latent_dim),
    "infogan": (64, 64),
    "vaegan": (params.TrainParams().batch_size, params.Params().latent_dim),
}


def _gan_knobs():
    from aevae.campaign import config

    return config.load_config().variants["vaegan_z32"].gan


def make(arch: str, latent: int, compiled: bool = False):
    p = params.from_dict({"model": {"arch": "dense" if arch == "vaegan" else arch}, "latent_dim": latent})
    torch.manual_seed(0)
    if arch == "vaegan":  # its own update: the loss and optimizers live in vaegan.step
        return vaegan.build(models.spec("vae", p), _gan_knobs(), "cpu"), None, None
    model = models.build(models.spec("vae", p)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    return (torch.compile(model) if compiled else model), opt, losses.loss_fn("vae")


def step(model, opt, loss_fn, xb, bf16: bool = False) -> torch.Tensor:
    ctx = torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext()
    if isinstance(model, vaegan.Parts):
        with ctx:
            return vaegan.step(model, xb, _gan_knobs())[0]["feat"]
    with ctx:
        loss = loss_fn(model(xb), xb)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def ours(arch: str, batch: int, latent: int, steps: int, x: torch.Tensor, bf16=False, compiled=False) -> float:
    model, opt, loss_fn = make(arch, latent, compiled)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).split(batch)
    for i in range(3 if compiled else 1):  # warm-up (compilation happens here)
        step(model, opt, loss_fn, x[idx[i]], bf16)
    t = time.perf_counter()
    for i in range(steps):
        step(model, opt, loss_fn, x[idx[i % (len(idx) - 1)]], bf16)
    return steps * batch / (time.perf_counter() - t)


def baseline(arch: str, batch: int, latent: int, steps: int) -> float:
    model, opt, loss_fn = make(arch, latent)
    with tempfile.TemporaryDirectory() as root:
        raw = Path(root) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for name in data.FILES:
            os.symlink(paths.RAW / name, raw / name)
        ds = datasets.FashionMNIST(root, train=True, download=False, transform=transforms.ToTensor())
        loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
        it = iter(loader)
        step(model, opt, loss_fn, next(it)[0].view(-1, PIXELS))
        t = time.perf_counter()
        for _ in range(steps):
            try:
                xb, _ = next(it)
            except StopIteration:
                it = iter(loader)
                xb, _ = next(it)
            step(model, opt, loss_fn, xb.view(-1, PIXELS))
        return steps * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="dense", choices=list(SETTINGS))
    ap.add_argument("--steps", type=int, default=100, help="steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    ap.add_argument("--compile", action="store_true", help="also time the model under torch.compile")
    args = ap.parse_args()
    batch, latent = SETTINGS[args.arch]
    x = torch.as_tensor(np.asarray(data.load_split("train").x))

    model, opt, loss_fn = make(args.arch, latent)
    with FlopCounterMode(display=False) as fc:
        step(model, opt, loss_fn, x[:batch])
    flop = fc.get_total_flops() / batch
    peak = peak_flops()
    variants = {
        "baseline": lambda: baseline(args.arch, batch, latent, args.steps),
        "ours": lambda: ours(args.arch, batch, latent, args.steps, x),
        "bf16": lambda: ours(args.arch, batch, latent, args.steps, x, bf16=True),
    }
    if args.compile and args.arch != "vaegan":
        variants["compiled"] = lambda: ours(args.arch, batch, latent, args.steps, x, compiled=True)
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):  # alternating, so that drift in this shared machine's speed hits all alike
        for k, fn in variants.items():
            runs[k].append(fn())
    med = {k: float(np.median(v)) for k, v in runs.items()}
    modules = (model.vae, model.d) if isinstance(model, vaegan.Parts) else (model,)
    n_params = sum(t.numel() for m in modules for t in m.parameters())
    print(
        f"{args.arch} VAE ({n_params / 1e6:.2f} M parameters), batch {batch}, latent {latent}, "
        f"{torch.get_num_threads()} threads, {flop / 1e6:.2f} MFLOP/sample (fwd+bwd), float32 peak "
        f"{peak / 1e9:.0f} GFLOP/s, median of {args.rounds} alternating rounds of {args.steps} steps"
    )
    for k, v in med.items():
        print(f"  {k:9s} {v:9.0f} samples/s  {v / med['baseline']:5.2f}x baseline  {v * flop / peak:4.0%} of peak"
              f"  ({v * flop / 1e9:.0f} GFLOP/s; an epoch of 55,000 images: {55_000 / v:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
