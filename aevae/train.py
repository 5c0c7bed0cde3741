"""Training loop shared by train_ae and train_vae.

The whole split lives in memory as one tensor; a batch is an index into it (no per-sample
Python work, no DataLoader). The kept checkpoint is the epoch with the lowest validation loss.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from aevae import losses, models
from aevae.errors import StudyError
from aevae.params import Params
from aevae.runtime import progress, seed_everything

log = logging.getLogger(__name__)
EVAL_BATCH = 2000


class DivergedError(StudyError):
    pass


@dataclass
class TrainResult:
    model: torch.nn.Module
    curves: list[dict[str, float]]  # one row per epoch: epoch, train_<term>, val_<term>
    best_epoch: int


def _batches(n: int, batch_size: int, generator: torch.Generator | None = None):
    idx = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return idx.split(batch_size)


@torch.no_grad()
def evaluate_loss(model, loss_fn, x: torch.Tensor) -> dict[str, float]:
    """Mean of each loss term over ``x``, in eval mode (the VAE still samples its posterior)."""
    model.eval()
    sums: dict[str, float] = {}
    for idx in _batches(len(x), EVAL_BATCH):
        xb = x[idx]
        for k, v in loss_fn(model(xb), xb).items():
            sums[k] = sums.get(k, 0.0) + v.item() * len(idx)
    return {k: v / len(x) for k, v in sums.items()}


def train(kind: str, p: Params, x_train: np.ndarray, x_val: np.ndarray, device: torch.device) -> TrainResult:
    """Train ``kind`` ("ae" or "vae") with Adam; return the best-on-validation model and its curves."""
    g = seed_everything(p.seed)
    model = models.build(kind, p).to(device)
    loss_fn = losses.loss_fn(kind, p.vae.beta)
    opt = torch.optim.Adam(model.parameters(), lr=p.train.lr, fused=True)  # one kernel per step, not ~10
    xt = torch.as_tensor(np.asarray(x_train), device=device)
    xv = torch.as_tensor(np.asarray(x_val), device=device)

    curves, best, best_state, best_epoch = [], math.inf, None, 0
    for epoch in range(1, p.train.epochs + 1):
        model.train()
        sums: dict[str, torch.Tensor] = {}
        bar = progress(_batches(len(xt), p.train.batch_size, g), desc=f"{kind} epoch {epoch}/{p.train.epochs}")
        for step, idx in enumerate(bar, 1):
            xb = xt[idx.to(device)]
            terms = loss_fn(model(xb), xb)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise DivergedError(
                    f"train_{kind}: the loss became {loss.item()} at epoch {epoch}, step {step} "
                    f"(train.lr={p.train.lr}, train.batch_size={p.train.batch_size}"
                    + (f", vae.beta={p.vae.beta}" if kind == "vae" else "")
                    + "). Try a lower train.lr (e.g. a tenth of it); no checkpoint was written."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach() * len(idx)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.2f}")
        row = {"epoch": epoch, **{f"train_{k}": (v / len(xt)).item() for k, v in sums.items()}}
        val = evaluate_loss(model, loss_fn, xv)
        row.update({f"val_{k}": v for k, v in val.items()})
        if not math.isfinite(val["loss"]):
            raise DivergedError(
                f"train_{kind}: the validation loss became {val['loss']} at epoch {epoch}. "
                f"Try a lower train.lr (now {p.train.lr}); no checkpoint was written."
            )
        curves.append(row)
        log.info("%s epoch %d: %s", kind, epoch, ", ".join(f"{k}={v:.3f}" for k, v in row.items() if k != "epoch"))
        if val["loss"] < best:
            best, best_epoch = val["loss"], epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return TrainResult(model.cpu().eval(), curves, best_epoch)


def checkpoint(result: TrainResult, kind: str, p: Params, device: torch.device) -> dict:
    """What a checkpoint holds: weights, the params it was trained with, and how."""
    return {
        "state_dict": result.model.state_dict(),
        "params": p.as_dict(),
        "meta": {"kind": kind, "best_epoch": result.best_epoch, "device": device.type, "torch": str(torch.__version__)},
    }


def load_model(path) -> tuple[torch.nn.Module, Params]:
    """Rebuild a trained model from its checkpoint (loaded with ``weights_only=True``)."""
    from aevae import fileio, params

    ckpt = fileio.load_torch(path)
    p = params.from_dict(ckpt["params"])
    model = models.build(ckpt["meta"]["kind"], p)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), p


def curves_csv(curves: list[dict[str, float]]) -> str:
    cols = list(curves[0])
    lines = [",".join(cols)] + [",".join(repr(row[c]) for c in cols) for row in curves]
    return "\n".join(lines) + "\n"


def main(kind: str) -> None:
    """Stage train_<kind>: read params and prepared data, train, write checkpoint and curves."""
    from aevae import data, fileio, params, paths
    from aevae.runtime import device as pick_device

    p = params.load()
    dev = pick_device()
    log.info("training %s (%s, latent %d) on %s", kind, p.model.arch, p.latent_dim, dev)
    result = train(kind, p, data.load_split("train").x, data.load_split("val").x, dev)
    fileio.save_torch(paths.checkpoint(kind), checkpoint(result, kind, p, dev))
    fileio.write_text(paths.curves(kind), curves_csv(result.curves))
    log.info("%s: kept epoch %d (lowest validation loss)", kind, result.best_epoch)
