"""Bad inputs to the keypoint wrappers (envs/wrappers.py, envs/vector.py, agents/vec_env.py):
frames checked at step time against the declared space, the ambiguous ``(C, H, W)`` space,
the ``layout`` argument, and the default-config one-liners (``online=True`` without a config).

Each test is a row of ``docs/bad_inputs.md`` ("Wrappers").
"""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import FrameStackObservation, TransformObservation
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401  (registers the scene ids)
from agents.vec_env import MintKeypointVecEnv
from envs.vector import MintKeypointVectorWrapper
from envs.wrappers import (DEFAULT_IMAGE_SIZE, FrameCheck, ImageLayout, MintKeypointWrapper, ObservationError,
                           ObservationOptions, OnlineOptions, default_mint_config)
from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder

CFG = MintConfig(num_keypoints=4, image_size=(32, 32), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=2)
SIDE = 32
RGB = spaces.Box(0, 255, (SIDE, SIDE, 3), np.uint8)
UNIT = spaces.Box(0.0, 1.0, (SIDE, SIDE, 3), np.float32)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def encoder() -> KeypointEncoder:
    torch.manual_seed(0)
    return KeypointEncoder(CFG)


class FrameEnv(gym.Env):
    """An env that declares ``space`` and returns ``reset_frame`` on reset (a valid frame by
    default) and ``step_frame`` on every step (the same valid frame by default)."""

    metadata = {"render_modes": []}

    def __init__(self, space: spaces.Box, step_frame: np.ndarray | None = None,
                 reset_frame: np.ndarray | None = None) -> None:
        self.observation_space = space
        self.action_space = spaces.Discrete(2)
        good = np.random.default_rng(0).uniform(0, 1, space.shape)
        good = good.astype(space.dtype) if space.dtype.kind == "f" else (good * 255).astype(space.dtype)
        self.reset_frame = good if reset_frame is None else reset_frame
        self.step_frame = good if step_frame is None else step_frame

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.reset_frame, {}

    def step(self, action):
        return self.step_frame, 0.0, False, False, {}


def step_error(env: gym.Env) -> str:
    """Reset (a good frame), step (the bad one): the ObservationError's message."""
    env.reset(seed=0)
    with pytest.raises(ObservationError) as info:
        env.step(0)
    return str(info.value)


def ale(env_id: str = "ALE/Pong-v5") -> gym.Env:
    import ale_py

    gym.register_envs(ale_py)
    return gym.make(env_id)


# ---------------------------------------------------------------------------- frames at step time
def test_float64_frames_in_unit_range_from_a_uint8_space(encoder):
    frame = np.random.default_rng(1).uniform(0, 1, (SIDE, SIDE, 3))  # float64 in [0, 1]
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame), encoder))
    assert "MintKeypointWrapper(FrameEnv)" in msg and "step observation" in msg  # the env
    assert str(RGB) in msg  # the space
    assert "float64 frames of shape (32, 32, 3)" in msg and "scaled to [0, 1]" in msg  # what arrived, a fix
    # at reset too
    env = MintKeypointWrapper(FrameEnv(RGB, reset_frame=frame), encoder)
    with pytest.raises(ObservationError, match="the reset observation"):
        env.reset(seed=0)


def test_int16_frames_with_values_above_255(encoder):
    frame = np.full((SIDE, SIDE, 3), 300, np.int16)
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame), encoder))
    assert "got int16 frames of shape (32, 32, 3), values in [300, 300]" in msg and str(RGB) in msg
    assert "int16 values outside uint8's 0–255" in msg
    # in-range int16 frames are refused too (the space says uint8), with a cast as the fix
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame // 2), encoder))
    assert "int16 frames from a uint8 space" in msg and "astype(np.uint8)" in msg


def test_channels_first_frames_from_a_channels_last_space(encoder):
    frame = np.zeros((3, SIDE, SIDE), np.uint8)
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame), encoder))
    assert "channels-first frames (3, 32, 32) from a channels-last space (32, 32, 3)" in msg
    assert "np.transpose(obs, (1, 2, 0))" in msg


def test_frames_of_another_size_than_declared(encoder):
    frame = np.zeros((SIDE + 8, SIDE, 3), np.uint8)
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame), encoder))
    assert "frames of shape (40, 32, 3) where the space declares (32, 32, 3) (another frame size)" in msg
    frame = np.zeros((SIDE, SIDE), np.uint8)  # the channel axis dropped
    msg = step_error(MintKeypointWrapper(FrameEnv(RGB, frame), encoder))
    assert "frames of rank 2" in msg


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_a_float_space(encoder, value):
    frame = np.full((SIDE, SIDE, 3), 0.5, np.float32)
    frame[3, 4, 1] = value
    msg = step_error(MintKeypointWrapper(FrameEnv(UNIT, frame), encoder))
    expected = "Problem: 1 NaN value" if np.isnan(value) else "Problem: 1 inf value"
    assert expected in msg and str(UNIT) in msg and "MintKeypointWrapper(FrameEnv)" in msg


def test_float_values_outside_the_declared_bounds(encoder):
    frame = np.full((SIDE, SIDE, 3), 0.5, np.float32)
    frame[0, 0] = 1.5
    msg = step_error(MintKeypointWrapper(FrameEnv(UNIT, frame), encoder))
    assert "values in [0.5, 1.5] outside the space's bounds [0, 1]" in msg


def test_uint8_frames_from_a_float_space(encoder):
    frame = np.full((SIDE, SIDE, 3), 200, np.uint8)
    msg = step_error(MintKeypointWrapper(FrameEnv(UNIT, frame), encoder))
    assert "uint8 frames from a float space in [0, 1]" in msg and "Box(0, 255" in msg


def test_bad_frames_from_a_raw_ale_env_name_the_env(encoder):
    """The common slip: scale the frames to [0, 1] and keep the uint8 space."""
    raw = ale()
    env = MintKeypointWrapper(TransformObservation(raw, lambda o: o / 255.0, raw.observation_space), encoder)
    with pytest.raises(ObservationError) as info:
        env.reset(seed=0)
    msg = str(info.value)
    assert msg.startswith("MintKeypointWrapper(ALE/Pong-v5): the reset observation")
    assert "Box(0, 255, (210, 160, 3), uint8)" in msg and "float64 frames of shape (210, 160, 3)" in msg


def test_direct_observation_calls_are_checked(encoder):
    env = MintKeypointWrapper(FrameEnv(RGB), encoder)
    with pytest.raises(ObservationError, match=r"MintKeypointWrapper\(FrameEnv\): the observation does not fit"):
        env.observation(np.zeros((SIDE, SIDE, 3), np.float32))


def test_check_costs_nothing_on_good_frames_and_can_be_switched_off(encoder):
    check = FrameCheck(RGB, "x")
    check(np.zeros((8, SIDE, SIDE, 3), np.uint8), "step")  # passes
    env = MintKeypointWrapper(FrameEnv(RGB, np.zeros((SIDE, SIDE, 3), np.int16)), encoder)
    env.check_frames = False  # the benchmark's switch: back to the unchecked cast
    env.reset(seed=0)
    env.step(0)


# ---------------------------------------------------------------------------- vector adapters
def test_vector_wrapper_names_the_sub_env(encoder):
    bad = np.random.default_rng(2).uniform(0, 1, (SIDE, SIDE, 3))
    venv = gym.vector.SyncVectorEnv([lambda: FrameEnv(RGB), lambda: FrameEnv(RGB, bad)])
    env = MintKeypointVectorWrapper(venv, encoder)
    env.reset(seed=0)
    with pytest.raises(ObservationError) as info:
        env.step(np.zeros(2, dtype=np.int64))
    msg = str(info.value)
    assert msg.startswith("MintKeypointVectorWrapper(FrameEnv × 2): the step observation of sub-env 1")
    assert str(RGB) in msg and "float64" in msg
    # NaN from a sub-env of a float space
    nan = np.full((SIDE, SIDE, 3), 0.5, np.float32)
    nan[0, 0, 0] = np.nan
    fenv = MintKeypointVectorWrapper(gym.vector.SyncVectorEnv([lambda: FrameEnv(UNIT), lambda: FrameEnv(UNIT, nan)]),
                                     encoder)
    fenv.reset(seed=0)
    with pytest.raises(ObservationError, match=r"step observation of sub-env 1 does not fit.*1 NaN value"):
        fenv.step(np.zeros(2, dtype=np.int64))
    # a batch that may have changed after the sub-env checks (a vector wrapper in between, or a subprocess
    # vector env without them) is checked in full, naming the sub-env
    batch = np.full((2, SIDE, SIDE, 3), 0.5, np.float32)
    batch[1, 0, 0, 0] = np.nan
    inner = gym.wrappers.vector.RecordEpisodeStatistics(gym.vector.SyncVectorEnv([lambda: FrameEnv(UNIT)] * 2))
    with pytest.raises(ObservationError, match=r"observation of sub-env 1 does not fit.*1 NaN value"):
        MintKeypointVectorWrapper(inner, encoder).observations(batch)
    with pytest.raises(ObservationError, match=r"of all 2 sub-envs.*channels-first"):
        env.observations(np.zeros((2, 3, SIDE, SIDE), np.uint8))


@pytest.mark.parametrize(("frame", "match"), [
    (np.full((SIDE, SIDE, 3), 0.5), "float64 frames from a uint8 space"),  # DummyVecEnv would store 0s
    (np.full((SIDE, SIDE, 3), 300, np.int16), "outside uint8's 0–255"),  # ... and 44s
    (np.zeros((3, SIDE, SIDE), np.uint8), "channels-first"),
])
def test_sb3_adapter_checks_before_dummy_vec_env_casts(encoder, frame, match):
    venv = MintKeypointVecEnv(DummyVecEnv([lambda: FrameEnv(RGB), lambda: FrameEnv(RGB, frame)]), encoder)
    venv.reset()
    with pytest.raises(ObservationError, match=match) as info:
        venv.step(np.zeros(2, dtype=np.int64))
    assert str(info.value).startswith("MintKeypointVecEnv(FrameEnv × 2): the step observation of sub-env 1")


# ---------------------------------------------------------------------------- ambiguous spaces and layout
@pytest.mark.parametrize(("lead", "kind"), [(1, "grey"), (3, "RGB"), (4, "RGBA")])
def test_ambiguous_channels_first_or_grey_stack_space_is_refused(encoder, lead, kind):
    space = spaces.Box(0, 255, (lead, SIDE, SIDE), np.uint8)
    with pytest.raises(ValueError) as info:
        MintKeypointWrapper(FrameEnv(space), encoder)
    msg = str(info.value)
    assert "ambiguous" in msg and str(space) in msg
    assert f"channels-first {kind} frames (C, H, W) = ({lead}, 32, 32)" in msg
    assert f"a stack of {lead} grey (H, W) = (32, 32) frames, as FrameStackObservation of a grey env gives" in msg
    assert "layout='channels_first'" in msg and "layout='grey_stack'" in msg
    assert "grey_to_rgb" not in msg  # the old error told users to repeat a grey channel


def test_frame_stack_of_a_grey_env_has_the_same_ambiguous_space():
    grey = FrameEnv(spaces.Box(0, 255, (SIDE, SIDE), np.uint8))
    stacked = FrameStackObservation(grey, 3)
    assert stacked.observation_space == spaces.Box(0, 255, (3, SIDE, SIDE), np.uint8)
    with pytest.raises(ValueError, match="ambiguous"):
        MintKeypointWrapper(stacked, KeypointEncoder(CFG.replace(in_channels=1)))


def test_explicit_layout_accepts_both_readings(encoder):
    rgb = np.random.default_rng(3).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    hwc = MintKeypointWrapper(FrameEnv(RGB, reset_frame=rgb), encoder).reset(seed=0)[0]
    # channels-first RGB: transposed on entry, same keypoints as the channels-last frame
    chw_space = spaces.Box(0, 255, (3, SIDE, SIDE), np.uint8)
    chw = MintKeypointWrapper(FrameEnv(chw_space, reset_frame=np.ascontiguousarray(rgb.transpose(2, 0, 1))),
                              encoder, options=ObservationOptions(layout="channels_first"))
    assert chw.observation_space.shape == hwc.shape
    np.testing.assert_array_equal(chw.reset(seed=0)[0], hwc)
    # a stack of 3 grey frames: one keypoint set per frame
    grey_enc = KeypointEncoder(CFG.replace(in_channels=1))
    stack = MintKeypointWrapper(FrameStackObservation(FrameEnv(spaces.Box(0, 255, (SIDE, SIDE), np.uint8)), 3),
                                grey_enc, options=ObservationOptions(layout="grey_stack"))
    assert stack.observation_space.shape == (3, 4, 5)
    obs, _ = stack.reset(seed=0)
    assert obs in stack.observation_space
    assert stack.step(0)[0] in stack.observation_space


def test_layout_that_does_not_fit_the_space(encoder):
    chw_space = spaces.Box(0, 255, (3, SIDE, SIDE), np.uint8)
    with pytest.raises(ValueError, match=r"layout='channels_last' needs \(H, W, C\)"):
        MintKeypointWrapper(FrameEnv(chw_space), encoder, options=ObservationOptions(layout="channels_last"))
    with pytest.raises(ValueError, match=r"layout='grey_stack' needs a stack of grey frames \(S, H, W\)"):
        MintKeypointWrapper(FrameEnv(spaces.Box(0, 255, (SIDE, SIDE), np.uint8)), encoder,
                            options=ObservationOptions(layout="grey_stack"))
    with pytest.raises(ValueError, match="layout must be one of"):
        MintKeypointWrapper(FrameEnv(RGB), encoder, options=ObservationOptions(layout="chw"))
    stack_first = spaces.Box(0, 255, (2, 3, SIDE, SIDE), np.uint8)
    with pytest.raises(ValueError, match=r"channels-first frames \(S, C, H, W\): pass layout='channels_first'"):
        MintKeypointWrapper(FrameEnv(stack_first), encoder)


def test_frozen_wrapper_without_an_encoder():
    with pytest.raises(ValueError, match=r"MintKeypointWrapper\(FrameEnv\): pass an encoder.*or online=True"):
        MintKeypointWrapper(FrameEnv(RGB))


# ---------------------------------------------------------------------------- default-config one-liners
def built_config_logged(caplog) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "envs.wrappers" and "built MintConfig" in r.message]
    assert len(lines) == 1, lines
    return lines[0]


def test_default_config_one_liner_single_env(caplog):
    caplog.set_level(logging.INFO, logger="envs.wrappers")
    grey = spaces.Box(0, 255, (48, 40), np.uint8)
    env = MintKeypointWrapper(FrameEnv(grey), online=OnlineOptions(buffer_size=16))
    assert env.config.in_channels == 1 and env.config.image_size == (48, 40)
    assert env.config is env.mint_config is env.online_trainer.config
    line = built_config_logged(caplog)
    assert line.startswith("MintKeypointWrapper(FrameEnv): online=True without a config: built MintConfig(")
    assert "in_channels=1, image_size=(48, 40)" in line and "encoded at their own size" in line
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space and env.step(0)[0] in env.observation_space


def test_default_config_rules():
    def cfg(shape, **kwargs):
        return default_mint_config(ImageLayout.from_space(spaces.Box(0, 255, shape, np.uint8), **kwargs))

    assert (cfg((84, 84, 3)).image_size, cfg((84, 84, 3)).in_channels) == ((84, 84), 3)  # preprocessed Atari
    assert cfg((210, 160, 3)).image_size == DEFAULT_IMAGE_SIZE == (64, 64)  # raw ALE: shrunk
    assert cfg((12, 12)).image_size == (16, 16)  # MintConfig's smallest input
    assert cfg((4, 84, 84), layout="grey_stack").in_channels == 1
    assert cfg((84, 84, 4)).in_channels == 4
    layout = ImageLayout.from_space(spaces.Box(0, 255, (84, 84), np.uint8))
    assert default_mint_config(layout, grey_to_rgb=True).in_channels == 3


def test_default_config_one_liner_vector_wrapper(caplog):
    caplog.set_level(logging.INFO, logger="envs.wrappers")
    venv = MintKeypointVectorWrapper(gym.make_vec("MintScenes/Bouncing-v0", 2, vectorization_mode="sync"),
                                     online=OnlineOptions(buffer_size=16))
    assert venv.config.image_size == (64, 64) and venv.config.in_channels == 3
    assert built_config_logged(caplog).startswith("MintKeypointVectorWrapper(MintScenes/Bouncing-v0 × 2)")
    obs, _ = venv.reset(seed=0)
    assert obs in venv.observation_space


def test_default_config_one_liner_sb3_adapter(caplog):
    caplog.set_level(logging.INFO, logger="envs.wrappers")
    venv = MintKeypointVecEnv(DummyVecEnv([lambda: gym.make("MintScenes/Bouncing-v0")] * 2),
                              online=OnlineOptions(buffer_size=16))
    assert venv.config.image_size == (64, 64) and venv.config.in_channels == 3 and venv.mint_config is venv.config
    assert built_config_logged(caplog).startswith("MintKeypointVecEnv(MintScenes/Bouncing-v0 × 2)")
    assert venv.reset().shape == (2, 16, 3 + 8)


def test_online_one_liner_on_raw_ale(caplog):
    caplog.set_level(logging.INFO, logger="envs.wrappers")
    env = MintKeypointWrapper(ale(), online=True)
    assert env.config.image_size == (64, 64) and env.config.in_channels == 3
    line = built_config_logged(caplog)
    assert "Box(0, 255, (210, 160, 3), uint8)" in line and "resized 210×160 → 64×64" in line
    obs, _ = env.reset(seed=0)
    for _ in range(2):
        obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (16, 3 + 8) and obs in env.observation_space
    assert len(env.online_trainer.buffers[0]) == 3


def test_frozen_one_liner_on_raw_ale(tmp_path, encoder):
    path = save_checkpoint(tmp_path / "encoder.pt", {"config": CFG.to_dict(), "encoder": encoder.state_dict(),
                                                     "encoder_type": "mint"})
    env = MintKeypointWrapper(ale(), str(path))
    assert env.config.image_size == CFG.image_size and env.online_trainer is None
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(0)
    assert obs.shape == (4, 5) and obs in env.observation_space
