"""experiments/keypoint_stills.py: a still from a checkpoint, and its input errors."""

from pathlib import Path

import cv2
import torch
import pytest

from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from envs.atari_detection import object_hits, record_atari_objects
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.draw import HIT_COLOR, MISS_COLOR
from mint_rl.refine import refine_keypoints
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


def test_atari_still_outlines_the_objects_green_where_hit(tmp_path, capsys):
    """A shipped encoder by name, refined, on Pong: the objects' boxes are drawn (green or red pixels appear that
    the plain still lacks) and each category's hit share is printed; --no-boxes draws the keypoints only."""
    common = ["--encoder", "pong", "--env", "ALE/Pong-v5", "--skip", "60", "--frames", "8", "--panels", "2",
              "--scale", "2", "--refine", "5"]
    boxed = cv2.imread(str(keypoint_stills.main([*common, "--out", str(tmp_path / "b.png")])))
    printed = capsys.readouterr().out
    for name in ("player", "enemy", "ball"):
        assert f"{name}: " in printed
    plain = cv2.imread(str(keypoint_stills.main([*common, "--no-boxes", "--out", str(tmp_path / "p.png")])))
    assert boxed.shape == plain.shape == (168, 2 * 168, 3)
    assert "inside its box" not in capsys.readouterr().out
    outline = (boxed != plain).any(-1)  # the same frames and keypoints: only the outlines and labels differ
    assert outline.any()
    # the colours say hit or miss as envs.atari_detection.object_hits does, panel by panel (frames 60 and 67)
    rec = record_atari_objects("ALE/Pong-v5", 68, frame_size=(84, 84), seed=10_000, num_streams=1)
    x = torch.from_numpy(rec.frames).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        kp = load_encoder(shipped_encoder_path("pong")).eval().encode(x)
    coords = refine_keypoints(x, kp.coords.float().clamp(-1, 1), 5)
    hits = object_hits(rec, coords.numpy(), kp.status.numpy())
    for panel, t in enumerate((60, 67)):
        rgb = boxed[:, panel * 168:(panel + 1) * 168, ::-1].reshape(-1, 3)
        seen = {colour: bool((rgb == colour).all(-1).any()) for colour in (HIT_COLOR, MISS_COLOR)}
        assert seen[HIT_COLOR] == bool(hits[t].any()), (t, hits[t])
        assert seen[MISS_COLOR] == bool((rec.visible[t] & ~hits[t]).any()), (t, hits[t], rec.visible[t])


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
    with pytest.raises(SystemExit, match="no shipped encoder named 'pongg'"):
        keypoint_stills.main(["--encoder", "pongg", "--env", "ALE/Pong-v5", "--out", str(tmp_path / "x.png")])
    for flags in (["--refine", "4"], ["--refine", "1"], ["--refine", "-3"], ["--env", "MintScenes/Collisions-v0",
                                                                             "--boxes"]):
        with pytest.raises(SystemExit):
            keypoint_stills.main(["--encoder", "pong", "--env", "ALE/Pong-v5", "--out", "x.png", *flags])
