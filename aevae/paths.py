"""Every file the pipeline reads or writes, defined once.

``paths.yaml`` is the single source: ``dvc.yaml`` interpolates it (``vars: [paths.yaml]``) and the
code reads it here, so a path is never spelled twice.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load() -> dict[str, str]:
    with open(ROOT / "paths.yaml") as f:
        return yaml.safe_load(f)["paths"]


_P = _load()

PARAMS = ROOT / "params.yaml"
PARAMS_OK = ROOT / _P["params_ok"]
RAW = ROOT / _P["raw"]
PREPARED = ROOT / _P["prepared"]
FID_WEIGHTS = ROOT / _P["fid_weights"]
FID_REFERENCE = ROOT / _P["fid_reference"]
MODELS = ROOT / _P["models"]
EVAL = ROOT / _P["eval"]
METRICS = ROOT / _P["metrics"]
PLOTS = ROOT / _P["plots"]
CURVES = ROOT / _P["curves"]
REPORT = ROOT / _P["report"]


def checkpoint(model: str) -> Path:
    return MODELS / f"{model}.pt"


def curves(model: str) -> Path:
    return CURVES / f"{model}.csv"


def eval_dir(model: str) -> Path:
    return EVAL / model


def metrics(model: str) -> Path:
    return METRICS / f"{model}.json"
