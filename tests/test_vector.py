"""MintKeypointVectorWrapper (envs/vector.py): equal to per-env single wrappers, one batched
forward per step, autoreset, online co-training per sub-env, ALE and scene vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401  (registers the scene ids)
from envs.atari import make_atari_env
from envs.vector import MintKeypointVectorWrapper
from envs.wrappers import MintKeypointWrapper, ObservationOptions, OnlineOptions
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder

SCENE = "MintScenes/Bouncing-v0"
CFG = MintConfig(num_keypoints=4, image_size=(32, 32), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=2)
K, D = 4, 5
ATOL = 1e-5  # a batched forward differs from single ones in the last float bits


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


@pytest.fixture
def encoder() -> KeypointEncoder:
    torch.manual_seed(0)
    return KeypointEncoder(CFG)


def scene_vec(n: int = 2, **kwargs) -> gym.vector.VectorEnv:
    return gym.make_vec(SCENE, n, vectorization_mode="sync", **kwargs)


def single_rollouts(make_env, encoder, n: int, seed: int, steps: int, **kwargs) -> list[list[np.ndarray]]:
    """Per sub-env observations of single wrappers, reset like a NEXT_STEP vector env:
    sub-env i seeded ``seed + i``; after an episode ends, the next step is the reset."""
    out = []
    for i in range(n):
        env = MintKeypointWrapper(make_env(), encoder, **kwargs)
        obs, _ = env.reset(seed=seed + i)
        seq, done = [obs], False
        for _ in range(steps):
            if done:
                obs, _ = env.reset()
                done = False
            else:
                obs, _, terminated, truncated, _ = env.step(0)
                done = terminated or truncated
            seq.append(obs)
        out.append(seq)
    return out


def test_outputs_equal_single_wrappers_across_autoreset(encoder):
    """Episodes of 3 steps: step 4 of each sub-env is its autoreset, encoded like a reset."""
    venv = MintKeypointVectorWrapper(scene_vec(max_steps=3), encoder)
    assert venv.single_observation_space.shape == (K, D)
    assert venv.observation_space.shape == (2, K, D)
    obs, _ = venv.reset(seed=10)
    seq = [obs]
    dones = []
    for _ in range(8):
        obs, _, terminated, truncated, _ = venv.step(np.zeros(2, dtype=np.int64))
        seq.append(obs)
        dones.append(np.logical_or(terminated, truncated))
    assert dones[2].all() and not dones[3].any()  # step 3 truncates, step 4 is the reset
    singles = single_rollouts(lambda: gym.make(SCENE, max_steps=3), encoder, 2, 10, 8)
    for t, batch in enumerate(seq):
        assert batch in venv.observation_space and batch.dtype == np.float32
        for i in range(2):
            np.testing.assert_allclose(batch[i], singles[i][t], atol=ATOL)


def test_one_batched_forward_per_step(encoder):
    calls = []
    encoder.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    venv = MintKeypointVectorWrapper(scene_vec(3), encoder)
    venv.reset(seed=0)
    for _ in range(4):
        venv.step(np.zeros(3, dtype=np.int64))
    assert calls == [3] * 5


def test_dict_format_and_frame_stacked_input(encoder):
    grey = KeypointEncoder(CFG.replace(in_channels=1))
    grey_dict = ObservationOptions(obs_format="dict", layout="grey_stack")  # (3, 84, 84) is ambiguous: a stack
    venv = MintKeypointVectorWrapper(make_atari_env(num_envs=2, rgb=False, frame_stack=3), grey, options=grey_dict)
    space = venv.observation_space
    assert isinstance(space, spaces.Dict)
    assert space["coords"].shape == (2, 3, K, 2) and space["features"].shape == (2, 3, K, 2)
    obs, _ = venv.reset(seed=0)
    assert obs in space
    obs, *_ = venv.step(np.zeros(2, dtype=np.int64))
    assert obs in space
    single = MintKeypointWrapper(make_atari_env(rgb=False, frame_stack=3), grey, options=grey_dict)
    ref, _ = single.reset(seed=1)
    obs, _ = venv.reset(seed=0)
    for key in ("coords", "status", "features"):
        np.testing.assert_allclose(obs[key][1], ref[key], atol=ATOL)


def test_atari_vector_env(encoder):
    venv = MintKeypointVectorWrapper(make_atari_env("ALE/Pong-v5", num_envs=2), encoder)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (2, K, D) and obs in venv.observation_space
    singles = single_rollouts(lambda: make_atari_env("ALE/Pong-v5"), encoder, 2, 0, 3)
    venv.action_space.seed(0)
    for t in range(1, 4):
        obs, rewards, *_ = venv.step(np.zeros(2, dtype=np.int64))
        assert obs in venv.observation_space and rewards.shape == (2,)
        np.testing.assert_allclose(obs, np.stack([s[t] for s in singles]), atol=ATOL)


def test_async_atari_vector_env(encoder):
    venv = MintKeypointVectorWrapper(make_atari_env(num_envs=2, vectorization_mode="async"), encoder)
    try:
        obs, _ = venv.reset(seed=0)
        obs, *_ = venv.step(np.zeros(2, dtype=np.int64))
        assert obs.shape == (2, K, D) and obs in venv.observation_space
    finally:
        venv.close()


def test_online_buffers_per_sub_env_and_updates(encoder):
    venv = MintKeypointVectorWrapper(scene_vec(2, max_steps=3), encoder,
                                     online=OnlineOptions(buffer_size=40, update_every=12, updates_per_round=2))
    trainer = venv.online_trainer
    assert trainer.num_streams == 2 and all(b.capacity == 20 for b in trainer.buffers)
    venv.reset(seed=0)
    for _ in range(5):
        venv.step(np.zeros(2, dtype=np.int64))
    assert trainer.rounds == 0 and trainer.env_steps == 10  # frames over both sub-envs
    for buffer in trainer.buffers:
        # reset + 3 steps, then the autoreset step starts episode 2
        assert buffer.episode[:len(buffer)].tolist() == [1, 1, 1, 1, 2, 2]
    venv.step(np.zeros(2, dtype=np.int64))  # 12 frames: a round of 2 updates
    assert trainer.rounds == 1 and trainer.trainer.step_count == 2
    frames, _ = trainer.sample(16)
    assert frames.shape[:2] == (16, 3)


def test_online_state_round_trip(tmp_path):
    def make():
        torch.manual_seed(0)
        return MintKeypointVectorWrapper(scene_vec(2), KeypointEncoder(CFG),
                                         online=OnlineOptions(buffer_size=40, update_every=6, updates_per_round=1))

    a = make()
    a.reset(seed=0)
    for _ in range(4):
        a.step(np.zeros(2, dtype=np.int64))
    a.save_online_state(tmp_path / "v.pt")
    b = make()
    b.load_online_state(tmp_path / "v.pt")
    assert b.online_trainer.rounds == a.online_trainer.rounds == 1
    for x, y in zip(a.online_trainer.buffers, b.online_trainer.buffers):
        torch.testing.assert_close(x.frames, y.frames, rtol=0, atol=0)
    assert a.update_encoder(1) == b.update_encoder(1)
    # a single-env wrapper cannot take a 2-stream buffer
    single = MintKeypointWrapper(gym.make(SCENE), KeypointEncoder(CFG), online=OnlineOptions(buffer_size=40))
    with pytest.raises(ValueError, match="sub-envs"):
        single.load_online_state(tmp_path / "v.pt")


def test_disabled_autoreset_with_reset_mask(encoder):
    venv = MintKeypointVectorWrapper(
        scene_vec(2, max_steps=2, vector_kwargs=dict(autoreset_mode=AutoresetMode.DISABLED)), encoder,
        online=OnlineOptions(buffer_size=40))
    venv.reset(seed=0)
    venv.step(np.zeros(2, dtype=np.int64))
    venv.step(np.zeros(2, dtype=np.int64))  # both truncate
    obs, _ = venv.reset(options={"reset_mask": np.array([True, False])})
    assert obs in venv.observation_space
    b0, b1 = venv.online_trainer.buffers
    assert b0.episode[:len(b0)].tolist() == [1, 1, 1, 2]
    assert b1.episode[:len(b1)].tolist() == [1, 1, 1]  # not reset: no frame added


def test_same_step_autoreset_is_refused(encoder):
    venv = scene_vec(2, vector_kwargs=dict(autoreset_mode=AutoresetMode.SAME_STEP))
    with pytest.raises(ValueError, match="NEXT_STEP"):
        MintKeypointVectorWrapper(venv, encoder)


def test_render_draws_keypoints_per_sub_env(encoder):
    venv = MintKeypointVectorWrapper(scene_vec(2, render_mode="rgb_array"), encoder)
    venv.reset(seed=0)
    frames = venv.render()
    assert isinstance(frames, tuple) and len(frames) == 2
    assert all(f.shape == (256, 256, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[1])


def test_errors(encoder):
    with pytest.raises(ValueError, match=r"\(4,\)"):
        MintKeypointVectorWrapper(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), encoder)
    with pytest.raises(TypeError, match="VectorEnv"):
        MintKeypointVectorWrapper(gym.make(SCENE), encoder)
    with pytest.raises(ValueError, match="device"):
        MintKeypointVectorWrapper(scene_vec(2), encoder, options=ObservationOptions(device="nope"))
