import pytest
import yaml

from aevae import params
from aevae.params import ParamsError


def test_defaults_file_loads_and_matches_design_names():
    p = params.load()
    assert p.model.arch == "dense" and p.latent_dim == 32 and p.latent_dim_2d == 2
    assert set(p.as_dict()) == {"seed", "replicates", "latent_dim", "latent_dim_2d", "data", "model", "train", "vae",
                                "evaluate", "judge"}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"latnt_dim": 4}, "latnt_dim: unknown key; allowed under the top level: seed, replicates, latent_dim"),
        ({"train": {"epoch": 3}}, "train.epoch: unknown key; allowed under train: epochs, patience, min_improvement"),
        ({"latent_dim": "16"}, "latent_dim: expected an integer, got '16' (str)"),
        ({"latent_dim": 2.5}, "latent_dim: expected an integer, got 2.5 (float)"),
        ({"train": {"epochs": True}}, "train.epochs: expected an integer, got True (bool)"),
        ({"latent_dim": 0}, "latent_dim: 0 is out of range; allowed: >= 1 and <= 784"),
        ({"train": {"lr": 0}}, "train.lr: 0.0 is out of range; allowed: > 0 and <= 10"),
        ({"train": {"lr": "fast"}}, "train.lr: expected a number, got 'fast' (str)"),
        ({"train": {"lr": float("nan")}}, "train.lr: expected a finite number, got nan"),
        ({"vae": {"beta": -1}}, "vae.beta: -1.0 is out of range; allowed: >= 0"),
        ({"model": {"arch": "resnet"}}, "model.arch: unknown choice 'resnet'; allowed: 'dense', 'conv', 'infogan'"),
        ({"model": {"hidden": [512]}}, "model.hidden: unknown key; allowed under model: arch, dense, conv, infogan"),
        # shapes a model cannot take: the side 28 halves into a whole number at most twice
        ({"model": {"conv": {"channels": [8, 16, 32]}}}, "model.conv.channels: [8, 16, 32] has 3 entries; each"),
        ({"model": {"conv": {"channels": []}}}, "model.conv.channels: [] has 0 entries"),
        ({"model": {"infogan": {"channels": [8, 16, 32]}}}, "allowed: 1 to 2 entries, e.g. [32, 64]"),
        ({"model": {"conv": {"channels": 64}}}, "model.conv.channels: expected a list, got 64 (int)"),
        ({"train": None, "seed": None}, "seed: a value is required, got null"),
        ({"data": [1]}, "data: expected a mapping, got [1] (list)"),
        ({"data": {"subset": 0}}, "data.subset: 0 is out of range; allowed: >= 1"),
        ({"data": {"subset": 300, "val_size": 300}}, "data.val_size: 300 leaves 0 training images out of 300"),
        ({"data": {"subset": 10, "val_size": 5}}, "data.subset: 10 images cannot hold a validation split"),
        ({"evaluate": {"fid_samples": 2}}, "evaluate.fid_samples: 2 is out of range; allowed: >= 50"),
        ({"data": {"subset": 300, "val_size": 260}}, "leaves 40 training images out of 300; the latent classifiers"),
        ({"replicates": [1, 2]}, "replicates: [1, 2] must be distinct and include 0"),
        ({"replicates": [0, 0]}, "replicates: [0, 0] must be distinct"),
        ({"model": {"dense": {"hidden": [512, 0]}}}, "model.dense.hidden[1]: 0 is out of range"),
        ({"data": {"subset": 500, "val_size": 100}}, "evaluate.fid_samples: 5000 is more than the 500 test images"),
        (
            {"data": {"subset": 800, "val_size": 100}, "evaluate": {"fid_samples": 100}},
            "evaluate.fid_samples_seed: 1000 is more than the 800 test images",
        ),
        ({"train": {"min_improvement": 2}}, "train.min_improvement: 2.0 is out of range; allowed: <= 1 and >= 0"),
        ({"train": {"patience": -1}}, "train.patience: -1 is out of range; allowed: >= 0"),
        ({"judge": {"epochs": 0}}, "judge.epochs: 0 is out of range; allowed: >= 1"),
        ({"data": {"mirrors": [""]}}, "data.mirrors[0]: expected a non-empty string"),
    ],
)
def test_bad_params_name_key_value_and_allowed(raw, message):
    with pytest.raises(ParamsError) as e:
        params.from_dict(raw)
    assert message in str(e.value)


def test_a_key_given_twice_or_bytes_that_are_not_utf8_are_one_line_each(tmp_path):
    # PyYAML keeps the last of two equal keys where DVC refuses the file: the study refuses it too
    f = tmp_path / "params.yaml"
    f.write_text("seed: 0\ntrain:\n  epochs: 3\n  lr: 0.001\n  epochs: 4\n")
    with pytest.raises(ParamsError, match=r"epochs: given twice \(lines 3 and 5 of .*params.yaml\); DVC refuses"):
        params.load(f)
    f.write_bytes(b"seed: 0\nlatent_dim: \xff\n")
    with pytest.raises(ParamsError, match=r"not UTF-8 text \(byte 0xff at offset 20\); restore it with `git checkout"):
        params.load(f)
    f.write_text("seed: 0\n? [1, 2]\n: 3\n")
    with pytest.raises(ParamsError, match="line 2 of .*params.yaml: a key that is a list or a mapping"):
        params.load(f)
    # a merge key is YAML (DVC reads it): its keys may be overridden without counting as given twice
    f.write_text("base: &b {epochs: 3, lr: 0.1}\ntrain:\n  <<: *b\n  epochs: 5\n")
    assert params.read_yaml(f)["train"] == {"epochs": 5, "lr": 0.1}
    f.unlink()
    f.mkdir()
    with pytest.raises(ParamsError, match="a folder, not a file"):
        params.load(f)


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
    raw["evaluate"]["fid_samples_seed"] = 100
    raw["train"]["lr"] = 1
    p = params.from_dict(raw)
    assert p.train.lr == 1.0 and isinstance(p.train.lr, float)
    assert (p.n_train_total, p.n_test) == (300, 300)
    with pytest.raises(AttributeError):
        p.seed = 3  # frozen


def test_yaml_1_2_floats_as_dvc_reads_them(tmp_path):
    # PyYAML alone (YAML 1.1) reads 1e-4 as the string '1e-4'; DVC (YAML 1.2) reads a number
    f = tmp_path / "params.yaml"
    f.write_text(open(params.paths.PARAMS).read().replace("lr: 0.001", "lr: 1e-4"))
    assert params.load(f).train.lr == 1e-4
    f.write_text(open(params.paths.PARAMS).read().replace("lr: 0.001", "lr: 2E+1"))
    with pytest.raises(ParamsError, match=r"train.lr: 20.0 is out of range"):
        params.load(f)


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n"])
def test_empty_params_file_is_refused(tmp_path, text):
    f = tmp_path / "params.yaml"
    f.write_text(text)
    with pytest.raises(ParamsError, match="empty; restore it with `git checkout -- params.yaml`"):
        params.load(f)


def test_every_key_must_be_in_the_file(tmp_path):
    # DVC reads the declared keys from the file itself: a default filled in here would not exist for DVC
    raw = yaml.safe_load(open(params.paths.PARAMS))
    del raw["latent_dim_2d"]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"^latent_dim_2d: missing from params.yaml \(1 keys missing\)"):
        params.load(f)
