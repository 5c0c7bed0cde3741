"""Each stage's measured time beside its floor, the study's and the campaign's: the arithmetic the stage
cannot avoid, at this machine's measured float32 peak (``bench.peak``).

The floor counts: Inception's FLOPs per image (the standard network, as ``bench.fid_throughput``
counts them) for every image a stage scores; a training run's forward and backward FLOPs per training
image for every epoch it ran (its curve), plus a forward pass over the validation images each epoch; a
VAE's importance-weighted bound (``evaluate.iw_samples`` decoder passes per test image). Everything else
(process start-up and loading, the latent classifiers, mixtures, SSIM, the judge's reading of paths, KID)
is not in the floor: the ratio shows what it and the engines' distance from the peak cost together.

A campaign stage (``campaign/dvc.yaml:<stage>``) is counted from what its files record: a variant's epochs
(its run file), the prior FIDs in its curve, every sampler it scored at ``fid_n`` images, the importance-
weighted bound of a VAE at ``iw_samples``; a VAE-GAN's step with all three parts trained; the published rows
at ``fid_n.record`` images per protocol; the record's selection and its families' test scorings at each seed. The second
stage's fit (Dai & Wipf's sampler, a small MLP) is left out of the floor, as the mixtures are.

    python -m bench.floors logs/repro.log [--peak 286]   # GFLOP/s; measured when not given
    python -m bench.floors logs/campaign.log             # a stamped `dvc repro campaign/dvc.yaml` log
"""

from __future__ import annotations

import argparse
import csv
import re
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from aevae import fid, losses, models, params, paths, samplers
from aevae.campaign import config, vaegan
from aevae.campaign.paths import PATHS
from bench.peak import peak_flops
from bench.stage_times import durations


def inception_flops() -> float:
    """FLOPs per image of the standard FID network (3 channels, 299 x 299, its own resize and normalization)."""
    standard = fid.reference_extractor(paths.FID_WEIGHTS)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        standard(fid.resize(torch.zeros((1, 28, 28), dtype=torch.uint8)))
    return fc.get_total_flops()


def _flops(fn) -> float:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def spec_flops(spec: models.Spec, beta: float, batch: int, gan=None) -> dict[str, float]:
    """Per image of model ``spec``: a training step (forward + backward; a VAE-GAN's with its three parts
    trained, ``gan`` its knobs), a forward pass, a decoder pass."""
    x = torch.rand(batch, models.PIXELS)
    if spec.kind == "cvae":
        x = torch.from_numpy(models.with_labels(x.numpy(), torch.arange(batch) % models.CLASSES))
    if gan is not None:
        parts = vaegan.build(spec, gan, "cpu")
        model = parts.vae
        with mock.patch.object(vaegan, "MARGIN", float("inf")):  # the equilibrium rule lets all three train
            step = _flops(lambda: vaegan.step(parts, x, gan)) / batch
    else:
        model = models.build(spec)
        step = _flops(lambda: losses.loss_fn(spec.kind, beta)(model(x), x)["loss"].backward()) / batch
    with torch.no_grad():
        forward = _flops(lambda: model(x)) / batch
        z = model.embed(x)
        decode = _flops(lambda: model.decoder(torch.cat([z, x[:, models.PIXELS :]], 1))) / batch
    return {"step": step, "forward": forward, "decode": decode}


def model_flops(name: str, p: params.Params) -> dict[str, float]:
    """Per image of the study's model ``name``: a training step, a forward pass, a decoder pass."""
    return spec_flops(models.spec(name, p), p.vae.beta, p.train.batch_size)


def floor_seconds(stage: str, p: params.Params, peak: float, inc: float, cache: dict) -> float | None:
    """The floor of one stage (``train_<model>@<r>``, ``evaluate_<model>@<r>``, ``fid_reference``), else None."""
    n_test = p.n_test
    if stage == "fid_reference":
        return n_test * inc / peak
    m = re.fullmatch(r"(train|evaluate)_(\w+)@(\d+)", stage)
    if m is None:
        return None
    kind, name, rep = m.group(1), m.group(2), int(m.group(3))
    if name not in cache:
        cache[name] = model_flops(name, p)
    f = cache[name]
    spec = models.spec(name, p)
    if kind == "train":
        with open(paths.curves(name, rep)) as fh:
            epochs = sum(1 for _ in csv.DictReader(fh))
        return _training(p, f, epochs) / peak
    e = p.evaluate
    images = e.fid_samples_seed * (1 + len(samplers.SAMPLERS[spec.kind]))
    if rep == 0:
        images += max(e.fid_samples - e.fid_samples_seed, 0)
    flops = images * inc
    if spec.kind == "vae":
        flops += n_test * e.iw_samples * f["decode"]
    return flops / peak


def _training(p: params.Params, f: dict, epochs: int) -> float:
    """A training run's FLOPs: every epoch's steps over the training images and forward pass over validation's."""
    return epochs * ((p.n_train_total - p.data.val_size) * f["step"] + p.data.val_size * f["forward"])


def campaign_floor_seconds(stage: str, p: params.Params, cfg, peak: float, inc: float, cache: dict) -> float | None:
    """The floor of a campaign stage (``campaign/dvc.yaml:<stage>``), from its run files; else None."""
    name = stage.removeprefix("campaign/dvc.yaml:")
    if name == "reference":
        return p.n_test * inc / peak
    if name == "record":  # the selection, then each family's chosen variant at each of its seeds (record.json)
        try:
            families = config.read_json(PATHS["runs"] / "record.json")["families"].values()
            scored = sum(len(cfg.seeds_of(f["variant"])) for f in families)
        except (config.CampaignError, KeyError, AttributeError):
            return None
        n = cfg.record.select_n * (len(cfg.record.candidates) + 1) + cfg.fid_n["record"] * scored  # theirs only
        return n * inc / peak
    m = re.fullmatch(r"(variant|replicate|published|published_replicate)@([^-]+)(?:-(\d+))?", name)
    if m is None:
        return None
    kind, variant, seed = m.group(1), m.group(2), int(m.group(3) or 0)
    if kind.startswith("published"):
        rows = sum(1 for v, _ in cfg.published.values() if v == variant)
        return rows * cfg.fid_n["record"] * (2 if seed == 0 else 1) * inc / peak
    run = config.run_name(variant, seed)
    try:
        metrics = config.read_json(PATHS["runs"] / f"{run}.json")
        with open(PATHS["curves"] / f"{run}.csv") as fh:
            curve = list(csv.DictReader(fh))
    except (OSError, config.CampaignError):
        return None  # not run yet
    v = cfg.variants[variant]
    pv = config.variant_params(p, v, cfg)
    if variant not in cache:
        cache[variant] = spec_flops(config.spec(v, pv), v.beta, pv.train.batch_size, v.gan)
    f, n = cache[variant], metrics["fid_n"]
    scored = sum(1 for k in metrics if k.startswith("fid_") and k != "fid_n")  # reconstructions and each sampler
    scored += sum(1 for row in curve if row.get("fid_prior") not in (None, "", "nan"))  # FID against epochs
    flops = _training(pv, f, len(curve)) + scored * n * inc  # the test images' features: the study's, cached
    if "iw_samples" in metrics:  # a VAE with a bound (a learned-gamma decoder has none)
        flops += p.n_test * metrics["iw_samples"] * f["decode"]
    return flops / peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="a stamped `dvc repro` log (bench.stage_times --stamp)")
    ap.add_argument("--peak", type=float, help="float32 peak in GFLOP/s (measured when not given)")
    args = ap.parse_args()
    with open(args.log) as fh:
        times = durations(fh.read().replace("\r", "\n").splitlines())
    p = params.load()
    cfg = config.load_config() if any(s.startswith("campaign/") for s in times) else None
    peak = args.peak * 1e9 if args.peak else peak_flops()
    inc, cache, campaign_cache = inception_flops(), {}, {}
    print(f"float32 peak {peak / 1e9:.0f} GFLOP/s; Inception {inc / 1e9:.2f} GFLOP/image")
    print("| stage | measured (min) | floor (min) | measured / floor |")
    print("|---|---|---|---|")
    total = floor_total = 0.0
    for stage, s in times.items():
        if stage.startswith("campaign/"):
            fl = campaign_floor_seconds(stage, p, cfg, peak, inc, campaign_cache)
        else:
            fl = floor_seconds(stage, p, peak, inc, cache)
        total += s
        floor_total += fl or 0.0
        ratio = f"{s / fl:.1f}x" if fl else "-"
        print(f"| {stage} | {s / 60:.1f} | {fl / 60:.2f} | {ratio} |" if fl else f"| {stage} | {s / 60:.1f} | - | - |")
    print(f"| total | {total / 60:.1f} | {floor_total / 60:.1f} | {total / floor_total:.1f}x |")


if __name__ == "__main__":
    main()
