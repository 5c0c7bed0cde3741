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
JUDGE = ROOT / _P["judge"]
JUDGE_METRICS = ROOT / _P["judge_metrics"]
MODELS = ROOT / _P["models"]
EVAL = ROOT / _P["eval"]
RUNS = ROOT / _P["runs"]
STUDY = ROOT / _P["study"]
PLOTS = ROOT / _P["plots"]
CURVES = ROOT / _P["curves"]
REPORT = ROOT / _P["report"]
HOLDERS = (MODELS, EVAL, RUNS, CURVES)  # folders of per-run outputs (never replaced whole: each run's are)
OUTPUTS = tuple(ROOT / v for v in _P.values() if ROOT / v not in HOLDERS)  # every other path above is an output
FEATURES_FILE = "features.npy"  # inside FID_REFERENCE: [N_test, 2048] float32


def run_id(model: str, replicate: int) -> str:
    """``<model>-<replicate>``: the name of one training run in every output path."""
    return f"{model}-{replicate}"


def checkpoint(model: str, replicate: int) -> Path:
    return MODELS / f"{run_id(model, replicate)}.pt"


def curves(model: str, replicate: int) -> Path:
    return CURVES / f"{run_id(model, replicate)}.csv"


def eval_dir(model: str, replicate: int) -> Path:
    return EVAL / run_id(model, replicate)


def metrics(model: str, replicate: int) -> Path:
    return RUNS / f"{run_id(model, replicate)}.json"
