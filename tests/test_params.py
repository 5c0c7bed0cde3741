import pytest
import yaml

from aevae import params
from aevae.params import ParamsError


def test_defaults_file_loads_and_matches_design_names():
    p = params.load()
    assert p.model.arch == "dense" and p.latent_dim == 32 and p.evaluate.fid_samples == 10_000
    assert set(p.as_dict()) == {"seed", "latent_dim", "data", "model", "train", "vae", "evaluate"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"latnt_dim": 4}, "latnt_dim: unknown key; allowed under the top level: seed, latent_dim"),
        ({"train": {"epoch": 3}}, "train.epoch: unknown key; allowed under train: epochs, batch_size, lr"),
        ({"latent_dim": "16"}, "latent_dim: expected an integer, got '16' (str)"),
        ({"latent_dim": 2.5}, "latent_dim: expected an integer, got 2.5 (float)"),
        ({"train": {"epochs": True}}, "train.epochs: expected an integer, got True (bool)"),
        ({"latent_dim": 0}, "latent_dim: 0 is out of range; allowed: >= 1 and <= 784"),
        ({"train": {"lr": 0}}, "train.lr: 0.0 is out of range; allowed: > 0 and <= 10"),
        ({"train": {"lr": "1e-3"}}, "train.lr: expected a number, got '1e-3' (str) (YAML reads 1e-3 as text"),
        ({"train": {"lr": float("nan")}}, "train.lr: expected a finite number, got nan"),
        ({"vae": {"beta": -1}}, "vae.beta: -1.0 is out of range; allowed: >= 0"),
        ({"model": {"arch": "resnet"}}, "model.arch: unknown choice 'resnet'; allowed: 'dense', 'conv'"),
        ({"model": {"hidden": [512, 0]}}, "model.hidden[1]: 0 is out of range"),
        ({"model": {"hidden": 512}}, "model.hidden: expected a list, got 512 (int)"),
        ({"train": None, "seed": None}, "seed: a value is required, got null"),
        ({"data": [1]}, "data: expected a mapping, got [1] (list)"),
        ({"data": {"subset": 0}}, "data.subset: 0 is out of range; allowed: >= 1"),
        ({"data": {"subset": 300, "val_size": 300}}, "data.val_size: 300 leaves no training images out of 300"),
        ({"evaluate": {"fid_samples": 1}}, "evaluate.fid_samples: 1 is out of range; allowed: >= 2"),
        ({"data": {"subset": 500, "val_size": 100}}, "evaluate.fid_samples: 10000 is more than the 500 test images"),
        ({"data": {"mirrors": [""]}}, "data.mirrors[0]: expected a non-empty string"),
    ],
)
def test_bad_params_name_key_value_and_allowed(raw, message):
    with pytest.raises(ParamsError) as e:
        params.from_dict(raw)
    assert message in str(e.value)


def test_top_level_not_a_mapping(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="params.yaml: expected a mapping"):
        params.load(f)


def test_yaml_syntax_error_and_missing_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("seed: [1\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        params.load(f)
    with pytest.raises(ParamsError, match="not found"):
        params.load(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        params.load(f)


def test_small_profile_and_int_for_float(tmp_path):
    raw = yaml.safe_load(open(params.paths.PARAMS))
    raw["data"]["subset"] = 300
    raw["data"]["val_size"] = 50
    raw["evaluate"]["fid_samples"] = 100
    raw["train"]["lr"] = 1
    p = params.from_dict(raw)
    assert p.train.lr == 1.0 and isinstance(p.train.lr, float)
    assert (p.n_train_total, p.n_test) == (300, 300)
    with pytest.raises(AttributeError):
        p.seed = 3  # frozen
