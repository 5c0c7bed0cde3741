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
import torch
import yaml

from tests.dvc_project import SMALL, commit, dvc, env, project_copy, set_params

pytestmark = pytest.mark.slow
GAN = {"epochs": 1, "lr": 0.0002, "recon_weight": 1.0, "pixel_weight": 0.0, "channels": [8, 16], "hidden": 32}
CAMPAIGN = {
    "seeds": [1],
    "fid_n": {"latent": 60, "hybrid": 60, "conditional": 60, "record": 80},
    "iw_samples": 4,
    "gmm": {"components": 2},
    "two_stage": {"width": 16, "depth": 1, "epochs": 1, "batch_size": 64, "lr": 0.001, "lr_halve_every": 1},
    "record": {"select_n": 50, "candidates": [["v", "normal"], ["v", "two_stage"], ["a2", "gmm"], ["g", "normal"]]},
    "published": {"vae": ["v", "normal"]},  # Dai & Wipf's VAE row, as a dense 2-d VAE reproduces it here
    "roles": {
        "replicated": ["v", "g"],
        "published": ["v"],
        "comparisons": {"hybrid": {"claim": "a hybrid improves sharpness and realism", "first": "g", "second": "v",
                                   "measures": ["sharpness", "fid_normal"]}},
        "trends": {"latent": {"claim": "a larger latent improves representations", "by": "latent",
                              "variants": ["a2", "a3", "a4"], "measures": ["latent_acc"]}},
    },
    "variants": {
        "a2": {"family": "latent", "model": "ae", "arch": "dense", "latent": 2},
        "a3": {"family": "latent", "model": "ae", "arch": "dense", "latent": 3},
        "a4": {"family": "latent", "model": "ae", "arch": "dense", "latent": 4},
        "v": {"family": "latent", "model": "vae", "arch": "dense", "latent": 2, "samplers": ["two_stage"],
              "fid_every": 1},
        "g": {"family": "hybrid", "model": "vaegan", "arch": "dense", "latent": 2, "gan": GAN},
        "c": {"family": "conditional", "model": "cvae", "arch": "dense", "latent": 2},
    },
}  # fmt: skip
STAGES = {"check", "reference", "variant@a2", "variant@a3", "variant@a4", "variant@v", "variant@g", "variant@c",
          "replicate@v-1", "replicate@g-1", "published@v", "published_replicate@v-1", "record",
          "summary"}  # fmt: skip


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
    set_params(root, {**SMALL, "replicates": [0]})
    (root / "campaign" / "params.yaml").write_text(yaml.safe_dump(CAMPAIGN, sort_keys=False))
    commit(root, "small campaign")
    dvc(root, "repro", "dvc.yaml:fid_reference", "dvc.yaml:judge")  # what the campaign reads of the study

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


def test_results_table_has_a_row_per_run(campaign_run):
    root, _, _ = campaign_run
    with open(root / "campaign" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["run"] for r in rows) == ["a2-0", "a3-0", "a4-0", "c-0", "g-0", "g-1", "v-0", "v-1"]
    for r in rows:
        assert r["fid_n"] == "60" and float(r["fid_normal"]) > 0 and float(r["kid_normal"]) > -1 and float(r["mse"]) > 0
    by = {r["run"]: r for r in rows}
    assert by["v-0"]["seed"] == "0" and by["v-1"]["seed"] == "1" and by["v-0"]["mse"] != by["v-1"]["mse"]
    assert float(by["v-0"]["fid_two_stage"]) > 0 and float(by["a2-0"]["fid_gaussian"]) > 0
    assert 0 <= float(by["c-0"]["sample_class_acc"]) <= 1 and 0 <= float(by["c-0"]["recon_class_acc"]) <= 1
    # the VAE-GAN is evaluated as the VAE it is (its prior, its bounds)
    assert by["g-0"]["model"] == "vaegan" and float(by["g-0"]["nll_iw"]) > 0


def test_report_and_figures_come_from_the_table(campaign_run):
    root, _, _ = campaign_run
    report = (root / "campaign" / "REPORT.md").read_text()
    assert report.startswith("# Beyond the source report")
    for section in ("## Hypotheses", "### Comparisons", "### Trends", "## Latent size", "## Samplers",
                    "## Conditional VAE", "## FID against epochs", "## Record attempt"):  # fmt: skip
        assert section in report, section
    # a comparison of two seeds per side: Welch's t has something to test (p is a number)
    row = next(line for line in report.splitlines() if line.startswith("| a hybrid improves") and "FID" in line)
    assert "(2 seeds)" in row and re.search(r"\| 0\.\d+ \| [01]\.?\d* \|", row), row
    # the latent trend's measure on its failing case: random projections of the pixels at sizes 2, 3, 4
    assert re.search(r"^\| kNN accuracy on codes \| 2: [\d.]+, 3: [\d.]+, 4: [\d.]+ \|", report, re.M)
    # every ex-post sampler of a replicated variant against its own, paired over its 2 seeds
    assert re.search(r"^\| `v`: two_stage against normal \| FID [^|]+\| [^|]+\(2 seeds\) \|", report, re.M)
    assert re.search(
        r"^\| an ex-post sampler improves generation over the model's own \| \*\*\w+\*\* \| (\d+ \w+(, )?)+ \|$",
        report,
        re.M,
    )
    # the conditional claim: in the verdicts, and one binomial test per class on its 60 / 10 draws
    # its tests tallied beside the verdict: the 10 classes
    row = re.search(r"^\| a conditional model generates the asked class \| \*\*\w+\*\* \| ([^|]+) \|$", report, re.M)
    assert row and sum(int(n) for n in re.findall(r"(\d+) \w+", row.group(1))) == 10, row
    assert len(re.findall(r"^\| [^|]+ \| 6 \| [01]\.\d\d \[[01]\.\d\d, [01]\.\d\d\] \|", report, re.M)) == 10
    for fig in ("sweep.png", "cvae_samples.png", "samplers.png", "record.png", "fid_epochs.png"):
        assert (root / "campaign" / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    assert not (root / "campaign" / "figures" / "beta.png").exists()  # no beta trend: no empty figure
    dvc(root, "plots", "show", "-o", "page")  # the campaign's figures beside the study's
    html = (root / "page" / "index.html").read_text()
    assert all(f"campaign_figures_{png.name}" in html for png in (root / "campaign" / "figures").glob("*.png"))
    record = yaml.safe_load((root / "campaign" / "runs" / "record.json").read_text())
    # chosen on validation images, one per family: the prior-sampled VAE, a fitted density (the best of two), hybrid
    assert record["fid_n"] == 80 and record["select_n"] == 50
    assert [(c["variant"], c["sampler"], c["family"]) for c in record["selection"]] == [
        ("v", "normal", "prior"),
        ("v", "two_stage", "fitted"),
        ("a2", "gmm", "fitted"),
        ("g", "normal", "hybrid"),
    ]
    fitted = [c for c in record["selection"] if c["family"] == "fitted"]
    best = min(fitted, key=lambda c: c["fid_validation"])
    assert set(record["families"]) == {"prior", "fitted", "hybrid"}
    assert (record["families"]["fitted"]["variant"], record["families"]["fitted"]["sampler"]) == (
        best["variant"],
        best["sampler"],
    )
    for r in record["families"].values():
        assert r["dai_wipf"]["fid"] > 0 and "ours" not in r  # ours beside theirs: the published rows
        # the chosen variant at each of its seeds (v and g are replicated, a2 is not), seed 0 the one above
        assert set(r["seeds"]) == ({"0"} if r["variant"] == "a2" else {"0", "1"}) and r["seeds"]["0"] == r["dai_wipf"]
        assert all(s["fid"] > 0 for s in r["seeds"].values())
    prior_1 = np.load(root / "data" / "campaign" / "record" / "prior-1-dai_wipf.npy")
    assert prior_1.shape == (80, 28, 28) and not np.array_equal(prior_1, np.load(
        root / "data" / "campaign" / "record" / "prior-dai_wipf.npy"))  # its own draws from its own model  # fmt: skip
    assert re.search(r"^\| prior-sampled VAE[^|]*\| v, normal \| \*\*[\d.]+\*\* \| [^|]+ ± [^|]+ \(2 seeds\) \|",
                     report, re.M)  # fmt: skip
    kept = np.load(root / "data" / "campaign" / "record" / "fitted-dai_wipf.npy")
    assert kept.shape == (80, 28, 28)


def test_published_rows_are_scored_at_every_seed_from_the_images_kept(campaign_run):
    # seed 0 under both protocols, seed 1 under theirs; each FID recomputed from the images kept
    from aevae import fid, paths
    from aevae.campaign import protocol

    root, _, _ = campaign_run
    runs = {s: json.loads((root / "campaign" / "runs" / f"published-v-{s}.json").read_text()) for s in (0, 1)}
    assert set(runs[0]["rows"]["vae"]) == {"sampler", "published", "ours", "dai_wipf"}
    assert set(runs[1]["rows"]["vae"]) == {"sampler", "published", "dai_wipf"}
    net = fid.extractor(root / paths.FID_WEIGHTS.relative_to(paths.ROOT))
    theirs_ref = np.load(root / "data" / "campaign" / "reference" / paths.FEATURES_FILE)[:80]
    for s, r in runs.items():
        kept = np.load(root / "data" / "campaign" / "published" / f"v-{s}" / "vae-dai_wipf.npy")
        assert kept.shape == (80, 28, 28) and kept.dtype == np.float32
        assert (kept.reshape(80, -1).min(1) == 0).all() and (kept.reshape(80, -1).max(1) == 255).all()  # min-max
        feats = protocol.features(torch.from_numpy(kept).reshape(-1, 1, 28, 28), net)
        assert fid.fid(theirs_ref, feats) == pytest.approx(r["rows"]["vae"]["dai_wipf"]["fid"], rel=1e-6)
    assert runs[0]["rows"]["vae"]["dai_wipf"]["fid"] != runs[1]["rows"]["vae"]["dai_wipf"]["fid"]  # two models
    ours = np.load(root / "data" / "campaign" / "published" / "v-0" / "vae-ours.npy")
    ours_ref = np.load(root / paths.FID_REFERENCE.relative_to(paths.ROOT) / paths.FEATURES_FILE)[:80]
    assert fid.fid(ours_ref, fid.features(torch.from_numpy(ours), net)) == pytest.approx(
        runs[0]["rows"]["vae"]["ours"]["fid"], rel=1e-6
    )
    report = (root / "campaign" / "REPORT.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| VAE (cross-entropy)"))
    assert "| v (dense, 2, 1), normal |" in row and "(2 seeds)" in row and "| 43.6 ± 0.7 |" in row


def test_the_second_stage_is_fitted_once_kept_and_drawn_from(campaign_run, monkeypatch):
    # the variant stage keeps its fit in the checkpoint; its own samples are that fit's draws, and drawing
    # from it again fits nothing (the published rows and the record take it from there)
    from aevae import params, train
    from aevae.campaign import run, two_stage
    from aevae.errors import StudyError

    root, _, _ = campaign_run
    models_dir = root / "data" / "campaign" / "models"
    fitted = run.kept_fit(models_dir / "v-0.pt", "two_stage")
    monkeypatch.setattr(two_stage, "fit", lambda *a, **k: pytest.fail("the kept second stage was fitted again"))
    model = train.load_model(models_dir / "v-0.pt")[0].eval()
    n = json.loads((root / "campaign" / "runs" / "v-0.json").read_text())["fid_n"]
    shown = np.load(root / "data" / "campaign" / "eval" / "v-0" / "samples_two_stage.npy")
    p = params.load(root / "params.yaml")
    drawn = run.draw(model, np.zeros((0, 784), np.float32), "two_stage", n, None, p, "cpu", fitted)
    np.testing.assert_array_equal(shown, drawn[: len(shown)])
    assert not np.array_equal(two_stage.draw(fitted, 5, 0), two_stage.draw(run.kept_fit(models_dir / "v-1.pt",
                              "two_stage"), 5, 0))  # fmt: skip  # each seed its own fit
    with pytest.raises(StudyError, match=r"a2-0.pt: holds no two_stage fit .*add it to the variant's samplers"):
        run.kept_fit(models_dir / "a2-0.pt", "two_stage")


def _damage_metric(root):
    f = DAMAGED["metric"](root)
    run = json.loads(f.read_text())
    run["fid_gmm"] = "not a number"
    f.write_text(json.dumps(run))


def _damage_array(root):
    np.save(DAMAGED["array"](root), np.array([{"code": "pickled"}], dtype=object), allow_pickle=True)


def _damage_judge(root):
    DAMAGED["judge"](root).write_text('{"accuracy": 0.9')


DAMAGED = {  # what each damage touches, saved and restored around it
    "metric": lambda root: root / "campaign" / "runs" / "a2-0.json",
    "array": lambda root: root / "data" / "campaign" / "eval" / "v-0" / "samples_two_stage.npy",
    "judge": lambda root: root / "metrics" / "judge.json",
}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("metric", r"campaign/runs/a2-0.json: fid_gmm is 'not a number', not a number; `git checkout"),
        ("array", "samples_two_stage.npy: .*pickle"),
        ("judge", "judge.json: corrupt or truncated"),
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
        {"metric": _damage_metric, "array": _damage_array, "judge": _damage_judge}[damage](root)
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
        (lambda c: c["variants"]["v"].update(beta=-1.0), "variants.v.beta: -1.0 is out of range"),
        (lambda c: c["variants"]["v"].update(bta=2.0), "variants.v.bta: unknown key"),
        (lambda c: c["fid_n"].update(latent=5000), "fid_n.latent: 5000 is more than the 300 test images"),
        (lambda c: c["roles"]["comparisons"]["hybrid"].update(first="a2"), "'a2' is not in roles.replicated"),
        (lambda c: c["variants"]["g"]["gan"].update(lr="fast"), "variants.g.gan.lr: expected a number"),
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
