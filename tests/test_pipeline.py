"""End to end through DVC itself, on a small profile: the CI reproduction check.

Two independent copies of the project (separate DVC caches, so nothing is restored from a cache)
run `dvc repro`: the first the whole pipeline, the second one run of each kind (the AE at the main latent
as the primary run, the 2-d VAE as a further replicate) and everything upstream of them; each file the
second writes, and its hash in dvc.lock, must equal the first's byte for byte. The plot stage, forced
again on the first copy's inputs, must rewrite its figures and reports byte for byte. Then: `dvc status`
is clean, bad params (or a symlinked run folder) stop the pipeline with every earlier output intact, a
param or code change re-runs exactly the stages that read it (what `dvc repro` would run, not what
`dvc status` lists), `dvc push` / `dvc pull` round-trip through a local remote, and `dvc plots show`
writes a page with every figure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aevae import paths
from aevae.study import METRICS
from tests.dvc_project import commit, dvc, project_copy, set_params

pytestmark = pytest.mark.slow
MODELS = ("ae", "vae", "ae_2d", "vae_2d")
RUNS = [f"{m}@{r}" for m in MODELS for r in (0, 1)]


def _changed_stages(root: Path) -> set[str]:
    return set(json.loads(dvc(root, "status", "--json").stdout or "{}"))


def _outputs(root: Path) -> dict[str, bytes]:
    files = [root / "dvc.lock", *sorted((root / "metrics").rglob("*.json")), *sorted((root / "plots").rglob("*.*"))]
    files += sorted((root / "data" / "models").glob("*.pt"))
    return {str(f.relative_to(root)): f.read_bytes() for f in files if f.is_file()}


SECOND = ("evaluate_ae@0", "evaluate_vae_2d@1")  # what the second copy runs (with everything upstream)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = project_copy(tmp_path_factory.mktemp("run_a"))
    b = project_copy(tmp_path_factory.mktemp("run_b"))
    logs = [dvc(a, "repro").stdout, dvc(b, "repro", *SECOND).stdout]
    return a, b, logs


def _lock(root: Path) -> dict:
    return yaml.safe_load((root / "dvc.lock").read_text())["stages"]


def test_second_run_reproduces_the_first_byte_for_byte(runs):
    a, b, logs = runs
    out_a = _outputs(a)
    assert {f"metrics/runs/{r.replace('@', '-')}.json" for r in RUNS} <= out_a.keys()
    assert {
        "metrics/study.json",
        "plots/figures/samples.png",
        "plots/REPORT.md",
        "data/models/vae_2d-1.pt",
    } <= out_a.keys()
    lock_a, lock_b = _lock(a), _lock(b)
    # what the second copy's stages wrote (its other metrics and figures are the committed full study's)
    outs = [b / o["path"] for stage in lock_b.values() for o in stage.get("outs", [])]
    written = [f for o in outs for f in ([o] if o.is_file() else sorted(p for p in o.rglob("*") if p.is_file()))]
    names = {str(f.relative_to(b)) for f in written}
    assert {"data/models/ae-0.pt", "metrics/runs/ae-0.json", "metrics/runs/vae_2d-1.json", "data/eval/ae-0/recon.npy",
            "metrics/judge.json", "data/fid/reference/features.npy"} <= names  # fmt: skip
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    assert not differ, f"not reproduced byte for byte: {sorted(differ)}"
    assert set(SECOND) | {"judge", "fid_reference", "train_ae@0", "train_vae_2d@1"} <= set(lock_b) < set(lock_a)
    assert {k: lock_a[k] for k in lock_b} == lock_b  # every dep, param and out hash
    for log in logs:
        assert "Running stage 'evaluate_vae_2d@1'" in log and "is cached" not in log


def test_the_plot_stage_rewrites_its_outputs_byte_for_byte(runs):
    a, _, _ = runs
    before = _outputs(a)
    log = dvc(a, "repro", "--force", "--single-item", "plot").stdout
    assert "Running stage 'plot'" in log
    assert _outputs(a) == before
    m = json.loads((a / "metrics/runs/vae_2d-0.json").read_text())
    for key in METRICS:
        if not key.endswith("_gaussian"):  # the AE's sampler
            assert isinstance(m[key], float | int), key
    assert m["fid_n"] == 50 and m["fid_n_primary"] == 64 and m["protocol"]["device"] == "cpu"
    assert m["run"]["spec"]["latent"] == 2
    other = json.loads((a / "metrics/runs/ae_2d-1.json").read_text())  # every seed: Inception metrics too
    assert {"fid_gaussian", "kid_gmm", "fid_recon"} <= set(other) and "fid_samples" not in other
    study = json.loads((a / "metrics/study.json").read_text())
    assert study["models"]["ae_2d"]["mse"]["n"] == 2
    assert {"ae_reconstructs_better", "vae_latent_continuous", "both_converge"} <= set(study["claims"])
    assert all(t["setting"] != "report" for t in study["tests"])
    judge = json.loads((a / "metrics/judge.json").read_text())
    assert 0 < judge["accuracy"] <= 1 and 0 <= judge["ece"] <= 1


def test_status_is_clean_and_repro_is_a_no_op(runs):
    a, _, _ = runs
    assert _changed_stages(a) == set()
    log = dvc(a, "repro").stdout
    assert "Running stage" not in log


def _ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log)) - {"check_params"}


def _would_run(root: Path) -> set[str]:
    """The stages `dvc repro` would run now, downstream ones included.

    `dvc repro --dry` alone (like `dvc status`) lists only the stages whose own deps or params changed;
    a real run also runs their descendants in DVC's graph (`dvc dag --dot`), because their inputs then
    change (training and evaluation are deterministic functions of their inputs). `check_params` is
    left out: it re-runs on any change of params.yaml, but its output is constant, so nothing below it
    re-runs on its account (`--force-downstream` would wrongly re-run everything). The real repro in
    test_a_real_repro_runs_what_the_dry_run_says checks this prediction.
    """
    changed = _ran(dvc(root, "repro", "--dry").stdout)
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', dvc(root, "dag", "--dot").stdout)
    out, todo = set(), list(changed)
    while todo:
        stage = todo.pop()
        if stage not in out:
            out.add(stage)
            todo += [b for a, b in edges if a == stage]
    return out


TRAIN = lambda *models: {f"train_{m}@{r}" for m in models for r in (0, 1)}  # noqa: E731
EVAL = lambda *models: {f"evaluate_{m}@{r}" for m in models for r in (0, 1)}  # noqa: E731


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        ({"latent_dim": 4}, TRAIN("ae", "vae") | EVAL("ae", "vae") | {"plot"}),  # the 2-d pair stays cached
        ({"vae": {"beta": 4.0}}, TRAIN("vae", "vae_2d") | EVAL("vae", "vae_2d") | {"plot"}),
        ({"latent_dim_2d": 3}, TRAIN("ae_2d", "vae_2d") | EVAL("ae_2d", "vae_2d") | {"plot"}),
        ({"evaluate": {"iw_samples": 16}}, EVAL("vae", "vae_2d") | {"plot"}),
        ({"evaluate": {"interp_pairs": 40}}, EVAL(*MODELS) | {"plot"}),
        ({"model": {"conv": {"channels": [8, 16]}}}, set()),  # a dense study does not read conv's knobs
        # the reference holds every test image: a new sample size re-scores, it does not re-extract
        ({"evaluate": {"fid_samples": 60}}, EVAL(*MODELS) | {"plot"}),
        ({"judge": {"epochs": 2}}, {"judge"} | EVAL(*MODELS) | {"plot"}),
    ],
)
def test_param_changes_rerun_exactly_their_readers(runs, updates, expected):
    a, _, _ = runs
    original = (a / "params.yaml").read_text()
    try:
        set_params(a, updates)
        assert _would_run(a) == expected
    finally:
        (a / "params.yaml").write_text(original)


def test_a_real_repro_runs_what_the_dry_run_says(runs):
    a, _, _ = runs
    commit(a, "before the change")
    try:
        set_params(a, {"evaluate": {"iw_samples": 16}})
        predicted = _would_run(a)
        ran = _ran(dvc(a, "repro").stdout)
        assert ran == predicted == EVAL("vae", "vae_2d") | {"plot"}  # plot reads the VAEs' new metrics
    finally:
        subprocess.run(["git", "checkout", "--", "."], cwd=a, check=True)
        dvc(a, "checkout")
    assert _changed_stages(a) == set()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("aevae/data.py", {"download", "prepare", "fid_reference", "judge", "plot"} | TRAIN(*MODELS) | EVAL(*MODELS)),
        ("aevae/losses.py", TRAIN(*MODELS) | EVAL(*MODELS) | {"plot"}),
        ("aevae/metrics.py", EVAL(*MODELS) | {"plot"}),
        ("aevae/continuity.py", EVAL(*MODELS) | {"plot"}),
        ("aevae/plots.py", {"plot"}),
    ],
)  # fmt: skip
def test_code_changes_rerun_exactly_the_stages_that_run_it(runs, code, expected):
    a, _, _ = runs
    f = a / code
    original = f.read_text()
    try:
        f.write_text(original + "\n# a change\n")
        assert _would_run(a) == expected
    finally:
        f.write_text(original)


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"latent_dim": 0}, "latent_dim: 0 is out of range"),
        ({"model": {"arch": "transformer"}}, "model.arch: unknown choice 'transformer'"),
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer, got 'ten' (str)"),
        ({"bogus": 1}, "bogus: unknown key"),
    ],
)
def test_bad_params_stop_dvc_before_any_output_is_touched(runs, updates, message):
    a, _, _ = runs
    before = _outputs(a)
    original = (a / "params.yaml").read_text()
    try:
        set_params(a, updates) if "bogus" not in updates else (a / "params.yaml").write_text(original + "bogus: 1\n")
        r = dvc(a, "repro", check=False)
        assert r.returncode != 0
        assert message in r.stderr + r.stdout
        assert _outputs(a) == before  # models, metrics, figures and dvc.lock all intact
    finally:
        (a / "params.yaml").write_text(original)
    assert _changed_stages(a) == set()


def test_a_symlinked_run_folder_stops_dvc_before_any_output_is_touched(runs, tmp_path):
    """DVC deletes a stage's outputs before it runs: a run's folder linked elsewhere used to lose its metrics file
    before DVC refused the link. check_params (which runs first on a params change) names it."""
    a, _, _ = runs
    folder = a / "data/eval/vae-0"
    moved = tmp_path / "vae-0"
    shutil.move(folder, moved)
    folder.symlink_to(moved, target_is_directory=True)
    before = _outputs(a)
    original = (a / "params.yaml").read_text()
    try:
        set_params(a, {"evaluate": {"iw_samples": 16}})
        r = dvc(a, "repro", check=False)
        assert r.returncode != 0 and f"error: cannot write {folder}: it is a symlink to {moved}" in r.stderr + r.stdout
        assert _outputs(a) == before and sorted(p.name for p in moved.iterdir()) == sorted(
            p.name for p in (a / "data/eval/vae-1").iterdir()
        )
    finally:
        (a / "params.yaml").write_text(original)
        folder.unlink()
        shutil.move(moved, folder)
    assert _changed_stages(a) == set()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "params.yaml: empty"), ("replicates: [\n", "params.yaml: not valid YAML"), (None, "params.yaml: not found")],
)
def test_make_repro_checks_params_before_dvc_reads_them(runs, content, message):
    """DVC refuses a missing, empty or broken params.yaml in its own words (`Could not find 'replicates'`) before
    any stage runs; `make repro` runs the study's check first (`--only-check`: nothing written)."""
    a, _, _ = runs
    f, ok = a / "params.yaml", a / "data" / "params.ok"
    original, stamp = f.read_text(), ok.stat().st_mtime_ns
    only_check = [sys.executable, "-m", "stages.check_params", "--only-check"]
    assert subprocess.run(only_check, cwd=a).returncode == 0 and ok.stat().st_mtime_ns == stamp  # nothing written
    try:
        f.unlink() if content is None else f.write_text(content)
        r = subprocess.run([sys.executable, "-m", "stages.check_params", "--only-check"], cwd=a, capture_output=True,
                           text=True)  # fmt: skip
        assert r.returncode == 2 and r.stderr.startswith("error: ") and message in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        f.write_text(original)
    assert _changed_stages(a) == set()


@pytest.mark.parametrize(
    ("target", "check", "pipeline"),
    [("repro", "check_params", "dvc.yaml"), ("campaign", "campaign_check", "campaign/dvc.yaml")],
)
def test_make_runs_each_pipelines_check_before_dvc(target, check, pipeline):
    plan = subprocess.run(["make", "-n", target], cwd=paths.ROOT, capture_output=True, text=True, check=True).stdout
    lines = plan.splitlines()
    first = next(i for i, line in enumerate(lines) if f"-m stages.{check} --only-check" in line)
    assert first < next(i for i, line in enumerate(lines) if line.endswith(f"dvc repro {pipeline}"))


def test_push_pull_round_trip(runs, tmp_path):
    a, _, _ = runs
    remote = tmp_path / "remote"
    dvc(a, "remote", "modify", "--local", "local", "url", str(remote))
    dvc(a, "push")
    commit(a, "results")  # as a user would: dvc.lock, metrics, curves and figures go to git
    c = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(a), str(c)], check=True)
    dvc(c, "remote", "modify", "--local", "local", "url", str(remote))
    dvc(c, "pull")
    assert _changed_stages(c) == set()
    assert (c / "data/models/vae-0.pt").read_bytes() == (a / "data/models/vae-0.pt").read_bytes()


def test_plots_show_page_has_every_figure(runs):
    a, _, _ = runs
    dvc(a, "plots", "show", "-o", "page")
    html = (a / "page" / "index.html").read_text()
    for png in (a / "plots" / "figures").glob("*.png"):
        assert png.stem in html
    assert "Loss, primary runs" in html


def test_plots_page_draws_offline_in_a_real_browser(runs, tmp_path):
    """The page's vega charts render with no network: the libraries are inlined (aevae.plots_page)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (.ci/run installs Debian's chromium)")
    a, _, _ = runs
    dvc(a, "plots", "show", "-o", "page")
    html = (a / "page" / "index.html").read_text()
    assert "cdn.jsdelivr" not in html
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", (a / "page" / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert dom.count("<canvas") >= 2  # the two vega charts (loss, KL) were drawn
    assert dom.count("<img") >= len(list((a / "plots" / "figures").glob("*.png")))
