"""dvc.yaml declares every project module a stage runs, so DVC re-runs exactly what a change touches.

Each stage's modules are derived from its ``cmd`` (``python -m <module>``) by following the project's
own imports (``ast``, every ``import`` anywhere in a file, lazy ones included); each must be a
declared dependency of the stage. Removing one from dvc.yaml makes this fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from aevae import paths

PACKAGES = ("aevae", "stages")


def _module_file(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for cand in (paths.ROOT / rel.with_suffix(".py"), paths.ROOT / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(file: Path) -> set[str]:
    """Project modules imported anywhere in ``file``: ``import a.b``, ``from a import b`` (b a module or a name)."""
    out = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in PACKAGES and _module_file(m) is not None}


def closure(module: str) -> set[Path]:
    """Files of ``module`` and of every project module it imports, transitively (package ``__init__``s
    that hold only a docstring are left out: they run nothing)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += _imports(_module_file(m))
    files = {_module_file(m) for m in seen}
    return {f.relative_to(paths.ROOT) for f in files if not (f.name == "__init__.py" and _docstring_only(f))}


def _docstring_only(f: Path) -> bool:
    body = ast.parse(f.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _stages() -> dict[str, dict]:
    """Stage name -> definition, ``foreach`` stages taken by their ``do`` template: the study's and the
    campaign's (whose commands run from the root, ``wdir: ..``, so their paths read the same)."""
    out = {}
    for pipeline in ("dvc.yaml", "campaign/dvc.yaml"):
        raw = yaml.safe_load((paths.ROOT / pipeline).read_text())["stages"]
        prefix = "" if pipeline == "dvc.yaml" else f"{pipeline}:"
        out |= {prefix + name: st.get("do", st) for name, st in raw.items()}
    return out


def _cmd_module(cmd: str) -> str:
    m = re.match(r"python -m ([\w.]+)", cmd)
    assert m, f"cmd {cmd!r} is not `python -m <module> ...`"
    return m.group(1)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_module_a_stage_runs_is_a_declared_dependency(stage):
    st = _stages()[stage]
    declared = {Path(d) for d in st.get("deps", []) if str(d).endswith(".py")}
    needed = closure(_cmd_module(st["cmd"]))
    assert needed - declared == set(), f"{stage}: runs these modules but does not declare them in dvc.yaml"
    assert declared - needed == set(), f"{stage}: declares modules it never runs (needless re-runs)"


def test_closure_follows_lazy_and_transitive_imports():
    # stages.train -> aevae.train -> aevae.losses; aevae.train imports aevae.fileio inside a function
    files = closure("stages.train")
    assert Path("aevae/losses.py") in files and Path("aevae/fileio.py") in files
    assert Path("aevae/plots.py") not in files
