import dataclasses

import numpy as np
import pytest
import torch

from aevae import fileio, losses, models, params, train
from aevae.errors import StudyError

CPU = torch.device("cpu")


def small(**overrides) -> params.Params:
    raw = {"data": {"subset": 400, "val_size": 100}, "train": {"epochs": 2, "batch_size": 64},
           "evaluate": {"fid_samples": 50, "fid_samples_seed": 50}, "latent_dim": 4}  # fmt: skip
    for k, v in overrides.items():
        raw.setdefault(k, {}).update(v) if isinstance(v, dict) else raw.__setitem__(k, v)
    return params.from_dict(raw)


@pytest.mark.parametrize("arch", ["dense", "conv", "infogan"])
@pytest.mark.parametrize("name", models.NAMES)
def test_shapes(name, arch):
    p = small(model={"arch": arch})
    s = models.spec(name, p)
    m = models.build(s)
    d = 2 if name.endswith("_2d") else 4
    out = m(torch.rand(5, 784))
    assert out["logits"].shape == (5, 784) and out["z"].shape == (5, d)
    assert m.embed(torch.rand(5, 784)).shape == (5, d)
    if s.kind == "vae":
        assert out["mu"].shape == out["logvar"].shape == (5, d)


def test_infogan_is_dai_and_wipfs_network():
    # their stage-1 VAE at latent 64 has 13,331,586 trainable parameters, one of them their scalar
    # log-gamma (docs/dai_wipf_protocol.md); ours has the same layers and a Bernoulli decoder
    vae = models.build(models.spec("vae", small(model={"arch": "infogan"}, latent_dim=64)))
    assert sum(t.numel() for t in vae.parameters()) == 13_331_586 - 1
    kinds = [type(m).__name__ for m in vae.encoder]
    assert kinds == ["Unflatten", "Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Linear",
                     "BatchNorm1d", "LeakyReLU", "Linear"]  # fmt: skip
    assert vae.encoder[2].negative_slope == 0.2
    gamma = models.build(dataclasses.replace(models.spec("vae", small(model={"arch": "infogan"}, latent_dim=64)),
                                             likelihood="gaussian"))  # fmt: skip
    assert sum(t.numel() for t in gamma.parameters()) == 13_331_586  # theirs, log-gamma included
    assert gamma.log_gamma.item() == 0.0  # their loggamma_x starts at 0: gamma = 1
    # their initialisation and batch norm (network/util.py): weights sd 0.02 (convolutions truncated at 2 sd),
    # biases 0, moving averages with decay 0.999
    convs = [m for m in gamma.modules() if isinstance(m, torch.nn.Conv2d)]
    dense = [m for m in gamma.modules() if isinstance(m, torch.nn.Linear | torch.nn.ConvTranspose2d)]
    assert all(m.weight.abs().max() <= 0.04 and m.bias.abs().max() == 0 for m in convs)
    big = max(dense, key=lambda m: m.weight.numel())
    assert big.weight.std().item() == pytest.approx(0.02, rel=0.01) and big.bias.abs().max() == 0
    assert {m.momentum for m in gamma.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)} == {0.001}


def test_gaussian_nll_is_the_normal_density_with_the_learned_gamma():
    """Cross-checked against torch.distributions (an independent implementation); a planted gamma^2 for gamma, or
    the logits used as the mean, would differ."""
    g = torch.Generator().manual_seed(0)
    logits, x = torch.randn(4, 784, generator=g), torch.rand(4, 784, generator=g)
    for lg in (-2.0, 0.0, 0.7):
        log_gamma = torch.tensor(lg)
        want = -torch.distributions.Normal(torch.sigmoid(logits), log_gamma.exp()).log_prob(x).sum(1)
        torch.testing.assert_close(losses.gaussian_nll(logits, x, log_gamma), want, rtol=1e-5, atol=1e-3)
    out = {"logits": logits, "log_gamma": torch.tensor(-1.0), "mu": torch.zeros(4, 2), "logvar": torch.zeros(4, 2)}
    terms = losses.loss_fn("vae")(out, x)
    torch.testing.assert_close(terms["recon"], losses.gaussian_nll(logits, x, out["log_gamma"]).mean())
    assert float(terms["gamma"]) == pytest.approx(np.exp(-1.0))


def test_a_learned_gamma_vae_trains_its_gamma_down_and_round_trips(tmp_path, splits):
    p = small(train={"epochs": 3, "lr": 0.003})
    s = dataclasses.replace(models.spec("vae", p), likelihood="gaussian")
    r = train.train(s, p, splits["train"].x[:300], splits["val"].x[:100], CPU)
    gammas = [row["train_gamma"] for row in r.curves]
    assert gammas[-1] < gammas[0] < 1.0  # from gamma = 1, down as the fit improves
    path = tmp_path / "g.pt"
    fileio.save_torch(path, train.checkpoint(r, s, p, 0, CPU))
    back, declared = train.load_model(path, expect=s, replicate=0)
    assert back.log_gamma.item() == r.model.log_gamma.item() and declared["spec"]["likelihood"] == "gaussian"
    assert "learned gamma" in models.Spec(**{**declared["spec"], "layers": tuple(declared["spec"]["layers"])}).label


def test_a_gaussian_decoder_needs_fixed_epochs_and_a_vae(splits):
    p = small(train={"patience": 5})
    s = dataclasses.replace(models.spec("vae", p), likelihood="gaussian")
    with pytest.raises(StudyError, match="train_vae: a gaussian decoder's loss has no floor .* train.patience to 0"):
        train.train(s, p, splits["train"].x[:300], splits["val"].x[:100], CPU)
    with pytest.raises(ValueError, match="the AE's decoder is Bernoulli only"):
        models.build(dataclasses.replace(models.spec("ae", small()), likelihood="gaussian"))


def test_an_epoch_hook_adds_its_measures_and_leaves_training_unchanged(splits):
    """On the network with batch norm, a hook that draws from the global random state and runs the model: the
    curves (but its column), the weights and batch norm's running statistics are those of a run without it, and
    every training step still runs in train mode."""
    p = small(model={"arch": "infogan", "infogan": {"channels": [8, 16], "hidden": 32}}, train={"epochs": 2})
    s = models.spec("vae", p)
    xt, xv = splits["train"].x[:300], splits["val"].x[:100]
    seen, modes = [], []

    def hook(model, epoch):
        seen.append((epoch, model.training, torch.is_grad_enabled()))
        model(torch.rand(4, 784))  # a forward pass, and global randomness
        return {"probe": float(torch.randn(()))}

    plain = train.train(s, p, xt, xv, CPU)
    torch.nn.modules.module.register_module_forward_pre_hook(lambda m, a: modes.append(m.training))
    try:
        hooked = train.train(s, p, xt, xv, CPU, on_epoch=hook)
    finally:
        torch.nn.modules.module._global_forward_pre_hooks.clear()
    assert seen == [(1, False, False), (2, False, False)]
    assert [{k: v for k, v in row.items() if k != "probe"} for row in hooked.curves] == plain.curves
    assert all("probe" in row for row in hooked.curves) and True in modes
    assert fileio.torch_bytes(hooked.model.state_dict()) == fileio.torch_bytes(plain.model.state_dict())
    with pytest.raises(ValueError, match=r"on_epoch returned \['val_loss'\], columns the curves already hold"):
        train.train(s, p, xt, xv, CPU, on_epoch=lambda model, epoch: {"val_loss": 0.0})


def test_each_architecture_reads_only_its_own_knobs():
    dense = models.spec("ae", small(model={"conv": {"channels": [8, 16]}}))
    assert dense == models.spec("ae", small()) and dense.layers == (512, 256)
    conv = models.spec("vae", small(model={"arch": "conv", "conv": {"channels": [8, 16]}}))
    assert conv.layers == (8, 16) and isinstance(models.build(conv).encoder[1], torch.nn.Conv2d)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_training_is_bitwise_reproducible_and_learns(name, splits):
    p = small()
    s = models.spec(name, p)
    xt, xv = splits["train"].x[:300], splits["val"].x[:100]
    runs = [train.train(s, p, xt, xv, CPU) for _ in range(2)]
    blobs = [fileio.torch_bytes(train.checkpoint(r, s, p, 0, CPU)) for r in runs]
    assert blobs[0] == blobs[1]
    assert runs[0].curves == runs[1].curves
    c = runs[0].curves
    assert c[-1]["val_recon"] < c[0]["val_recon"]
    assert set(c[0]) == {"epoch", "train_loss", "train_recon", "val_loss", "val_recon"} | (
        {"train_kl", "val_kl"} if s.kind == "vae" else set()
    )
    # replicate 1 trains with seed + 1: another model; seed 1 replicate 0 is that same model
    other = train.train(s, p, xt, xv, CPU, replicate=1)
    assert fileio.torch_bytes(other.model.state_dict()) != fileio.torch_bytes(runs[0].model.state_dict())
    same = train.train(s, small(seed=1), xt, xv, CPU, replicate=0)
    assert fileio.torch_bytes(other.model.state_dict()) == fileio.torch_bytes(same.model.state_dict())


def test_vae_beta_weights_the_kl_term_and_leaves_the_ae_alone(splits):
    xt, xv = splits["train"].x[:200], splits["val"].x[:50]
    runs = {b: train.train(models.spec("vae", small(vae={"beta": b})), small(vae={"beta": b}), xt, xv, CPU)
            for b in (1.0, 4.0)}  # fmt: skip
    for b, r in runs.items():  # the logged loss is recon + beta * KL, exactly
        row = r.curves[-1]
        assert row["val_loss"] == pytest.approx(row["val_recon"] + b * row["val_kl"], rel=1e-5)
    # a heavier KL weight buys a smaller KL (the point of a beta-VAE)
    assert runs[4.0].curves[-1]["val_kl"] < runs[1.0].curves[-1]["val_kl"]
    ae = [train.train(models.spec("ae", small()), small(vae={"beta": b}), xt, xv, CPU) for b in (1.0, 4.0)]
    assert ae[0].curves == ae[1].curves


def test_divergence_stops_with_epoch_step_and_advice(splits):
    xt = splits["train"].x[:256].copy()
    xt[200] = np.nan  # a poisoned batch makes the loss NaN mid-epoch
    p = small(train={"epochs": 3, "batch_size": 64})
    with pytest.raises(train.DivergedError) as e:
        train.train(models.spec("vae", p), p, xt, splits["val"].x[:64], CPU)
    msg = str(e.value)
    assert "train_vae: the loss became nan at epoch 1, step" in msg
    assert "Try a lower train.lr" in msg and "no checkpoint was written" in msg


def test_finite_divergence_is_refused_not_kept(splits):
    # lr=10 once kept an AE whose validation loss was 1e17 without a word
    p = small(train={"lr": 10.0, "epochs": 2})
    with pytest.raises(train.DivergedError, match="train_ae: .*(loss became|is not below the untrained model's)"):
        train.train(models.spec("ae", p), p, splits["train"].x[:300], splits["val"].x[:100], CPU)


def test_a_short_run_that_learns_a_little_is_kept(splits):
    p = small(train={"epochs": 1})  # 2 steps: far from trained, but better than the untrained model
    r = train.train(models.spec("ae", p), p, splits["train"].x[:128], splits["val"].x[:64], CPU)
    assert r.best_epoch == 1


def test_checkpoint_records_only_what_the_stage_declares(tmp_path, splits):
    p = small(train={"epochs": 1})
    s = models.spec("ae", p)
    r = train.train(s, p, splits["train"].x[:128], splits["val"].x[:64], CPU)
    ckpt = train.checkpoint(r, s, p, 0, CPU)
    assert set(ckpt["params"]) == {"spec", "seed", "replicate", "train"}  # no vae.*, evaluate.*, data paths
    # a VAE-only or evaluation-only change gives the AE the same bytes
    other = small(train={"epochs": 1}, vae={"beta": 4.0}, evaluate={"iw_samples": 3})
    assert fileio.torch_bytes(ckpt) == fileio.torch_bytes(train.checkpoint(r, s, other, 0, CPU))
    path = tmp_path / "ae-0.pt"
    fileio.save_torch(path, ckpt)
    model, declared = train.load_model(path, expect=s)
    assert declared["spec"]["latent"] == 4
    x = torch.as_tensor(splits["test"].x[:8])
    torch.testing.assert_close(model(x)["logits"], r.model(x)["logits"], rtol=0, atol=0)


def test_wrong_or_foreign_checkpoints_get_one_clear_error(tmp_path, splits):
    p = small(train={"epochs": 1})
    ae = models.spec("ae", p)
    r = train.train(ae, p, splits["train"].x[:128], splits["val"].x[:64], CPU)
    good = tmp_path / "ae-0.pt"
    fileio.save_torch(good, train.checkpoint(r, ae, p, 0, CPU))
    with pytest.raises(StudyError, match=r"holds AE \(dense, latent 4\) 'ae', but the current params need VAE"):
        train.load_model(good, expect=models.spec("vae", p))
    with pytest.raises(StudyError, match="current params need AE \\(dense, latent 8\\)"):
        train.load_model(good, expect=models.spec("ae", small(latent_dim=8)))
    # another replicate's checkpoint in this one's place (same model, same shapes) is refused, not evaluated
    with pytest.raises(StudyError, match="holds replicate 0's training run, not replicate 1's; `dvc checkout --force"):
        train.load_model(good, expect=ae, replicate=1)
    assert train.load_model(good, expect=ae, replicate=0)[1]["replicate"] == 0
    foreign = tmp_path / "foreign.pt"
    fileio.save_torch(foreign, {"weights": torch.zeros(3)})
    with pytest.raises(StudyError, match="a torch file, but not a checkpoint of this study"):
        train.load_model(foreign)
    bad = train.checkpoint(r, ae, p, 0, CPU)
    bad["params"]["spec"]["latent"] = 8  # weights of a latent-4 model under a latent-8 spec
    mismatch = tmp_path / "mismatch.pt"
    fileio.save_torch(mismatch, bad)
    with pytest.raises(StudyError, match="its weights do not fit its own spec"):
        train.load_model(mismatch)
