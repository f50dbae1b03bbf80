"""ALE factories (envs/atari.py): spaces, stacking, vector envs, sticky actions, reward
clipping, time limits, seeding and id errors."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

from envs.atari import FireOnReset, atari_ids, atari_pixel_env, make_atari_env


def rollout(env: gym.Env, seed: int, steps: int) -> tuple[list[np.ndarray], list[float]]:
    """Observations and rewards of a seeded reset and ``steps`` steps with seeded actions."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return observations, rewards


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        (dict(), (84, 84, 3)),
        (dict(rgb=False), (84, 84)),
        (dict(screen_size=(64, 48)), (64, 48, 3)),
        (dict(frame_stack=3), (3, 84, 84, 3)),
        (dict(rgb=False, frame_stack=4), (4, 84, 84)),
    ],
)
def test_observation_shapes_and_dtypes(kwargs, shape):
    env = make_atari_env("ALE/Pong-v5", **kwargs)
    assert env.observation_space.shape == shape
    assert env.observation_space.dtype == np.uint8
    obs, _ = env.reset(seed=0)
    assert obs.shape == shape and obs.dtype == np.uint8
    assert obs in env.observation_space
    obs, *_ = env.step(env.action_space.sample())
    assert obs in env.observation_space
    env.close()


def test_rgb_frames_are_colour_and_grey_frames_match_luminance():
    rgb = make_atari_env(rgb=True, noop_max=0, repeat_action_probability=0.0)
    grey = make_atari_env(rgb=False, noop_max=0, repeat_action_probability=0.0)
    frame, _ = rgb.reset(seed=0)
    g, _ = grey.reset(seed=0)
    assert not np.array_equal(frame[..., 0], frame[..., 1])  # Pong's field is coloured
    lum = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(lum - g).mean() < 8.0  # same screen, resized separately


def test_frame_stack_shifts_by_one_frame():
    env = make_atari_env(rgb=False, frame_stack=4, noop_max=0, repeat_action_probability=0.0)
    first, _ = env.reset(seed=0)
    assert all(np.array_equal(first[0], first[i]) for i in range(4))  # reset padding
    obs = first
    for _ in range(5):
        new, *_ = env.step(0)
        np.testing.assert_array_equal(new[:-1], obs[1:])
        obs = new


def test_pixel_preset_is_grey_stack_of_four():
    env = atari_pixel_env("ALE/Pong-v5")
    assert env.observation_space.shape == (4, 84, 84)
    assert env.observation_space.dtype == np.uint8
    # overrides reach make_atari_env
    assert atari_pixel_env("ALE/Pong-v5", frame_stack=2).observation_space.shape == (2, 84, 84)


def test_sticky_actions_reach_the_emulator():
    for p in (0.0, 0.25, 0.5):
        env = make_atari_env(repeat_action_probability=p)
        ale = env.unwrapped.ale
        assert ale.getFloat("repeat_action_probability") == pytest.approx(p)
        assert env.unwrapped._frameskip == 1  # frames are skipped by AtariPreprocessing only
    with pytest.raises(ValueError, match="repeat_action_probability"):
        make_atari_env(repeat_action_probability=1.5)


def test_reward_clipping():
    raw = make_atari_env(noop_max=0, repeat_action_probability=0.0)
    clipped = make_atari_env(noop_max=0, repeat_action_probability=0.0, clip_reward=True)
    _, raw_rewards = rollout(raw, seed=3, steps=300)
    _, clipped_rewards = rollout(clipped, seed=3, steps=300)
    assert any(r != 0 for r in raw_rewards), "Pong scores within 300 steps of random play"
    np.testing.assert_array_equal(clipped_rewards, np.sign(raw_rewards))
    assert set(np.unique(clipped_rewards)) <= {-1.0, 0.0, 1.0}
    # Pong's rewards are already ±1: check the sign on larger rewards (other games) directly
    assert clipped.get_wrapper_attr("func")(7.0) == 1.0 and clipped.get_wrapper_attr("func")(-25) == -1.0


def test_seeded_reset_is_reproducible():
    env = make_atari_env()  # sticky actions and random no-ops are both seeded by reset
    obs_a, rew_a = rollout(env, seed=11, steps=40)
    obs_b, rew_b = rollout(env, seed=11, steps=40)
    assert data_equivalence(obs_a, obs_b) and rew_a == rew_b
    obs_c, _ = rollout(make_atari_env(), seed=12, steps=40)
    assert not data_equivalence(obs_a, obs_c)


def test_max_episode_steps_counts_agent_steps():
    env = make_atari_env(max_episode_steps=7)
    env.reset(seed=0)
    for t in range(1, 8):
        *_, terminated, truncated, _ = env.step(0)
        assert truncated == (t == 7)


def test_vector_env_sync():
    venv = make_atari_env("ALE/Pong-v5", num_envs=2, rgb=False, frame_stack=2)
    assert isinstance(venv, gym.vector.SyncVectorEnv)
    assert venv.single_observation_space.shape == (2, 84, 84)
    assert venv.observation_space.shape == (2, 2, 84, 84)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (2, 2, 84, 84) and obs.dtype == np.uint8
    obs, rewards, terminated, truncated, _ = venv.step(venv.action_space.sample())
    assert obs.shape == (2, 2, 84, 84) and rewards.shape == (2,)
    # sub-env i is seeded with seed + i, like a single env
    single, _ = make_atari_env(rgb=False, frame_stack=2).reset(seed=1)
    obs, _ = venv.reset(seed=0)
    np.testing.assert_array_equal(obs[1], single)
    venv.close()


def test_vector_env_async():
    venv = make_atari_env("ALE/Pong-v5", num_envs=2, vectorization_mode="async", clip_reward=True)
    try:
        assert isinstance(venv, gym.vector.AsyncVectorEnv)
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (2, 84, 84, 3)
        obs, *_ = venv.step(np.zeros(2, dtype=np.int64))
        assert obs in venv.observation_space
    finally:
        venv.close()


def test_vector_kwargs_reach_the_vector_env():
    venv = make_atari_env(num_envs=2, vector_kwargs=dict(autoreset_mode=gym.vector.AutoresetMode.SAME_STEP))
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    with pytest.raises(ValueError, match="vectorization_mode"):
        make_atari_env(num_envs=2, vectorization_mode="threads")
    with pytest.raises(ValueError, match="num_envs"):
        make_atari_env(num_envs=0)


def test_extra_wrappers_are_applied_last():
    env = make_atari_env(wrappers=[gym.wrappers.RecordEpisodeStatistics])
    assert isinstance(env, gym.wrappers.RecordEpisodeStatistics)


def test_render_gives_full_frames():
    env = make_atari_env(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("bad_id", ["ALE/Pongg-v5", "Pong-v9", "CartPole-v1", "nothing"])
def test_unknown_ids_are_a_clear_value_error(bad_id):
    with pytest.raises(ValueError, match="atari_ids|not an ALE"):
        make_atari_env(bad_id)


def test_typo_suggests_the_right_id():
    with pytest.raises(ValueError, match="ALE/Pong-v5"):
        make_atari_env("ALE/Pongg-v5")


def test_atari_ids():
    ids = atari_ids()
    assert "ALE/Pong-v5" in ids and "ALE/Breakout-v5" in ids
    assert all(i.endswith("-v5") for i in ids)
    assert "PongNoFrameskip-v4" in atari_ids(version=None)
    make_atari_env("PongNoFrameskip-v4")  # old ids work; sticky actions and frame skip are ours


def test_bad_arguments():
    for kwargs in (dict(frame_skip=0), dict(frame_stack=0), dict(noop_max=-1), dict(max_episode_steps=0),
                   dict(screen_size=0), dict(screen_size=(84,)), dict(frameskip=4)):
        with pytest.raises(ValueError):
            make_atari_env(**kwargs)


def test_importing_envs_atari_does_not_import_ale_py():
    code = "import envs, envs.atari, sys; assert 'ale_py' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- FIRE on reset
def _lives_after_noops(env: gym.Env, steps: int) -> tuple[int, bool, float]:
    env.reset(seed=0)
    total, ended = 0.0, False
    for _ in range(steps):
        _, r, terminated, truncated, _ = env.step(0)  # NOOP only: never presses FIRE itself
        total += float(r)
        if terminated or truncated:
            ended = True
            break
    return env.unwrapped.ale.lives(), ended, total


def test_fire_on_reset_serves_the_ball_after_reset_and_each_lost_life():
    kw = dict(noop_max=0, repeat_action_probability=0.0)
    idle = make_atari_env("ALE/Breakout-v5", **kw)
    lives, ended, _ = _lives_after_noops(idle, 400)
    assert lives == 5 and not ended  # without FIRE the ball is never served: nothing happens
    fired = make_atari_env("ALE/Breakout-v5", fire_on_reset=True, **kw)
    lives, ended, _ = _lives_after_noops(fired, 3000)
    assert lives == 0 and ended  # served after the reset and after each of the 5 lost lives → game over
    assert any(isinstance(e, FireOnReset) for e in _wrappers(fired))
    assert fired.observation_space == idle.observation_space and fired.action_space == idle.action_space


def test_fire_on_reset_auto_and_errors():
    assert any(isinstance(e, FireOnReset) for e in _wrappers(make_atari_env("ALE/Pong-v5", fire_on_reset="auto")))
    pacman = make_atari_env("ALE/MsPacman-v5", fire_on_reset="auto")  # no FIRE action: left as it is
    assert not any(isinstance(e, FireOnReset) for e in _wrappers(pacman))
    with pytest.raises(ValueError, match="no FIRE action"):
        make_atari_env("ALE/MsPacman-v5", fire_on_reset=True)
    with pytest.raises(ValueError, match="fire_on_reset"):
        make_atari_env("ALE/Breakout-v5", fire_on_reset="always")
    with pytest.raises(ValueError, match="ALE env"):
        FireOnReset(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="fire_steps"):
        FireOnReset(make_atari_env("ALE/Breakout-v5"), fire_steps=0)


@pytest.mark.slow
def test_two_fire_steps_serve_every_life_under_sticky_actions():
    """40 random-policy Breakout episodes that never press FIRE themselves (sticky actions 0.25): with one FIRE
    step a lost life is sometimes never served again (one of the 40 here); with two, every life is."""
    def stalls(fire_steps: int) -> int:
        rng = np.random.default_rng(0)
        env = FireOnReset(make_atari_env("ALE/Breakout-v5"), fire_steps=fire_steps)
        count = 0
        for episode in range(40):
            env.reset(seed=episode)
            n = last_change = 0
            lives = env.unwrapped.ale.lives()
            while True:
                _, r, terminated, truncated, _ = env.step(int(rng.choice([0, 2, 3])))
                n += 1
                if env.unwrapped.ale.lives() != lives or r:
                    lives, last_change = env.unwrapped.ale.lives(), n
                if terminated or truncated:
                    break
                if n - last_change > 1500:  # nothing happens any more: the ball is not in play
                    count += 1
                    break
        return count

    assert stalls(1) >= 1
    assert stalls(2) == 0


def _wrappers(env: gym.Env) -> list[gym.Env]:
    out = []
    while isinstance(env, gym.Wrapper):
        out.append(env)
        env = env.env
    return out
