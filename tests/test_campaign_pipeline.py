"""The campaign end to end through DVC on a small profile: killed in the middle and started again, it
redoes only the stages that had not finished, then writes the results table, figures and report."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from tests.dvc_project import SMALL, commit, dvc, env, project_copy, set_params

pytestmark = pytest.mark.slow
CAMPAIGN = {
    "fid_n": {"latent": 60, "conditional": 60, "record": 80},
    "iw_samples": 4,
    "gmm": {"components": 2},
    "two_stage": {"hidden": [16], "epochs": 1, "batch_size": 64, "lr": 0.001},
    "record": {"variant": "v"},
    "variants": {
        "a": {"family": "latent", "model": "ae", "arch": "dense", "latent": 2, "beta": 1.0, "samplers": ["gmm"]},
        "v": {"family": "latent", "model": "vae", "arch": "dense", "latent": 2, "beta": 1.0,
              "samplers": ["two_stage"]},
        "c": {"family": "conditional", "model": "cvae", "arch": "dense", "latent": 2, "beta": 1.0, "samplers": []},
    },
}  # fmt: skip
STAGES = {"check", "variant@a", "variant@v", "variant@c", "record", "summary"}


def _locked(root) -> set[str]:
    lock = root / "campaign" / "dvc.lock"
    try:  # read while DVC may be writing it: a partial file counts as no news
        return set((yaml.safe_load(lock.read_text()) or {}).get("stages", {}))
    except (FileNotFoundError, yaml.YAMLError):
        return set()


def _ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage 'campaign/dvc.yaml:([^']+)'", log))


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory):
    root = project_copy(tmp_path_factory.mktemp("campaign"), campaign=True)
    set_params(root, {**SMALL, "replicates": [0]})  # one study seed: the campaign reads its metrics, not its spread
    (root / "campaign" / "params.yaml").write_text(yaml.safe_dump(CAMPAIGN, sort_keys=False))
    commit(root, "small campaign")
    dvc(root, "repro", "dvc.yaml")  # the study first: the campaign's summary reads its seed spreads

    # started, then killed (SIGKILL, as a session's end does) once the first variant has finished
    log = root / "killed.log"  # a file, not a pipe: an unread pipe would stall DVC once full
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "campaign/dvc.yaml"], cwd=root, env=env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 600
        while not any(s.startswith("variant@") for s in _locked(root)):
            assert proc.poll() is None, f"the campaign ended before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, "no variant finished in 10 minutes"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = _locked(root)
    again = dvc(root, "repro", "campaign/dvc.yaml").stdout
    return root, finished, again


def test_a_killed_campaign_redoes_only_what_had_not_finished(campaign_run):
    root, finished, again = campaign_run
    assert finished < STAGES and any(s.startswith("variant@") for s in finished)
    assert _ran(again) == STAGES - finished
    assert _locked(root) == STAGES
    assert dvc(root, "status", "campaign/dvc.yaml").stdout.strip().endswith("up to date.")


def test_results_table_has_a_row_per_variant_and_sampler(campaign_run):
    root, _, _ = campaign_run
    with open(root / "campaign" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["variant"], r["sampler"]) for r in rows) == [
        ("a", "gaussian"), ("a", "gmm"), ("c", "prior"), ("v", "prior"), ("v", "two_stage")]  # fmt: skip
    for r in rows:
        assert r["fid_n"] == "60" and float(r["fid_samples"]) > 0 and float(r["mse"]) > 0
    assert 0 <= float(next(r for r in rows if r["variant"] == "c")["sample_class_acc"]) <= 1


def test_report_and_figures_come_from_the_table(campaign_run):
    root, _, _ = campaign_run
    report = (root / "campaign" / "REPORT.md").read_text()
    assert report.startswith("# Beyond the source report")
    for section in ("## Latent size", "## Conditional VAE", "## Ex-post samplers", "## Record attempt"):
        assert section in report
    assert "Dai & Wipf's (each image min-max rescaled to [0, 1])" in report
    for fig in ("sweep.png", "cvae_samples.png", "samplers.png", "record.png"):
        assert (root / "campaign" / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    assert not (root / "campaign" / "figures" / "beta.png").exists()  # no beta variant: no empty figure
    record = yaml.safe_load((root / "campaign" / "runs" / "record.json").read_text())
    assert record["fid_n"] == 80 and record["variant"] == "v" and record["sampler"] in ("prior", "two_stage")


def _damage_metric(root):
    f = DAMAGED["metric"](root)
    run = json.loads(f.read_text())
    run["samplers"]["gmm"]["fid_samples"] = "not a number"
    f.write_text(json.dumps(run))


def _damage_array(root):
    np.save(DAMAGED["array"](root), np.array([{"code": "pickled"}], dtype=object), allow_pickle=True)


def _damage_study(root):
    DAMAGED["study"](root).write_text('{"verdicts": {}}')


DAMAGED = {  # what each damage touches, saved and restored around it
    "metric": lambda root: root / "campaign" / "runs" / "a.json",
    "array": lambda root: root / "data" / "campaign" / "eval" / "v" / "samples_two_stage.npy",
    "study": lambda root: root / "metrics" / "study.json",
}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("metric", r"campaign/runs/a.json: samplers.gmm.fid_samples is 'not a number', not a number; `git checkout"),
        ("array", "samples_two_stage.npy: .*pickle"),
        ("study", "study.json: holds no `models`"),
    ],
)
def test_a_damaged_input_is_one_line_and_leaves_the_results_whole(campaign_run, damage, message):
    # the summary used to delete figures and rewrite results.csv before dying with a traceback
    root, _, _ = campaign_run
    outs = [root / "campaign" / "results.csv", root / "campaign" / "REPORT.md",
            *sorted((root / "campaign" / "figures").glob("*.png"))]  # fmt: skip
    before = {p: p.read_bytes() for p in outs}
    target = DAMAGED[damage](root)
    original = target.read_bytes()
    try:
        {"metric": _damage_metric, "array": _damage_array, "study": _damage_study}[damage](root)
        r = subprocess.run([sys.executable, "-m", "stages.campaign_summary"], cwd=root, env=env(),
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and re.search(message, last), last
        assert sorted((root / "campaign" / "figures").glob("*.png")) == outs[2:]
        assert {p: p.read_bytes() for p in outs} == before
    finally:
        target.write_bytes(original)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["variants"]["v"].update(beta=-1.0), "variants.v.beta: -1.0 must be >= 0"),
        (lambda c: c["variants"]["v"].update(bta=2.0), "variants.v.bta: unknown key"),
        (lambda c: c["fid_n"].update(latent=5000), "fid_n.latent: 5000 is more than the 300 test images"),
    ],
)
def test_bad_campaign_params_stop_dvc_before_any_output_is_touched(campaign_run, edit, message):
    # the variant stage refused these too, but only after DVC had deleted its checkpoint, arrays and run file
    root, _, _ = campaign_run
    f = root / "campaign" / "params.yaml"
    original = f.read_text()
    kept = [*sorted((root / "campaign" / "runs").glob("*.json")), *sorted((root / "data" / "campaign").rglob("*.*"))]
    before = {p: p.read_bytes() for p in kept if p.is_file()}
    try:
        cfg = yaml.safe_load(original)
        edit(cfg)
        f.write_text(yaml.safe_dump(cfg, sort_keys=False))
        r = dvc(root, "repro", "campaign/dvc.yaml", check=False)
        assert r.returncode != 0 and message in r.stdout + r.stderr, r.stdout + r.stderr
        assert {p: p.read_bytes() for p in before if p.is_file()} == before
    finally:
        f.write_text(original)
