"""experiments/keypoint_stills.py: a still from a checkpoint, and its input errors."""

from pathlib import Path

import cv2
import pytest

from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from tests.conftest import load_script

keypoint_stills = load_script("keypoint_stills")  # the script: only its main


def checkpoint(path: Path, size: int) -> Path:
    config = MintConfig(num_keypoints=3, image_size=(size, size), hidden_channels=8, status_threshold=0.5)
    save_checkpoint(path, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict(),
                           "encoder_type": "mint"})
    return path


def test_still_of_scene_and_ale_frames(tmp_path):
    out = keypoint_stills.main(["--encoder", str(checkpoint(tmp_path / "s.pt", 64)), "--env",
                                "MintScenes/Collisions-v0", "--skip", "5", "--frames", "6", "--panels", "3",
                                "--scale", "2", "--out", str(tmp_path / "s.png")])
    assert cv2.imread(str(out)).shape == (128, 3 * 128, 3)
    out = keypoint_stills.main(["--encoder", str(checkpoint(tmp_path / "a.pt", 32)), "--env", "ALE/Pong-v5",
                                "--frames", "2", "--panels", "2", "--scale", "1", "--out", str(tmp_path / "a.png")])
    assert cv2.imread(str(out)).shape == (32, 64, 3)  # ALE frames preprocessed to the encoder's 32×32


def test_errors(tmp_path):
    with pytest.raises(SystemExit, match="encoder takes"):
        keypoint_stills.main(["--encoder", str(checkpoint(tmp_path / "s.pt", 32)), "--env",
                              "MintScenes/Collisions-v0", "--frames", "2", "--out", str(tmp_path / "x.png"),
                              "--panels", "1"])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="--encoder"):
        keypoint_stills.main(["--encoder", str(tmp_path / "bad.pt"), "--env", "ALE/Pong-v5",
                              "--out", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit):
        keypoint_stills.main(["--encoder", "x", "--env", "ALE/Pong-v5", "--out", "x.png", "--panels", "0"])
