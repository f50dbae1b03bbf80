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


@pytest.mark.parametrize("env,default", [("MintScenes/Bouncing-v0", 4000), ("MintTasks/Catch-v0", 1500)])
def test_default_steps_are_the_convergence_curves_on_scenes(tmp_path, capsys, env, default):
    """Without --steps: 4,000 optimiser steps on MintScenes ids (the convergence curve), 1,500 elsewhere. A
    checkpoint at exactly that step leaves nothing to train, and the message names the default."""
    pretrain.main(tiny(tmp_path, "--env", env, "--steps", "2"))
    path = tmp_path / "encoder.pt"
    data = torch.load(path, weights_only=False)
    data["step"] = default
    torch.save(data, path)
    capsys.readouterr()
    pretrain.main(tiny(tmp_path, "--env", env))
    assert f"is at step {default} and --steps is {default}; no file was written" in capsys.readouterr().out
