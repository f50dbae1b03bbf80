"""experiments/scripted_catch.py: the scripted Catch controller reads keypoints and objects as documented."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import scripted_catch as sc  # noqa: E402  (the script's documented controller)

from envs.tasks import AGENT_COLOUR, BAD_COLOUR, GOOD_COLOURS  # noqa: E402
from mint_rl.checkpoint import save_checkpoint  # noqa: E402
from mint_rl.config import MintConfig  # noqa: E402
from mint_rl.encoder import KeypointEncoder  # noqa: E402

PALETTE = np.concatenate([np.zeros((1, 3)), np.asarray(GOOD_COLOURS[:2]), BAD_COLOUR[None], AGENT_COLOUR[None]]) / 255.0


def row(x: float, y: float, code: int, active: bool = True) -> list[float]:
    onehot = [0.0] * len(PALETTE)
    onehot[code] = 1.0
    return [x, y, float(active), *onehot]


def test_code_roles_find_background_paddle_and_red():
    assert sc.code_roles(PALETTE.astype(np.float32)) == {"background": 0, "paddle": 4, "red": 3}


def test_keypoint_controller_chases_the_lowest_good_keypoint():
    roles = sc.code_roles(PALETTE)
    paddle = [row(0.0, 0.9, 4), row(0.1, 0.9, 4)]
    # a good object low on the left, a red one lower on the right, a good one high on the right
    obs = np.array(paddle + [row(-0.5, 0.5, 1), row(0.6, 0.7, 3), row(0.6, -0.5, 2), row(0.6, 0.6, 1, active=False)])
    assert sc.keypoint_action(obs, roles) == 1  # left, toward the good one; red and inactive ignored
    obs[2, 0] = 0.05  # the good object above the paddle's centre: stay
    assert sc.keypoint_action(obs, roles) == 0
    assert sc.keypoint_action(np.array(paddle), roles) == 0  # nothing to chase


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
