"""The scripted Catch controller (envs/catch_controller.py) reads keypoints and objects as documented;
experiments/scripted_catch.py plays it through its main."""

import json

import numpy as np
import pytest
import torch

from envs.catch_controller import code_roles, keypoint_action
from envs.tasks import AGENT_COLOUR, BAD_COLOUR, GOOD_COLOURS
from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from tests.conftest import load_script

sc = load_script("scripted_catch")  # the script: only its main

PALETTE = np.concatenate([np.zeros((1, 3)), np.asarray(GOOD_COLOURS[:2]), BAD_COLOUR[None], AGENT_COLOUR[None]]) / 255.0


def row(x: float, y: float, code: int, active: bool = True) -> list[float]:
    onehot = [0.0] * len(PALETTE)
    onehot[code] = 1.0
    return [x, y, float(active), *onehot]


def test_code_roles_find_background_paddle_and_red():
    assert code_roles(PALETTE.astype(np.float32)) == {"background": 0, "paddle": 4, "red": 3}


def test_keypoint_controller_chases_the_lowest_good_keypoint():
    roles = code_roles(PALETTE)
    paddle = [row(0.0, 0.9, 4), row(0.1, 0.9, 4)]
    # a good object low on the left, a red one lower on the right, a good one high on the right
    obs = np.array(paddle + [row(-0.5, 0.5, 1), row(0.6, 0.7, 3), row(0.6, -0.5, 2), row(0.6, 0.6, 1, active=False)])
    assert keypoint_action(obs, roles) == 1  # left, toward the good one; red and inactive ignored
    obs[2, 0] = 0.05  # the good object above the paddle's centre: stay
    assert keypoint_action(obs, roles) == 0
    assert keypoint_action(np.array(paddle), roles) == 0  # nothing to chase


def test_main_writes_both_rows(tmp_path):
    torch.set_num_threads(1)
    config = MintConfig(num_keypoints=4, image_size=(64, 64))
    enc = tmp_path / "encoder.pt"
    save_checkpoint(enc, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict(),
                          "encoder_type": "mint"})
    np.save(tmp_path / "colour_codes-n8-w5-test.npy", np.concatenate([PALETTE, PALETTE[1:4]]).astype(np.float32))
    results = sc.main(["--encoder", str(enc), "--episodes", "2", "--out", str(tmp_path / "out")])
    assert set(results) == {"true centres", "MINT keypoints"}
    # the true centres are played by the rule: on one held-out episode it catches good objects
    assert results["true centres"]["good_caught"] > 0
    saved = json.loads((tmp_path / "out" / "scripted.json").read_text())
    assert saved["results"] == results and (tmp_path / "out" / "scripted.md").is_file()


def test_rejects_missing_codebook(tmp_path, capsys):
    config = MintConfig(num_keypoints=4, image_size=(64, 64))
    enc = tmp_path / "encoder.pt"
    save_checkpoint(enc, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict()})
    with pytest.raises(SystemExit):
        sc.main(["--encoder", str(enc), "--out", str(tmp_path / "out")])
    assert "no colour_codes-n8-w5-*.npy beside" in capsys.readouterr().err


def test_plays_saved_agents_on_the_same_episodes(tmp_path):
    """A tiny saved keypoint agent and pixel agent of the main job are played and counted."""
    torch.set_num_threads(1)
    report = load_script("ppo_keypoints").main([
        "--agents", "mint", "pixels", "--timesteps", "512", "--pretrain-steps", "2", "--pretrain-frames", "48", "-k",
        "3", "--eval-episodes", "1", "--overlay-every", "0", "--out", str(tmp_path / "ppo"), "--no-progress"])
    env_dir = report["out"]
    enc = env_dir / "encoders" / "mint-k3-F0-f48-s2" / "encoder.pt"
    runs = [str(env_dir / "mint-relation-c8w5-eqc-lrlin-n1-auxr2" / "seed0"), str(env_dir / "pixels" / "seed0")]
    results = sc.main(["--encoder", str(enc), "--episodes", "1", "--out", str(tmp_path / "out"), "--agents", *runs])
    assert len(results) == 4
    for run in runs:
        r = results[f"PPO agent {run}"]
        assert r["episodes"] == 1 and r["return"] == r["good_caught"] - r["red_caught"]


def test_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        sc.main(["--encoder", str(tmp_path / "e.pt"), "--agents", str(tmp_path)])
    assert "not a run folder of experiments/ppo_keypoints.py" in capsys.readouterr().err
