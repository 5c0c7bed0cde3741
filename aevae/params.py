"""``params.yaml`` loaded once into frozen dataclasses, validated before any work.

Unknown keys, wrong types, out-of-range values and unknown choices raise ``ParamsError`` naming
the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from aevae import paths
from aevae.errors import StudyError

N_TRAIN, N_TEST = 60_000, 10_000
# What the metrics need: a kNN classifier (k = 10) and a linear probe need training codes of several
# classes; FID, precision/recall (k = 3) and their bootstrap need a sample. Below these the numbers
# mean nothing (FID from 2 images read 511), so validation refuses them.
MIN_TRAIN = 50
MIN_FID = 50
SIDE = 28  # Fashion-MNIST images are SIDE x SIDE (aevae.models reads it from here)
MAX_HALVINGS = 2  # stride-2 convolutions a SIDE-pixel image takes before its side is no longer whole


class ParamsError(StudyError):
    pass


def bounds(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> dict:
    """A field's allowed range, as ``field(metadata=bounds(...))``: ``lo`` <= value <= ``hi`` (``lo`` < value with
    ``lo_open``); ``check_value`` enforces it."""
    return {"lo": lo, "hi": hi, "lo_open": lo_open}


@dataclass(frozen=True)
class DataParams:
    subset: int | None = field(default=None, metadata=bounds(1, N_TRAIN))
    val_size: int = field(default=5000, metadata=bounds(1, N_TRAIN - 1))
    mirrors: tuple[str, ...] = ()
    local_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DenseParams:
    hidden: tuple[int, ...] = field(default=(512, 256), metadata=bounds(1, 8192))


@dataclass(frozen=True)
class ConvParams:
    channels: tuple[int, ...] = field(default=(32, 64), metadata=bounds(1, 1024))


@dataclass(frozen=True)
class InfoganParams:
    """Dai & Wipf's (2019) "InfoGAN" network: two strided convolutions with batch norm, a wide fully
    connected layer with batch norm, leaky ReLU in the encoder, the mirror in the decoder."""

    channels: tuple[int, ...] = field(default=(64, 128), metadata=bounds(1, 1024))
    hidden: int = field(default=1024, metadata=bounds(1, 8192))


@dataclass(frozen=True)
class ModelParams:
    """Each architecture's knobs live under its own key, so a stage declares only the chosen one's
    (``model.${model.arch}`` in dvc.yaml): changing ``model.conv`` never re-trains a dense model."""

    arch: Literal["dense", "conv", "infogan"] = "dense"
    dense: DenseParams = DenseParams()
    conv: ConvParams = ConvParams()
    infogan: InfoganParams = InfoganParams()

    @property
    def layers(self) -> tuple[int, ...]:
        """The chosen architecture's layer sizes (dense: hidden units; conv: channels; infogan: channels,
        then the fully connected layer's width)."""
        if self.arch == "infogan":
            return (*self.infogan.channels, self.infogan.hidden)
        return self.dense.hidden if self.arch == "dense" else self.conv.channels


@dataclass(frozen=True)
class TrainParams:
    epochs: int = field(default=20, metadata=bounds(1, 10_000))  # the most epochs a run trains
    # stop once the last `patience` epochs lowered the best validation loss by less than `min_improvement` of
    # what remains reducible above the images' entropy floor (aevae.losses.plateau); patience 0: every epoch
    patience: int = field(default=0, metadata=bounds(0, 10_000))
    min_improvement: float = field(default=0.02, metadata=bounds(0, 1))
    batch_size: int = field(default=128, metadata=bounds(1, N_TRAIN))
    lr: float = field(default=1e-3, metadata=bounds(0, 10, lo_open=True))


@dataclass(frozen=True)
class VAEParams:
    beta: float = field(default=1.0, metadata=bounds(0, 1000))


@dataclass(frozen=True)
class EvaluateParams:
    fid_samples: int = field(default=5000, metadata=bounds(MIN_FID, N_TEST))  # primary run, its main sampler
    fid_samples_seed: int = field(default=1000, metadata=bounds(MIN_FID, N_TEST))  # every run, every sampler
    gmm_components: int = field(default=10, metadata=bounds(1, 1000))  # the mixture sampler's components
    iw_samples: int = field(default=1000, metadata=bounds(1, 100_000))
    interp_pairs: int = field(default=500, metadata=bounds(1, N_TEST))  # test pairs per kind for continuity


@dataclass(frozen=True)
class JudgeParams:
    epochs: int = field(default=10, metadata=bounds(1, 1000))  # the class judge's training epochs


@dataclass(frozen=True)
class Params:
    seed: int = field(default=0, metadata=bounds(0, 2**31))
    replicates: tuple[int, ...] = field(default=(0, 1, 2), metadata=bounds(0, 1000))
    latent_dim: int = field(default=32, metadata=bounds(1, SIDE * SIDE))
    latent_dim_2d: int = field(default=2, metadata=bounds(1, SIDE * SIDE))
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    vae: VAEParams = VAEParams()
    evaluate: EvaluateParams = EvaluateParams()
    judge: JudgeParams = JudgeParams()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def n_train_total(self) -> int:
        return min(self.data.subset or N_TRAIN, N_TRAIN)

    @property
    def n_test(self) -> int:
        return min(self.data.subset or N_TEST, N_TEST)


def _describe(v: Any) -> str:
    return f"{v!r} ({type(v).__name__})"


def _check_scalar(key: str, value: Any, typ: Any, meta: dict) -> Any:
    origin = typing.get_origin(typ)
    if origin is Literal:
        allowed = typing.get_args(typ)
        if value not in allowed:
            raise ParamsError(f"{key}: unknown choice {value!r}; allowed: {', '.join(map(repr, allowed))}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key}: expected an integer, got {_describe(value)}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"{key}: expected a number, got {_describe(value)}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ParamsError(f"{key}: expected a finite number, got {value!r}")
    elif typ is str:
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{key}: expected a non-empty string, got {_describe(value)}")
        return value
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        op = ">" if meta.get("lo_open") else ">="
        raise ParamsError(
            f"{key}: {value!r} is out of range; allowed: {op} {lo}" + (f" and <= {hi}" if hi is not None else "")
        )
    if hi is not None and value > hi:
        raise ParamsError(
            f"{key}: {value!r} is out of range; allowed: <= {hi}" + (f" and >= {lo}" if lo is not None else "")
        )
    return value


def check_value(key: str, value: Any, typ: Any, meta: dict) -> Any:
    """``value`` of ``key`` checked against its type ``typ`` (a dataclass is a section, built by
    ``build_section``) and its ``bounds`` or choices; a fault is one ``ParamsError`` line naming ``key``."""
    if dataclasses.is_dataclass(typ):
        return build_section(typ, value, key + ".")
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return check_value(key, value, inner, meta)
    if value is None:
        raise ParamsError(f"{key}: a value is required, got null")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ParamsError(f"{key}: expected a list, got {_describe(value)}")
        return tuple(check_value(f"{key}[{i}]", v, args[0], meta) for i, v in enumerate(value))
    return _check_scalar(key, value, typ, meta)


def build_section(cls: type, raw: Any, prefix: str = "") -> Any:
    """The dataclass ``cls`` from the mapping ``raw`` (keys named ``prefix`` + key in errors): unknown keys
    refused, each value checked (``check_value``), absent ones left at their defaults. The campaign reads its
    params file with it too."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix.rstrip('.') or 'params.yaml'}: expected a mapping, got {_describe(raw)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        raise ParamsError(
            f"{prefix}{unknown[0]}: unknown key; allowed under {prefix.rstrip('.') or 'the top level'}: "
            + ", ".join(fields)
        )
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = check_value(prefix + name, raw[name], hints[name], dict(f.metadata))
    return cls(**values)


def _check_cross(p: Params) -> None:
    n_train = p.n_train_total
    if n_train <= MIN_TRAIN:
        raise ParamsError(
            f"data.subset: {p.data.subset} images cannot hold a validation split and the {MIN_TRAIN} training "
            f"images the latent classifiers need; allowed: > {MIN_TRAIN} (or null for all)"
        )
    if n_train - p.data.val_size < MIN_TRAIN:
        raise ParamsError(
            f"data.val_size: {p.data.val_size} leaves {max(n_train - p.data.val_size, 0)} training images "
            f"out of {n_train}; the latent classifiers need at least {MIN_TRAIN}: "
            f"allowed: <= {n_train - MIN_TRAIN} (raise data.subset or lower data.val_size)"
        )
    if len(set(p.replicates)) != len(p.replicates) or 0 not in p.replicates:
        raise ParamsError(
            f"replicates: {list(p.replicates)} must be distinct and include 0 (replicate 0 is the primary run, "
            "the one FID and the figures use); e.g. [0, 1, 2]"
        )
    for arch in ("conv", "infogan"):  # each strided convolution halves the side: 28 -> 14 -> 7, then 3.5
        channels = getattr(p.model, arch).channels
        if not 1 <= len(channels) <= MAX_HALVINGS:
            raise ParamsError(
                f"model.{arch}.channels: {list(channels)} has {len(channels)} entries; each convolution halves the "
                f"{SIDE}-pixel side, which stays whole at most {MAX_HALVINGS} times ({SIDE} -> 14 -> 7): "
                f"allowed: 1 to {MAX_HALVINGS} entries, e.g. [32, 64]"
            )
    for key in ("fid_samples", "fid_samples_seed"):
        n = getattr(p.evaluate, key)
        if n > p.n_test:
            raise ParamsError(
                f"evaluate.{key}: {n} is more than the {p.n_test} test images available; "
                f"allowed: <= {p.n_test} (lower it or raise data.subset)"
            )


def from_dict(raw: Any) -> Params:
    """Validate a (possibly partial) mapping; missing keys take the defaults (tests build profiles so)."""
    p = build_section(Params, raw)
    _check_cross(p)
    return p


def _missing(cls: type, raw: Any, prefix: str = "") -> list[str]:
    """Keys of ``cls`` absent from ``raw`` (DVC needs every key a stage declares in the file itself)."""
    out = []
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if not isinstance(raw, dict) or f.name not in raw:
            out.append(key)
        elif dataclasses.is_dataclass(typing.get_type_hints(cls)[f.name]):
            out += _missing(typing.get_type_hints(cls)[f.name], raw[f.name], key + ".")
    return out


class _Yaml12Loader(yaml.SafeLoader):
    """``safe_load`` that reads as DVC does: floats as YAML 1.2 (``1e-4`` is a number, not text), and a
    key given twice in one mapping refused (PyYAML would keep the last value, DVC refuses the file)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: merged keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                raise ParamsError(
                    f"line {key_node.start_mark.line + 1} of {key_node.start_mark.name}: a key that is a list or a "
                    "mapping; keys are names"
                )
            if key in seen:
                raise ParamsError(
                    f"{key}: given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1} of "
                    f"{key_node.start_mark.name}); DVC refuses the file: keep one"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_yaml(path: Path) -> Any:
    """A params file read as DVC reads it (``_Yaml12Loader``, a safe loader: nothing in it is executed),
    every fault one ``ParamsError`` line naming the file and how to restore it; empty -> an error too."""
    path = Path(path)
    try:
        rel = path.resolve().relative_to(paths.ROOT).as_posix()  # campaign/params.yaml, params.yaml
    except ValueError:
        rel = path.name
    restore = f"restore it with `git checkout -- {rel}`"
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.load(f, Loader=_Yaml12Loader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; {restore}") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: a folder, not a file; {restore}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or type(e).__name__
        raise ParamsError(f"{path}: not valid YAML ({what}{where}); fix it or {restore}") from None
    except UnicodeDecodeError as e:
        where = f"byte {e.object[e.start]:#04x} at offset {e.start}"
        raise ParamsError(f"{path}: not UTF-8 text ({where}); {restore}") from None
    if raw is None:
        raise ParamsError(f"{path}: empty; {restore}")
    return raw


def load(path: Path | None = None) -> Params:
    """Read and validate ``params.yaml``: every key present, typed, in range, consistent."""
    path = Path(path or paths.PARAMS)
    raw = read_yaml(path)
    p = from_dict(raw)
    missing = _missing(Params, raw)
    if missing:
        raise ParamsError(
            f"{missing[0]}: missing from {path.name} ({len(missing)} keys missing); every key must be there, "
            f"because DVC reads them from the file: restore it with `git checkout -- {path.name}`"
        )
    return p
