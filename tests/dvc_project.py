"""A small-profile copy of the project, run through DVC: the helpers the end-to-end tests share
(tests/test_pipeline.py, tests/test_campaign_pipeline.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from aevae import paths
from tests.conftest import LOCAL

SMALL = {
    "replicates": [0, 1],
    "data": {"subset": 300, "val_size": 60, "mirrors": [], "local_dirs": [str(LOCAL)]},
    "train": {"epochs": 1, "batch_size": 32},
    "evaluate": {"fid_samples": 64, "fid_samples_seed": 50, "gmm_components": 2, "iw_samples": 8, "interp_pairs": 60},
    "judge": {"epochs": 1},
}


def env() -> dict[str, str]:
    env = dict(os.environ, QUIET="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env(), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def set_params(root: Path, updates: dict) -> None:
    f = root / "params.yaml"
    p = yaml.safe_load(f.read_text())
    for k, v in updates.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                p[k][k2] = {**p[k][k2], **v2} if isinstance(v2, dict) else v2
        else:
            p[k] = v
    f.write_text(yaml.safe_dump(p, sort_keys=False))


def project_copy(dest: Path, campaign: bool = False) -> Path:
    """The working tree as git sees it (tracked + untracked-not-ignored), as a fresh git repo; without
    the campaign's pipeline unless ``campaign``. `dvc repro` with no target runs ./dvc.yaml only (the
    campaign needs `dvc repro campaign/dvc.yaml` or `-P`), but `dvc status` and `dvc dag` read every
    dvc.yaml in the repository: leaving the campaign out keeps them about the study."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=paths.ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, files):
        if not campaign and rel in ("campaign/dvc.yaml", "campaign/dvc.lock"):
            continue
        src = paths.ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # the page template is made by `make install` (git-ignored): the copy needs it for `dvc plots`
    template = paths.ROOT / ".dvc" / "plots_template.html"
    if template.is_file():
        shutil.copy2(template, dest / ".dvc" / "plots_template.html")
    # the committed baseline is the full study; the small profile starts from none
    (dest / "dvc.lock").unlink(missing_ok=True)
    (dest / "campaign" / "dvc.lock").unlink(missing_ok=True)
    set_params(dest, SMALL)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    commit(dest, "small profile")
    return dest


def commit(root: Path, message: str) -> None:
    git = lambda *a: subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *a],  # noqa: E731
                                    cwd=root, check=True, capture_output=True)  # fmt: skip
    git("add", "-A")
    git("commit", "-qm", message, "--allow-empty")
