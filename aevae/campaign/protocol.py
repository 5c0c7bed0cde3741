"""Dai & Wipf's FID protocol (their ``fid_score.py``, read in docs/dai_wipf_protocol.md), beside ours.

Theirs: each generated image min-max rescaled to [0, 1] and multiplied by 255, kept as floats (never
rounded); the test images as their uint8 gray levels in floats; gray replicated to 3 channels and fed
to the TF 2015 Inception graph, which resizes 28 -> 299 with TF1's bilinear (``align_corners=False``:
source pixel = destination x 28/299, no half-pixel offset) and normalizes (x - 128) / 128; pool3.
Ours (``aevae.fid``): images rounded to uint8 as a PNG save would, resized with PyTorch's half-pixel
bilinear and rounded again. Same weights, same network (``fid.extractor``): only the inputs differ.
TF1's resize is torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x``, the function the
torchmetrics/torch-fidelity Inception applies to any input that is not 299 x 299.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from aevae import fid
from aevae.params import SIDE
from aevae.runtime import progress


def rescale(images: np.ndarray) -> np.ndarray:
    """Each image min-max rescaled to [0, 1], as Dai & Wipf's code does before scoring (a constant
    image, whose range is 0, is left as it is)."""
    x = np.asarray(images, np.float32).reshape(len(images), -1)
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), x).astype(np.float32)


def generated_inputs(images: np.ndarray) -> torch.Tensor:
    """Generated images ``[N, 784]`` in [0, 1] -> their input: ``[N, 1, 28, 28]`` floats in [0, 255]."""
    return torch.from_numpy(rescale(images) * np.float32(255.0)).reshape(-1, 1, SIDE, SIDE)


def real_inputs(images_u8: np.ndarray) -> torch.Tensor:
    """Real images, uint8 ``[N, 28, 28]`` (or ``[N, 784]``) -> ``[N, 1, 28, 28]`` floats, their gray levels."""
    return torch.from_numpy(np.asarray(images_u8, np.uint8).astype(np.float32)).reshape(-1, 1, SIDE, SIDE)


@torch.inference_mode()
def features(x: torch.Tensor, net: torch.nn.Module, batch: int = fid.BATCH, desc: str = "features") -> np.ndarray:
    """Pool3 features ``[N, 2048]`` of ``x`` (``generated_inputs`` or ``real_inputs``) through the study's
    Inception (``fid.extractor``), resized as TF1 resizes."""
    dev = fid.device_of(net)
    out = []
    for chunk in progress(x.split(batch), desc=f"Inception (Dai & Wipf's protocol) {desc}", unit="batch"):
        big = interpolate_bilinear_2d_like_tensorflow1x(chunk, size=(fid.SIZE, fid.SIZE), align_corners=False)
        out.append(net(big.to(dev).contiguous(memory_format=torch.channels_last)).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, fid.FEATURES), np.float32)
