"""experiments/pretrain.py end to end with a tiny budget: outputs, ALE frames at the encoder's size, resume
after an interruption, and the error for a size the env cannot give."""

import json
from pathlib import Path

import pytest
import torch

from mint_rl.checkpoint import load_checkpoint
from mint_rl.trainer import MintTrainer
from tests.conftest import load_script

pretrain = load_script("pretrain")  # the script: only its main


def tiny(out: Path, *extra: str) -> list[str]:
    return ["--out", str(out), "--frames", "48", "--num-envs", "2", "-k", "3", "--hidden-channels", "8",
            "--batch-size", "4", "--checkpoint-every", "2", "--video-frames", "4", "--no-progress", *extra]


def test_ale_frames_at_the_encoder_size_and_resume(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "pong32"
    argv = tiny(out, "--env", "ALE/Pong-v5", "--image-size", "32", "--steps", "4")
    original = MintTrainer.fit

    def interrupted(self, buffer, steps, **kwargs):  # killed after the step-2 checkpoint
        original(self, buffer, 2, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(MintTrainer, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain.main(argv)
    assert load_checkpoint(out / "encoder.pt")["step"] == 2
    monkeypatch.setattr(MintTrainer, "fit", original)
    capsys.readouterr()
    path = pretrain.main(argv)
    assert "resumed from" in capsys.readouterr().out
    data = load_checkpoint(path)
    assert data["step"] == 4
    assert tuple(data["config"].image_size) == (32, 32) and data["config"].grid_size == (16, 16)
    for name in ("config.json", "summary.json", "keypoints.mp4", "keypoints.png", "frames.npz"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert json.loads((out / "summary.json").read_text())["steps"] == 4


def test_image_size_of_a_scene_env_that_gives_other_frames(tmp_path):
    with pytest.raises(SystemExit, match="only ALE frames are resized"):
        pretrain.main(tiny(tmp_path, "--env", "MintScenes/Collisions-v0", "--image-size", "32", "--steps", "1"))


@pytest.mark.parametrize("env,default", [("MintScenes/Bouncing-v0", 2000), ("MintTasks/Catch-v0", 1500)])
def test_default_steps_are_the_convergence_curves_on_scenes(tmp_path, capsys, env, default):
    """Without --steps: 2,000 optimiser steps on MintScenes ids (the input-size grid's curve), 1,500 elsewhere. A
    checkpoint at exactly that step leaves nothing to train, and the message names the default."""
    pretrain.main(tiny(tmp_path, "--env", env, "--steps", "2"))
    path = tmp_path / "encoder.pt"
    data = torch.load(path, weights_only=False)
    data["step"] = default
    torch.save(data, path)
    capsys.readouterr()
    pretrain.main(tiny(tmp_path, "--env", env))
    assert f"is at step {default} and --steps is {default}; no file was written" in capsys.readouterr().out


@pytest.mark.parametrize("env,extra,grid", [
    ("MintScenes/Bouncing-v0", [], (64, 64)),  # the object scenes' default: the input size
    ("MintScenes/Bouncing-v0", ["--grid-scale", "0.5"], (32, 32)),
    ("MintScenes/Bouncing-v0", ["--mint", "grid_size=[20, 24]"], (20, 24)),
    ("MintTasks/Catch-v0", [], (32, 32)),  # elsewhere MintConfig's half
    ("MintTasks/Catch-v0", ["--grid-scale", "1.4"], (90, 90)),  # the authors' upsampling
])
def test_heatmap_grid_defaults_to_the_input_size_on_scenes(tmp_path, env, extra, grid):
    torch.set_num_threads(1)
    path = pretrain.main(tiny(tmp_path, "--env", env, "--steps", "1", "--video-frames", "0", *extra))
    config = load_checkpoint(path)["config"]
    assert tuple(config.image_size) == (64, 64) and tuple(config.grid_size) == grid


@pytest.mark.parametrize("extra,message", [
    (["--grid-scale", "0"], "--grid-scale must be > 0, got 0.0"),
    (["--grid-scale", "nan"], "--grid-scale must be > 0, got nan"),
    (["--grid-scale", "1", "--mint", "grid_size=[20, 20]"], "both set the heatmap grid; give one"),
])
def test_bad_grid_scale_is_refused_before_any_work(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit):
        pretrain.main(tiny(tmp_path / "x", "--env", "MintScenes/Bouncing-v0", "--steps", "1", *extra))
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_mint_overrides_reach_the_checkpoint_and_a_resume_with_others_is_refused(tmp_path, capsys):
    """--mint FIELD=VALUE (an ablation) sets those MintConfig fields of the trained encoder; resuming the folder
    with other overrides is refused (other loss weights are other hyperparameters) unless --allow-config-change."""
    torch.set_num_threads(1)
    argv = tiny(tmp_path, "--env", "MintScenes/Bouncing-v0", "--steps", "2")
    path = pretrain.main([*argv, "--mint", "w_overlap=0", "w_status=0", "movement_weight=0", "kappa=0.5"])
    config = load_checkpoint(path)["config"]
    assert (config.w_overlap, config.w_status, config.movement_weight, config.kappa) == (0.0, 0.0, 0.0, 0.5)
    assert config.w_me == 100.0  # the others keep their defaults
    more = [*tiny(tmp_path, "--env", "MintScenes/Bouncing-v0", "--steps", "3"), "--mint", "kappa=0.9"]
    with pytest.raises(SystemExit, match="kappa"):
        pretrain.main(more)
    assert load_checkpoint(path)["step"] == 2
    pretrain.main([*more, "--allow-config-change"])
    assert load_checkpoint(path)["config"].kappa == 0.9 and load_checkpoint(path)["step"] == 3


@pytest.mark.parametrize("item,message", [
    ("kappa=1.5", r"--mint kappa=1.5: MintConfig.kappa=1.5: must be in \[0, 1\]"),
    ("w_overlap=-1", "w_overlap=-1.0: must be >= 0"),
    ("entropy_window=4", "must be odd"),
    ("num_keypoints=4", "num_keypoints is set by --num-keypoints"),
    ("in_channels=1", "in_channels is fixed by the env's frames"),
    ("nofield=1", "MintConfig has no field 'nofield'"),
    ("kappa", "give FIELD=VALUE"),
])
def test_bad_mint_overrides_are_refused_before_any_work(tmp_path, capsys, item, message):
    import re

    with pytest.raises(SystemExit):
        pretrain.main(tiny(tmp_path / "x", "--env", "MintScenes/Bouncing-v0", "--steps", "1", "--mint", item))
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_settings_mint_may_not_set_what_the_settings_set():
    """PretrainSettings.mint (library use) may not override fields the settings set themselves (K, sizes, lr, ...):
    the clash is refused, naming the fields, instead of training something other than the settings say."""
    from envs.pretraining import PretrainSettings
    from mint_rl.config import ConfigError

    ok = PretrainSettings(env="MintScenes/Bouncing-v0", out="x", num_keypoints=6, mint={"kappa": 0.5})
    assert ok.config(3, (64, 64)).kappa == 0.5 and ok.config(3, (64, 64)).num_keypoints == 6
    with pytest.raises(ConfigError, match=r"sets \['in_channels', 'num_keypoints'\]"):
        PretrainSettings(env="MintScenes/Bouncing-v0", out="x", mint={"num_keypoints": 4, "in_channels": 1}).config(
            3, (64, 64))


def test_settings_grid_scale_sets_the_grid_from_the_frames():
    """PretrainSettings.grid_scale (library use): the grid follows the frame size, rounded, at least 8 cells;
    a scale that is not positive, or one given with mint's grid_size, is refused."""
    from envs.pretraining import PretrainSettings
    from mint_rl.config import ConfigError

    s = PretrainSettings(env="ALE/Pong-v5", out="x", grid_scale=1.4)
    assert s.config(3, (64, 64)).grid_size == (90, 90) and s.config(1, (84, 42)).grid_size == (118, 59)
    assert PretrainSettings(env="ALE/Pong-v5", out="x", grid_scale=0.1).config(3, (64, 64)).grid_size == (8, 8)
    assert PretrainSettings(env="ALE/Pong-v5", out="x").config(3, (84, 84)).grid_size == (42, 42)
    with pytest.raises(ConfigError, match="grid_scale=-1.0: must be > 0"):
        PretrainSettings(env="ALE/Pong-v5", out="x", grid_scale=-1.0).config(3, (64, 64))
    with pytest.raises(ConfigError, match="both grid_scale and mint's grid_size"):
        PretrainSettings(env="ALE/Pong-v5", out="x", grid_scale=1.0, mint={"grid_size": (20, 20)}).config(3, (64, 64))


@pytest.mark.parametrize("env,k", [
    ("ALE/Breakout-v5", 32),  # the detection study's K for Breakout (3 seeds; pretrain.ALE_KEYPOINTS)
    ("ALE/Pong-v5", 16),
])
def test_default_keypoints_per_game(tmp_path, env, k):
    torch.set_num_threads(1)
    argv = tiny(tmp_path, "--env", env, "--image-size", "32", "--steps", "1", "--video-frames", "0")
    at = argv.index("-k")
    del argv[at:at + 2]  # no -k: the default
    assert load_checkpoint(pretrain.main(argv))["config"].num_keypoints == k
