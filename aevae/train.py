"""Training loop shared by every model of the study (stage ``train_<model>@<replicate>``).

The whole split lives in memory as one tensor; a batch is an index into it (no per-sample
Python work, no DataLoader). The kept checkpoint is the epoch with the lowest validation loss;
training stops once the last ``train.patience`` epochs removed less than ``train.min_improvement`` of the
validation loss that remains reducible above the validation images' entropy floor (``losses.plateau``),
or at ``train.epochs``.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from aevae import losses, models
from aevae.errors import StudyError
from aevae.models import Spec
from aevae.params import Params
from aevae.runtime import progress, seed_everything

log = logging.getLogger(__name__)
EVAL_BATCH = 2000


class DivergedError(StudyError):
    pass


@dataclass
class TrainResult:
    model: torch.nn.Module
    curves: list[dict[str, float]]  # one row per epoch: epoch, train_<term>, val_<term>, what on_epoch measured
    best_epoch: int
    stopped: str  # "plateau" (the stopping rule) or "max_epochs"


def run_seed(p: Params, replicate: int) -> int:
    """The training seed of replicate ``replicate``: ``seed + replicate``."""
    return p.seed + replicate


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


def _diverged(spec: Spec, p: Params, what: str) -> DivergedError:
    knobs = f"train.lr={p.train.lr}, train.batch_size={p.train.batch_size}"
    if spec.kind == "vae":
        knobs += f", vae.beta={p.vae.beta}"
    return DivergedError(
        f"train_{spec.name}: {what} ({knobs}). Try a lower train.lr (e.g. a tenth of it); no checkpoint was written."
    )


def train(
    spec: Spec,
    p: Params,
    x_train: np.ndarray,
    x_val: np.ndarray,
    device: torch.device,
    replicate: int = 0,
    on_epoch: Callable[[torch.nn.Module, int], dict[str, float]] | None = None,
) -> TrainResult:
    """Train model ``spec`` with Adam; return the best-on-validation model (on the CPU) and its curves.

    ``on_epoch(model, epoch)``, if given, is called after each epoch's validation (``_epoch_measures``: eval mode,
    no gradients, the global random state restored), so training is the same with it or without it; the measures
    it returns join that epoch's row of the curves (e.g. an FID against epochs)."""
    if p.train.patience and not losses.has_floor(spec.likelihood):
        raise StudyError(f"train_{spec.name}: a {spec.likelihood} decoder's loss has no floor for the stopping rule; "
                         "set train.patience to 0 (a fixed number of epochs)")  # fmt: skip
    g = seed_everything(run_seed(p, replicate))
    model = models.build(spec).to(device)
    loss_fn = losses.loss_fn(spec.kind, p.vae.beta)
    opt = torch.optim.Adam(model.parameters(), lr=p.train.lr, fused=True)  # one kernel per step, not ~10
    xt = torch.as_tensor(np.asarray(x_train), device=device)
    xv = torch.as_tensor(np.asarray(x_val), device=device)

    # finite divergence (lr=10 once kept an AE with a validation loss of 1e17 silently): the kept model
    # must beat the untrained one; a short run that learns a little still passes
    untrained = evaluate_loss(model, loss_fn, xv)["loss"]
    floor = losses.entropy_floor(x_val) if p.train.patience else math.nan
    curves, best, best_state, best_epoch, stopped = [], math.inf, None, 0, "max_epochs"
    for epoch in range(1, p.train.epochs + 1):
        bar = progress(_batches(len(xt), p.train.batch_size, g), desc=f"{spec.name} epoch {epoch}/{p.train.epochs}")
        sums = _train_epoch(model, opt, loss_fn, xt, bar, epoch, functools.partial(_diverged, spec, p))
        row = {"epoch": epoch, **{f"train_{k}": (v / len(xt)).item() for k, v in sums.items()}}
        val = evaluate_loss(model, loss_fn, xv)
        row.update({f"val_{k}": v for k, v in val.items()})
        if not math.isfinite(val["loss"]):
            raise _diverged(spec, p, f"the validation loss became {val['loss']} at epoch {epoch}")
        if on_epoch is not None:
            row.update(_epoch_measures(on_epoch, model, epoch, row, device))
        curves.append(row)
        log.info("%s epoch %d: %s", spec.name, epoch, ", ".join(f"{k}={v:.3f}" for k, v in row.items() if k != "epoch"))
        if val["loss"] < best:
            best, best_epoch = val["loss"], epoch
            best_state = copy.deepcopy(model.state_dict())
        if p.train.patience:
            plateau = losses.plateau([r["val_loss"] for r in curves], floor, p.train.patience, p.train.min_improvement)
            if plateau["converged"]:
                log.info("%s: stopped at epoch %d: the last %d epochs removed %.3g of the %.4g nats still reducible",
                         spec.name, epoch, p.train.patience, plateau["removed"], plateau["remaining"])  # fmt: skip
                stopped = "plateau"
                break
    if not best < untrained:
        raise _diverged(
            spec, p, f"the best validation loss {best:.4g} is not below the untrained model's {untrained:.4g}"
        )
    model.load_state_dict(best_state)
    return TrainResult(model.cpu().eval(), curves, best_epoch, stopped)


def _epoch_measures(on_epoch, model, epoch: int, row: dict, device: torch.device) -> dict[str, float]:
    """``on_epoch(model, epoch)`` where it cannot change training: eval mode (batch norm's running statistics
    untouched), no gradients, the global random state restored afterwards; its measures may not replace a
    column of the curves (the stopping rule reads ``val_loss``)."""
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        extra = on_epoch(model, epoch)
    clash = sorted(set(extra) & set(row))
    if clash:
        raise ValueError(f"on_epoch returned {clash}, columns the curves already hold")
    return extra


def _train_epoch(model, opt, loss_fn, xt: torch.Tensor, batches, epoch: int, diverged) -> dict[str, torch.Tensor]:
    """Epoch ``epoch``: one pass of Adam over ``batches`` (index tensors into ``xt``, shown as a progress bar);
    returns each loss term summed over the images. A non-finite loss raises ``diverged(what happened)`` before
    its step is taken."""
    model.train()
    sums: dict[str, torch.Tensor] = {}
    for step, idx in enumerate(batches, 1):
        xb = xt[idx.to(xt.device)]
        terms = loss_fn(model(xb), xb)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise diverged(f"the loss became {loss.item()} at epoch {epoch}, step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.detach() * len(idx)
        if step % 20 == 0:
            batches.set_postfix(loss=f"{loss.item():.2f}")
    return sums


def declared(spec: Spec, p: Params, replicate: int) -> dict:
    """The params a ``train_<model>`` stage declares in dvc.yaml, and nothing else: what its checkpoint
    records, so two builds with the same declared inputs give the same bytes."""
    t = p.train
    out = {"spec": spec.as_dict(), "seed": run_seed(p, replicate), "replicate": replicate,
           "train": {"epochs": t.epochs, "patience": t.patience, "min_improvement": t.min_improvement,
                     "batch_size": t.batch_size, "lr": t.lr}}  # fmt: skip
    if spec.kind == "vae":
        out["vae"] = {"beta": p.vae.beta}
    return out


def checkpoint(result: TrainResult, spec: Spec, p: Params, replicate: int, device: torch.device) -> dict:
    """What a checkpoint holds: weights, the declared params it was trained with, and how."""
    return {
        "state_dict": result.model.state_dict(),
        "params": declared(spec, p, replicate),
        "meta": {
            "best_epoch": result.best_epoch,
            "stopped": result.stopped,
            "device": device.type,
            "torch": str(torch.__version__),
        },
    }


def load_model(path, expect: Spec | None = None, replicate: int | None = None) -> tuple[torch.nn.Module, dict]:
    """Rebuild a trained model from its checkpoint (loaded with ``weights_only=True``).

    ``expect`` and ``replicate``: the model and the training replicate the caller needs; a checkpoint of
    another model or replicate, a foreign torch file or weights that do not fit their spec get one clear
    error before any work is done.
    """
    from aevae import fileio

    ckpt = fileio.load_torch(path)
    fix = fileio.restore_hint(path)
    try:
        s = ckpt["params"]["spec"]
        spec = Spec(
            s["name"],
            s["kind"],
            s["arch"],
            int(s["latent"]),
            tuple(int(v) for v in s["layers"]),
            s.get("likelihood", "bernoulli"),
        )
        state = ckpt["state_dict"]
        held = ckpt["params"].get("replicate")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StudyError(f"{path}: a torch file, but not a checkpoint of this study (no model spec); {fix}") from None
    if expect is not None and spec != expect:
        raise StudyError(
            f"{path}: holds {spec.label} '{spec.name}', but the current params need {expect.label} '{expect.name}'; "
            f"{fix}"
        )
    if replicate is not None and held != replicate:
        raise StudyError(f"{path}: holds replicate {held}'s training run, not replicate {replicate}'s; {fix}")
    model = models.build(spec)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise StudyError(
            f"{path}: its weights do not fit its own spec ({str(e).splitlines()[0][:120]}); {fix}"
        ) from None
    return model.eval(), ckpt["params"]


def curves_csv(curves: list[dict[str, float]]) -> str:
    cols = list(curves[0])
    lines = [",".join(cols)] + [",".join(repr(row[c]) for c in cols) for row in curves]
    return "\n".join(lines) + "\n"
