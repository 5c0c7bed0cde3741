"""Stage plot: every figure, the regenerated report and metrics/study.json, from the evaluation arrays,
run metrics and curves only (no model runs here). What it reads and writes: dvc.yaml.
"""

import json
import os

import numpy as np
import pandas as pd

from aevae import data, fileio, losses, params, paths, plots, report
from aevae.continuity import GROUP_OF
from aevae.errors import StudyError, cli
from aevae.models import NAMES
from aevae.study import SAMPLER_LABELS


def _read(path, parse):
    """``parse(path)``, with one clear error for a missing, corrupt or truncated file."""
    if not path.is_file():
        raise StudyError(f"{path}: missing; run `dvc repro` (it rebuilds what is missing)")
    try:
        return parse(path)
    except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise StudyError(
            f"{path}: corrupt or truncated ({type(e).__name__}: {str(e).splitlines()[0][:100]}); "
            f"`git checkout -- {path.relative_to(paths.ROOT)}` restores the committed one, `dvc repro` rebuilds it"
        ) from None


def _curves(path) -> pd.DataFrame:
    df = pd.read_csv(path)
    if df.empty or "epoch" not in df or "val_loss" not in df:
        raise ValueError("no epoch / val_loss rows")
    return df


def main() -> None:
    p = params.load()
    fileio.check_outputs(paths.PLOTS, paths.REPORT, paths.STUDY)  # before the work, not after it
    test = data.load_split("test")
    floor = losses.entropy_floor(data.load_split("val").x)
    runs = {n: {r: _read(paths.metrics(n, r), lambda f: json.loads(f.read_text())) for r in p.replicates}
            for n in NAMES}  # fmt: skip
    curves = {n: {r: _read(paths.curves(n, r), _curves) for r in p.replicates} for n in NAMES}
    judge = _read(paths.JUDGE_METRICS, lambda f: json.loads(f.read_text()))
    arr = {}
    for n in NAMES:
        d = paths.eval_dir(n, 0)
        if not d.is_dir():
            raise StudyError(f"{d}: missing; run `dvc repro` (it rebuilds what is missing)")
        arr[n] = {f.stem: fileio.load_npy(f, mmap=True) for f in d.glob("*.npy")}
    study = report.build(runs, curves, p, floor, judge)
    labels, proto = study.labels, {n: runs[n][0]["protocol"] for n in NAMES}
    acc = {n: f"kNN accuracy {study.stats[n]['latent_acc']}, probe {study.stats[n]['probe_acc']}" for n in NAMES}
    small, large = ("ae_2d", "vae_2d"), ("ae", "vae")
    pairs = proto["ae"]["interpolation_classes"]

    rel = os.path.relpath(paths.PLOTS, paths.REPORT.parent)
    outputs = fileio.atomic_outputs(files=(paths.REPORT, paths.STUDY), folders=(paths.PLOTS,))
    with outputs as ([report_tmp, study_tmp], [out]):  # figures, report and summary replaced as one set
        for names, name in ((small, "latent_map_2d.png"), (large, "latent_map.png")):
            plots.latent_map({n: np.asarray(arr[n]["latent_2d"]) for n in names},
                             {n: proto[n]["latent_2d"] for n in names}, test.y, acc, labels, out / name)  # fmt: skip
        plots.manifold({n: np.asarray(arr[n]["manifold"]) for n in small}, {n: proto[n]["manifold"] for n in small},
                       labels, out / "manifold.png")  # fmt: skip
        plots.reconstructions(test.x, test.y, {n: arr[n]["recon"] for n in NAMES}, labels, out / "reconstructions.png")
        gen = {n: {s: arr[n][f"samples_{s}"] for s in proto[n]["samplers"]} for n in NAMES}
        plots.samples(gen, labels, SAMPLER_LABELS, out / "samples.png")
        similar = [bool(GROUP_OF[a] == GROUP_OF[b]) for a, b in pairs]
        plots.interpolations({n: np.asarray(arr[n]["interpolations"]) for n in NAMES}, pairs, similar,
                             out / "interpolations.png")  # fmt: skip
        plots.curves({n: [curves[n][r] for r in p.replicates] for n in NAMES}, labels, floor, out / "curves.png")
        plots.metrics_bars(study.stats, labels, out / "metrics.png")
        report_tmp.write_text(report.render(study, rel))
        fileio.dump_json(study_tmp, report.summary(study))


if __name__ == "__main__":
    cli(main)
