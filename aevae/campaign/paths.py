"""The campaign's files (``campaign:`` in paths.yaml, which campaign/dvc.yaml interpolates too)."""

from __future__ import annotations

from pathlib import Path

import yaml

from aevae.paths import ROOT


def _load() -> dict[str, Path]:
    with open(ROOT / "paths.yaml") as f:
        return {k: ROOT / v for k, v in yaml.safe_load(f)["campaign"].items()}


PATHS = _load()
HOLDERS = tuple(PATHS[k] for k in ("models", "eval", "published", "runs", "curves"))  # folders of per-run outputs
OUTPUTS = tuple(p for k, p in PATHS.items() if k != "params" and p not in HOLDERS)  # each a stage's output
