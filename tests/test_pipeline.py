"""End to end through DVC itself, on a small profile: the CI reproduction check.

Two independent copies of the project (separate DVC caches, so nothing is restored from a cache)
run `dvc repro`; the second must reproduce the first byte for byte: every hash in dvc.lock and
the metrics files. Then: `dvc status` is clean, bad params stop the pipeline with every earlier
output intact, a param or code change re-runs exactly the stages that read it (what `dvc repro`
would run, not what `dvc status` lists), `dvc push` / `dvc pull` round-trip through a local
remote, and `dvc plots show` writes a page with every figure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = project_copy(tmp_path_factory.mktemp("run_a"))
    b = project_copy(tmp_path_factory.mktemp("run_b"))
    logs = [dvc(root, "repro").stdout for root in (a, b)]
    return a, b, logs


def test_second_run_reproduces_the_first_byte_for_byte(runs):
    a, b, logs = runs
    out_a, out_b = _outputs(a), _outputs(b)
    assert {f"metrics/runs/{r.replace('@', '-')}.json" for r in RUNS} <= out_a.keys()
    assert {
        "metrics/study.json",
        "plots/figures/samples.png",
        "plots/REPORT.md",
        "data/models/vae_2d-1.pt",
    } <= out_a.keys()
    assert out_a.keys() == out_b.keys()
    differ = [k for k in out_a if out_a[k] != out_b[k]]
    assert not differ, f"not reproduced byte for byte: {differ}"
    for log in logs:
        assert "Running stage 'evaluate_vae_2d@1'" in log and "is cached" not in log
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
