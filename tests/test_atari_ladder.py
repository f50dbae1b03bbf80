"""The observation ladder on Atari: keypoint properties measured against the RAM objects, and the true objects
degraded to them (``experiments/keypoint_properties.py --env ALE/...``, ``ppo_keypoints.py --agents objects-*``)."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pytest

from envs.atari import make_atari_env
from envs.atari_detection import AtariRecording
from envs.atari_objects import AtariObjects
from envs.keypoint_audit import atari_episodes, keypoint_properties
from envs.object_keypoints import ObjectKeypoints, ladder_rung_kwargs
from tests.conftest import load_script


def _recording(frames: int = 40) -> AtariRecording:
    """A synthetic Pong recording (player, enemy, ball): 8×8 boxes at fixed places, the ball hidden every 4th frame,
    two videos."""
    h = w = 32
    masks = np.zeros((frames, 3, h, w), bool)
    centres = np.zeros((frames, 3, 2), np.float32)
    for slot, (r, c) in enumerate([(4, 24), (4, 0), (20, 12)]):
        masks[:, slot, r:r + 8, c:c + 8] = True
        centres[:, slot] = [(c + 3.5 + 0.5) / w * 2 - 1, (r + 3.5 + 0.5) / h * 2 - 1]
    visible = np.ones((frames, 3), bool)
    visible[::4, 2] = False
    masks[::4, 2] = False
    starts = np.zeros(frames, bool)
    starts[[0, frames // 2]] = True
    return AtariRecording("Pong", np.zeros((frames, h, w, 3), np.uint8), masks, visible, centres,
                          np.array(["player", "enemy", "ball"]), starts)


def test_atari_episodes_split_videos_and_detection_is_per_slot() -> None:
    rec = _recording()
    episodes = atari_episodes(rec)
    assert [len(e.frames) for e in episodes] == [20, 20]
    assert episodes[0].agent.tolist() == [True, False, False] and all(e.fixed_slots for e in episodes)
    # keypoints on the player always, on the ball in every other frame, never on the enemy
    keypoints = []
    for ep in episodes:
        t = len(ep.frames)
        coords = np.repeat(ep.centres[:, [0, 2]], 1, axis=0).copy()
        status = np.ones((t, 2), np.float32)
        status[1::2, 1] = 0.0
        keypoints.append((coords, status))
    props = keypoint_properties(episodes, keypoints, tolerance_px=0)
    player, enemy, ball = props["detect_by_slot"]
    assert player == 100.0 and enemy == 0.0
    visible_ball = np.concatenate([e.visible[:, 2] for e in episodes])
    shown = np.concatenate([(np.arange(20) % 2 == 0)] * 2)
    assert ball == pytest.approx(100.0 * (visible_ball & shown).sum() / visible_ball.sum())
    assert all(np.isnan(props["detect_by_stage"]))  # Catch's stages mean nothing on Atari


def test_slot_miss_rates_drive_the_miss_rung() -> None:
    """The miss rung on Atari misses each slot at its own measured rate; a wrong count is refused."""
    env = make_atari_env("ALE/Pong-v5", rgb=True, wrappers=(functools.partial(AtariObjects, return_masks=False),))
    def shown_share(rates: list[float], miss_run: float) -> np.ndarray:
        rows = ObjectKeypoints(env, flag=False, slot_miss_rate=rates, miss_run=miss_run, seed=3)
        rows.reset(seed=0)
        shown, visible = np.zeros(3), np.zeros(3)
        for _ in range(300):
            obs, _, terminated, truncated, info = rows.step(rows.action_space.sample())
            shown += obs[:, 2]
            visible += info["objects"]["visible"]
            if terminated or truncated:
                rows.reset()
        return shown / np.maximum(visible, 1)

    np.testing.assert_array_equal(shown_share([0.0, 1.0, 0.0], miss_run=1e9), [1.0, 0.0, 1.0])
    share = shown_share([0.0, 0.0, 0.5], miss_run=1.0)
    assert share[0] == share[1] == 1.0 and 0.35 < share[2] < 0.65
    with pytest.raises(ValueError, match="one probability per object slot"):
        ObjectKeypoints(env, flag=False, slot_miss_rate=[0.1, 0.2])
    props = dict(detect_by_slot=[90.0, 100.0, float("nan")], detect_by_band=[50.0] * 3, detect_agent=90.0,
                 miss_run=2.0, error_px=1.0, jumps_per_100=1.0, keypoints_per_obj=1.5, status_flips=1.0,
                 num_keypoints=16)
    kw = ladder_rung_kwargs("objects-miss", props)
    assert kw["slot_miss_rate"] == pytest.approx([0.1, 0.0, 0.0]) and "miss_rate" not in kw
    assert ladder_rung_kwargs("objects-mint", props)["flag"] is False


def test_keypoint_properties_on_pong_feed_the_atari_rungs(tmp_path: Any, capsys: Any) -> None:
    """keypoint_properties.py measures the shipped Pong encoder against the RAM objects (per slot); ppo_keypoints.py
    degrades the true objects to them on the same game only, without a flag."""
    kp = load_script("keypoint_properties")
    out = tmp_path / "props"
    results = kp.main(["--env", "ALE/Pong-v5", "--encoder", "pong", "--refine", "5", "--refine-snap", "15",
                       "--frames", "40", "--out", str(out)])  # a shipped encoder is labelled by its name
    assert set(results) == {"pong", "pong-rf5s15"}
    assert len(results["pong-rf5s15"]["detect_by_slot"]) == 3
    saved = json.loads((out / "properties.json").read_text())
    assert saved["meta"]["env"] == "ALE/Pong-v5" and saved["meta"]["refine_snap"] == 15
    assert "detect_by_slot: player / enemy / ball" in (out / "properties.md").read_text()
    from agents.experiment_settings import ExperimentError, PPOExperiment

    exp = PPOExperiment(env="ALE/Pong-v5", agents=["objects-mint", "objects-miss"],
                        object_properties=str(out / "properties.json"), object_properties_label="pong-rf5s15")
    assert exp.object_kwargs["objects-mint"]["flag"] is False and exp.object_kwargs["objects-mint"]["num_keypoints"] == 16
    assert "slot_miss_rate" in exp.object_kwargs["objects-miss"]
    with pytest.raises(ExperimentError, match="measured on ALE/Pong-v5, not on --env ALE/Breakout-v5"):
        PPOExperiment(env="ALE/Breakout-v5", agents=["objects-mint"], object_properties=str(out / "properties.json"))
    for argv, message in ((["--env", "ALE/Seaquest-v5"], "no RAM object reader"),
                          (["--env", "ALE/Pong-v5", "--track"], "--agent and --track are for MintTasks"),
                          (["--env", "ALE/Pong-v5", "--refine-snap", "15"], "with --refine"),
                          (["--env", "ALE/Pong-v5", "--frames", "0"], "--frames must be >= 1"),
                          (["--env", "ALE/Breakout-v5"], "--encoder pong was trained on ALE/Pong-v5, not on --env "
                                                         "ALE/Breakout-v5"),
                          (["--env", "ALE/Pong-v5", "--refine", "5", "--refine-snap", "99", "--frames", "4"],
                           "--refine-snap 99: snap window 99 px")):
        with pytest.raises(SystemExit) as refused:
            kp.main([*argv, "--encoder", "pong", "--out", str(tmp_path / "bad")])
        assert message in capsys.readouterr().err + str(refused.value.code)
    with pytest.raises(SystemExit):
        kp.main(["--env", "ALE/Pong-v5", "--encoder", "nosuch", "--out", str(tmp_path / "bad")])
    assert "no shipped encoder named 'nosuch'" in capsys.readouterr().err


def test_ppo_on_a_shipped_encoder_with_features_says_what_to_leave_out(tmp_path: Any, capsys: Any) -> None:
    """--track on the shipped Pong encoder (8 features per keypoint) is refused before any training, naming
    --no-encoder-features."""
    pk = load_script("ppo_keypoints")
    with pytest.raises(SystemExit) as refused:
        pk.main(["--env", "ALE/Pong-v5", "--agents", "mint", "--encoder", "pong", "--track", "--glimpse-size", "5",
                 "--colour-codes", "8", "--timesteps", "1024", "--out", str(tmp_path)])
    assert "add --no-encoder-features" in capsys.readouterr().err + str(refused.value.code)
    assert not (tmp_path / "ALE_Pong-v5").exists()
