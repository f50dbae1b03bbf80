"""Bad inputs to the core (``MintConfig``, ``MintLoss``, checkpoints): each is refused with an error
that names the field or tensor, what arrived and what to give instead (docs/bad_inputs.md, C rows)."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint, save_checkpoint
from mint_rl.config import ConfigError, MintConfig
from mint_rl.keypoints import Keypoints
from mint_rl.losses import MintLoss

INT_FIELDS = ["num_keypoints", "in_channels", "feature_dim", "hidden_channels", "entropy_window", "batch_size",
              "clip_length", "seed"]
FLOAT_FIELDS = ["softmax_temperature", "gaussian_std", "patch_lambda", "patch_eta", "status_threshold",
                "status_slope", "w_me", "w_mce", "w_it", "w_overlap", "w_status", "kappa", "movement_weight",
                "overlap_beta", "lr", "weight_decay", "grad_clip"]
BOOL_FIELDS = ["learn_temperature", "entropy_preprocess", "sharpen_small", "wrap_around", "attach_status_factor",
               "average_all_t", "authors_patch_area", "authors_input_scale"]


def test_field_lists_cover_every_config_field():
    """The parametrised cases below check every field of MintConfig (a new field must be added here)."""
    assert set(INT_FIELDS + FLOAT_FIELDS + BOOL_FIELDS + ["image_size", "grid_size", "norm", "extra"]) == {
        f.name for f in dataclasses.fields(MintConfig)}


# ---------------------------------------------------------------- MintConfig: int fields
@pytest.mark.parametrize("name", INT_FIELDS)
def test_config_refuses_float_for_int_field(name):
    value = getattr(MintConfig(), name)
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}={float(value)!r}: must be an int, got float; "
                                          rf"give {value}$"):
        MintConfig(**{name: float(value)})


def test_config_refuses_fractional_batch_size():
    with pytest.raises(ConfigError, match=r"MintConfig\.batch_size=2\.5: must be an int, got float; "
                                          r"give a whole number such as 2 or 3"):
        MintConfig(batch_size=2.5)


@pytest.mark.parametrize("name", INT_FIELDS)
def test_config_refuses_string_for_int_field(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}='8': must be an int, got str; "
                                          r"give 8 \(a number, not a string\)"):
        MintConfig(**{name: "8"})


@pytest.mark.parametrize("name", INT_FIELDS)
def test_config_refuses_bool_for_int_field(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}=True: must be an int, got a bool"):
        MintConfig(**{name: True})


def test_config_refuses_negative_seed():
    with pytest.raises(ConfigError, match=r"MintConfig\.seed=-1: must be >= 0 .*give e\.g\. 0 or abs\(seed\)"):
        MintConfig(seed=-1)


def test_config_refuses_seed_beyond_torch_range():
    with pytest.raises(ConfigError, match=r"MintConfig\.seed=18446744073709551616: must be < 2\*\*64"):
        MintConfig(seed=2**64)


def test_config_accepts_numpy_scalars_and_makes_them_plain_python():
    c = MintConfig(num_keypoints=np.int64(8), batch_size=np.int32(4), image_size=(np.int64(32), np.int16(32)),
                   lr=np.float32(0.5), kappa=1, wrap_around=np.bool_(True))
    assert (c.num_keypoints, c.batch_size, c.image_size, c.lr, c.kappa) == (8, 4, (32, 32), 0.5, 1.0)
    assert type(c.num_keypoints) is int and type(c.image_size[0]) is int and type(c.lr) is float
    assert type(c.kappa) is float and c.wrap_around is True
    assert MintConfig.from_json(c.to_json()) == c  # NumPy scalars would not serialise


# ---------------------------------------------------------------- MintConfig: float fields
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_config_refuses_string_for_float_field(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}='0\.5': must be a real number, got str; "
                                          r"give 0\.5 \(a number, not a string\)"):
        MintConfig(**{name: "0.5"})


def test_config_refuses_string_learning_rate():
    with pytest.raises(ConfigError, match=r"MintConfig\.lr='1e-3': must be a real number, got str; give 0\.001"):
        MintConfig(lr="1e-3")


@pytest.mark.parametrize("name", FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_config_refuses_non_finite_float(name, bad):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}=-?(nan|inf): must be a finite number"):
        MintConfig(**{name: bad})


def test_config_infinite_grad_clip_says_how_to_turn_clipping_off():
    with pytest.raises(ConfigError, match=r"MintConfig\.grad_clip=inf: .*give 0 to turn gradient clipping off"):
        MintConfig(grad_clip=float("inf"))


@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_config_refuses_bool_for_float_field(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}=True: must be a real number, got bool"):
        MintConfig(**{name: True})


def test_config_refuses_tensor_for_float_field():
    with pytest.raises(ConfigError, match=r"MintConfig\.lr=tensor\(.*got Tensor; .*\.item\(\)"):
        MintConfig(lr=torch.tensor(1e-3))


# ---------------------------------------------------------------- MintConfig: bools, strings, dicts
@pytest.mark.parametrize("name", BOOL_FIELDS)
def test_config_refuses_string_for_bool_field(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}='false': must be True or False, got str"):
        MintConfig(**{name: "false"})


def test_config_refuses_non_string_norm():
    with pytest.raises(ConfigError, match=r"MintConfig\.norm=3: must be a string"):
        MintConfig(norm=3)


def test_config_refuses_non_dict_extra():
    with pytest.raises(ConfigError, match=r"MintConfig\.extra=\['a'\]: must be a dict, got list"):
        MintConfig(extra=["a"])


# ---------------------------------------------------------------- MintConfig: image_size / grid_size
def test_config_refuses_bare_int_image_size():
    with pytest.raises(ConfigError, match=r"MintConfig\.image_size=64: must be a pair \(H, W\), got a single int; "
                                          r"give \(64, 64\)"):
        MintConfig(image_size=64)


def test_config_refuses_bare_int_grid_size():
    with pytest.raises(ConfigError, match=r"MintConfig\.grid_size=32: must be a pair \(H', W'\).*give \(32, 32\)"):
        MintConfig(grid_size=32)


@pytest.mark.parametrize("name", ["image_size", "grid_size"])
def test_config_refuses_fractional_size(name):
    with pytest.raises(ConfigError, match=rf"MintConfig\.{name}=\(64\.7, 64\): H'? must be an int, got float 64\.7; "
                                          r"give a whole number such as 64 or 65"):
        MintConfig(**{name: (64.7, 64)})


def test_config_refuses_float_size_even_when_whole():
    with pytest.raises(ConfigError, match=r"MintConfig\.image_size=\(64, 64\.0\): W must be an int, got float 64\.0; "
                                          r"give 64"):
        MintConfig(image_size=(64, 64.0))


def test_config_refuses_string_image_size():
    with pytest.raises(ConfigError, match=r"MintConfig\.image_size='64x64': must be a pair \(H, W\) of ints"):
        MintConfig(image_size="64x64")


def test_config_refuses_string_sides():
    with pytest.raises(ConfigError, match=r"MintConfig\.image_size=\('64', '64'\): H must be an int, got str"):
        MintConfig(image_size=("64", "64"))


def test_config_refuses_image_shape_with_channels():
    with pytest.raises(ConfigError, match=r"MintConfig\.image_size=\(64, 64, 3\): .*got 3 value\(s\); give only "
                                          r"the height and width \(the channel count is in_channels\)"):
        MintConfig(image_size=(64, 64, 3))


# ---------------------------------------------------------------- MintConfig: replace / from_dict / from_json
def test_replace_goes_through_the_same_checks():
    with pytest.raises(ConfigError, match=r"MintConfig\.num_keypoints=8\.0: must be an int"):
        MintConfig().replace(num_keypoints=8.0)


def test_validate_catches_a_field_changed_after_construction():
    c = MintConfig()
    c.batch_size = 2.5
    with pytest.raises(ConfigError, match=r"MintConfig\.batch_size=2\.5"):
        c.validate()


@pytest.mark.parametrize("field, value, match", [
    ("num_keypoints", "8", r"MintConfig\.num_keypoints='8': must be an int, got str; give 8"),
    ("batch_size", 2.5, r"MintConfig\.batch_size=2\.5: must be an int"),
    ("image_size", 64, r"MintConfig\.image_size=64: .*give \(64, 64\)"),
    ("lr", "1e-3", r"MintConfig\.lr='1e-3': must be a real number"),
    ("seed", -3, r"MintConfig\.seed=-3: must be >= 0"),
])
def test_from_dict_goes_through_the_same_checks(field, value, match):
    data = MintConfig().to_dict()
    data[field] = value
    with pytest.raises(ConfigError, match=match):
        MintConfig.from_dict(data)


def test_from_json_refuses_nan():
    text = MintConfig().to_json().replace('"kappa": 0.9', '"kappa": NaN')
    with pytest.raises(ConfigError, match=r"MintConfig\.kappa=nan: must be a finite number"):
        MintConfig.from_json(text)


def test_from_json_refuses_text_that_is_not_json():
    with pytest.raises(ConfigError, match=r"MintConfig\.from_json needs the JSON text of MintConfig\.to_json\(\)"):
        MintConfig.from_json("num_keypoints: 8")


@pytest.mark.parametrize("data, match", [
    ('{"num_keypoints": 8}', r"got str; for JSON text use MintConfig\.from_json"),
    ([["num_keypoints", 8]], r"needs a dict of fields .* got list"),
])
def test_from_dict_refuses_a_non_dict(data, match):
    with pytest.raises(ConfigError, match=match):
        MintConfig.from_dict(data)


def test_older_json_still_loads():
    """An older version's JSON: lists for pairs, ints in float fields, fields missing (defaults fill in)."""
    old = {"num_keypoints": 5, "in_channels": 3, "image_size": [84, 84], "grid_size": [42, 42], "feature_dim": 8,
           "hidden_channels": 32, "norm": "batch", "w_me": 100, "lr": 0.001, "status_threshold": None, "seed": 0}
    c = MintConfig.from_json(json.dumps(old))
    assert c.image_size == (84, 84) and c.grid_size == (42, 42) and c.w_me == 100.0 and type(c.w_me) is float
    assert MintConfig.from_json(c.to_json()) == c


# ---------------------------------------------------------------- MintLoss
def loss_inputs(grid=(32, 32), b=2, t=3, k=2):
    coords = torch.rand(b, t, k, 2) * 2 - 1
    status = torch.rand(b, t, k)
    return Keypoints(coords=coords, status=status, features=torch.zeros(b, t, k, 0)), torch.rand(b, t, *grid)


def small_loss():
    return MintLoss(MintConfig(num_keypoints=2, image_size=(64, 64)))  # grid (32, 32)


def test_loss_refuses_entropy_on_another_grid():
    kp, entropy = loss_inputs(grid=(42, 42))
    with pytest.raises(ValueError, match=r"entropy maps are on a \(42, 42\) grid but config\.grid_size is \(32, 32\)"
                                         r".*make_entropy\(config\).*LocalEntropy\(config\.grid_size"):
        small_loss()(kp, entropy)


def test_loss_refuses_entropy_at_input_size():
    """A common slip: entropy of the full-size frames instead of the (half-size) grid."""
    kp, entropy = loss_inputs(grid=(64, 64))
    with pytest.raises(ValueError, match=r"\(64, 64\) grid but config\.grid_size is \(32, 32\)"):
        small_loss()(kp, entropy)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_loss_refuses_non_finite_coords(bad):
    kp, entropy = loss_inputs()
    kp.coords[0, 1, 0, 0] = bad
    with pytest.raises(ValueError, match=r"MintLoss: keypoints\.coords \(2, 3, 2, 2\) holds NaN or inf \(1 value"):
        small_loss()(kp, entropy)


@pytest.mark.parametrize("bad", [float("nan"), -float("inf")])
def test_loss_refuses_non_finite_status(bad):
    kp, entropy = loss_inputs()
    kp.status[1, 2, 1] = bad
    with pytest.raises(ValueError, match=r"MintLoss: keypoints\.status \(2, 3, 2\) holds NaN or inf"):
        small_loss()(kp, entropy)


def test_loss_refuses_non_finite_entropy():
    kp, entropy = loss_inputs()
    entropy[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"MintLoss: entropy \(2, 3, 32, 32\) holds NaN or inf.*make_entropy"):
        small_loss()(kp, entropy)


def test_loss_values_unchanged_by_the_checks(monkeypatch):
    """The checks only look: a valid batch gives bit for bit the loss of the unchecked computation."""
    import mint_rl.losses

    torch.manual_seed(0)
    kp, entropy = loss_inputs()
    checked = small_loss()(kp, entropy)
    monkeypatch.setattr(mint_rl.losses, "_check_finite", lambda **tensors: None)
    unchecked = small_loss()(kp, entropy)
    assert torch.isfinite(checked.total) and checked.total.item() == unchecked.total.item()
    assert checked.terms == unchecked.terms


# ---------------------------------------------------------------- checkpoints
def cfg_dict():
    return MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=8).to_dict()


def test_save_checkpoint_refuses_a_directory(tmp_path):
    here, suggested = re.escape(str(tmp_path)), re.escape(str(tmp_path / "encoder.pt"))
    with pytest.raises(IsADirectoryError, match=rf"save_checkpoint: {here} is a directory; give a file path inside "
                                                rf"it, such as {suggested}"):
        save_checkpoint(tmp_path, {"config": cfg_dict()})
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_atomic_torch_save_refuses_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"atomic_torch_save: .* is a directory; .*encoder\.pt"):
        atomic_torch_save({"a": 1}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_load_checkpoint_refuses_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"is a directory; give the checkpoint file inside it, such as "
                                              r".*encoder\.pt \(it holds no \.pt file\)"):
        load_checkpoint(tmp_path)


def test_load_checkpoint_on_a_directory_names_the_files_inside(tmp_path):
    save_checkpoint(tmp_path / "latest.pt", {"config": cfg_dict()})
    with pytest.raises(CheckpointError, match=r"is a directory; .*latest\.pt \(it holds: latest\.pt\)"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"is a directory"):
        load_encoder(tmp_path)


def test_trainer_refuses_a_directory_checkpoint_path(tmp_path):
    from mint_rl.trainer import MintTrainer

    with pytest.raises(IsADirectoryError, match=r"checkpoint_path .* is a directory; .*encoder\.pt"):
        MintTrainer(MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=8), checkpoint_path=tmp_path)
