import numpy as np
import pytest
import torch

from aevae import fileio, models, params, train


def small(**overrides) -> params.Params:
    raw = {"data": {"subset": 400, "val_size": 100}, "train": {"epochs": 2, "batch_size": 64},
           "evaluate": {"fid_samples": 50}, "latent_dim": 4}  # fmt: skip
    for k, v in overrides.items():
        raw.setdefault(k, {}).update(v) if isinstance(v, dict) else raw.__setitem__(k, v)
    return params.from_dict(raw)


@pytest.mark.parametrize("arch", ["dense", "conv"])
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_shapes(kind, arch):
    p = small(model={"arch": arch})
    m = models.build(kind, p)
    out = m(torch.rand(5, 784))
    assert out["logits"].shape == (5, 784) and out["z"].shape == (5, 4)
    assert m.embed(torch.rand(5, 784)).shape == (5, 4)
    if kind == "vae":
        assert out["mu"].shape == out["logvar"].shape == (5, 4)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_training_is_bitwise_reproducible_and_learns(kind, splits):
    p = small()
    xt, xv = splits["train"].x[:300], splits["val"].x[:100]
    runs = [train.train(kind, p, xt, xv, torch.device("cpu")) for _ in range(2)]
    blobs = [fileio.torch_bytes(train.checkpoint(r, kind, p, torch.device("cpu"))) for r in runs]
    assert blobs[0] == blobs[1]
    assert runs[0].curves == runs[1].curves
    c = runs[0].curves
    assert c[-1]["val_recon"] < c[0]["val_recon"]
    assert set(c[0]) == {"epoch", "train_loss", "train_recon", "val_loss", "val_recon"} | (
        {"train_kl", "val_kl"} if kind == "vae" else set()
    )
    other = train.train(kind, small(seed=1), xt, xv, torch.device("cpu"))
    assert fileio.torch_bytes(other.model.state_dict()) != fileio.torch_bytes(runs[0].model.state_dict())


def test_vae_beta_changes_only_vae_loss(splits):
    xt, xv = splits["train"].x[:200], splits["val"].x[:50]
    a = train.train("vae", small(vae={"beta": 1.0}), xt, xv, torch.device("cpu"))
    b = train.train("vae", small(vae={"beta": 4.0}), xt, xv, torch.device("cpu"))
    assert a.curves[0]["train_kl"] != b.curves[0]["train_kl"]
    ae1 = train.train("ae", small(vae={"beta": 1.0}), xt, xv, torch.device("cpu"))
    ae4 = train.train("ae", small(vae={"beta": 4.0}), xt, xv, torch.device("cpu"))
    assert ae1.curves == ae4.curves


def test_divergence_stops_with_epoch_step_and_advice(splits):
    xt = splits["train"].x[:256].copy()
    xt[200] = np.nan  # a poisoned batch makes the loss NaN mid-epoch
    with pytest.raises(train.DivergedError) as e:
        train.train("vae", small(train={"epochs": 3, "batch_size": 64}), xt, splits["val"].x[:64], torch.device("cpu"))
    msg = str(e.value)
    assert "train_vae: the loss became nan at epoch 1, step" in msg
    assert "Try a lower train.lr" in msg and "no checkpoint was written" in msg


def test_huge_lr_diverges_cleanly(splits):
    with pytest.raises(train.DivergedError, match=r"at epoch \d+, step \d+"):
        train.train("vae", small(train={"lr": 10.0, "epochs": 5}), splits["train"].x[:300], splits["val"].x[:100],
                    torch.device("cpu"))  # fmt: skip


def test_checkpoint_roundtrip_with_weights_only(tmp_path, splits):
    p = small(train={"epochs": 1})
    r = train.train("ae", p, splits["train"].x[:128], splits["val"].x[:64], torch.device("cpu"))
    path = tmp_path / "ae.pt"
    fileio.save_torch(path, train.checkpoint(r, "ae", p, torch.device("cpu")))
    model, p2 = train.load_model(path)
    assert p2 == p
    x = torch.as_tensor(splits["test"].x[:8])
    torch.testing.assert_close(model(x)["logits"], r.model(x)["logits"], rtol=0, atol=0)
