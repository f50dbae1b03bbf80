"""RL tasks on object scenes (envs/tasks.py): API, determinism, reward semantics, ground truth."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import envs
from envs.scenes import ObjectScenesEnv
from envs.tasks import (
    AGENT_COLOUR,
    BAD_COLOUR,
    STATE_AGENT_FIELDS,
    STATE_OBJECT_FIELDS,
    TASK_SHAPES,
    CatchConfig,
    CatchEnv,
    GroundTruthObservation,
    ReachConfig,
    ReachEnv,
)

TASK_IDS = list(envs.TASK_PRESETS)
N_AGENT = len(STATE_AGENT_FIELDS)
N_FIELDS = len(STATE_OBJECT_FIELDS)


def object_blocks(state: np.ndarray) -> np.ndarray:
    return state[N_AGENT:].reshape(-1, N_FIELDS)


def track(info: dict, away: bool = False) -> int:
    """Catch action moving the paddle under (or away from) the most relevant object."""
    state = info["state"]
    paddle_x, first = state[0], object_blocks(state)[0]
    if first[0] == 0:
        return 0
    if away:  # to the frame's side opposite the object
        return 1 if first[1] > 0 else 2
    dx = first[1] - paddle_x
    return 0 if abs(dx) < 0.05 else (2 if dx > 0 else 1)


def steer(info: dict) -> int:
    """Reach action moving the avatar towards the target (state block 0 when there is one)."""
    state = info["state"]
    first = object_blocks(state)[0]
    if first[5] != 1:
        return 0
    dx, dy = first[1:3] - state[0:2]
    if abs(dx) > abs(dy):
        return 4 if dx > 0 else 3
    return 2 if dy > 0 else 1


# ---------------------------------------------------------------------------- API


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_registered_ids_pass_gymnasium_and_sb3_check_env(env_id: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env.unwrapped)
    sb3_check_env(GroundTruthObservation(gym.make(env_id)))
    frame, info = env.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert np.array_equal(env.render(), frame)
    n = env.unwrapped.config.max_objects
    objects = info["objects"]
    assert objects["ids"].shape == (n,) and objects["centres"].shape == (n, 2)
    assert objects["masks"].shape == (n, 64, 64) and objects["agent"].tolist() == [True] + [False] * (n - 1)
    assert info["state"].dtype == np.float32 and env.unwrapped.state_space.contains(info["state"])
    env.close()


def test_continuous_reach_passes_check_env() -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("MintTasks/Reach-v0", continuous=True, render_mode="rgb_array").unwrapped
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    check_env(env, skip_render_check=False)
    sb3_check_env(env)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert info["objects"]["velocities"][0, 0] == pytest.approx(2 * 3.0 / 64)


def test_action_spaces_and_registration_overrides() -> None:
    catch = gym.make("MintTasks/Catch-v0", bad_fraction=0.5, max_steps=3, return_masks=False)
    assert catch.unwrapped.config.bad_fraction == 0.5 and catch.action_space == gym.spaces.Discrete(3)
    _, info = catch.reset(seed=0)
    assert "masks" not in info["objects"]
    assert [catch.step(0)[3] for _ in range(3)] == [False, False, True]
    reach = gym.make("MintTasks/Reach-v0", n_slots=5)
    assert reach.action_space == gym.spaces.Discrete(5)
    assert reach.reset(seed=0)[1]["objects"]["ids"].shape == (6,)
    assert gym.spec("MintTasks/Catch-v0").entry_point == "envs.tasks:CatchEnv"


def test_importing_envs_stays_light() -> None:
    code = (
        "import sys, envs, gymnasium as gym; gym.make('MintTasks/Catch-v0').reset(seed=0); "
        "gym.make('MintTasks/Reach-v0').reset(seed=0); "
        "heavy = [m for m in ('torch', 'stable_baselines3', 'ale_py') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_step_before_reset_and_bad_action_raise() -> None:
    env = CatchEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(3)


@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (CatchConfig, dict(height=8), "height"),
        (CatchConfig, dict(n_slots=0), "n_slots"),
        (CatchConfig, dict(size_range=(10.0, 8.0)), "size_range"),
        (CatchConfig, dict(size_range=(1.0, 8.0)), "size_range"),
        (CatchConfig, dict(size_range=(8.0, 30.0)), "size_range"),
        (CatchConfig, dict(shapes=("star",)), "shapes"),
        (CatchConfig, dict(background_colour=(255, 255, 255)), "background_colour"),
        (CatchConfig, dict(fall_speed_range=(0.0, 1.0)), "fall_speed_range"),
        (CatchConfig, dict(fall_speed_range=(1.0, 20.0)), "fall_speed_range"),
        (CatchConfig, dict(drift=-1.0), "drift"),
        (CatchConfig, dict(spawn_interval_range=(5.0, 10.0)), "spawn_interval_range"),
        (CatchConfig, dict(bad_fraction=1.5), "bad_fraction"),
        (CatchConfig, dict(paddle_width=40.0), "paddle_width"),
        (CatchConfig, dict(paddle_speed=0.0), "paddle_speed"),
        (CatchConfig, dict(catch_reward=float("nan")), "catch_reward"),
        (ReachConfig, dict(speed_range=(0.0, 0.0)), "speed_range"),
        (ReachConfig, dict(enter_rate=-0.1), "enter_rate"),
        (ReachConfig, dict(avatar_size=1.0), "avatar_size"),
        (ReachConfig, dict(avatar_speed=-1.0), "avatar_speed"),
        (ReachConfig, dict(time_penalty=float("inf")), "time_penalty"),
    ],
)
def test_config_validation_names_the_field(cls: type, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


def test_bad_config_type_and_render_mode_raise() -> None:
    with pytest.raises(TypeError, match="CatchConfig"):
        CatchEnv(ReachConfig())
    with pytest.raises(ValueError, match="render_mode"):
        ReachEnv(render_mode="human")
    with pytest.raises(ValueError, match="bad_fraction"):
        gym.make("MintTasks/Catch-v0", bad_fraction=2.0)


# ---------------------------------------------------------------------------- determinism


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    env.action_space.seed(seed)
    frame, info = env.reset(seed=seed)
    out = [(frame, info)]
    for _ in range(steps):
        out.append(env.step(env.action_space.sample()))
    return out


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_same_seed_same_episode_different_seed_differs(env_id: str) -> None:
    env = gym.make(env_id)
    first, again = rollout(env, 3, 150), rollout(env, 3, 150)
    assert data_equivalence(first, again)
    other = rollout(env, 4, 150)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))


# ---------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_masks_colours_and_rendering(env_id: str) -> None:
    env = gym.make(env_id)
    env.action_space.seed(0)
    frame, info = env.reset(seed=0)
    for t in range(120):
        objects = info["objects"]
        masks = objects["masks"]
        assert masks.sum(axis=0).max() <= 1  # each pixel shows at most one slot
        assert np.array_equal(objects["areas"], masks.sum(axis=(1, 2)))
        for k in np.flatnonzero(objects["visible"]):
            assert np.all(frame[masks[k]] == objects["colours"][k])
        assert np.all(frame[~masks.any(axis=0)] == 0)  # plain black background
        assert objects["visible"][0] and np.array_equal(objects["colours"][0], AGENT_COLOUR)
        present = objects["present"]
        assert np.array_equal(present, objects["ids"] >= 0)
        assert np.all(objects["shapes"][present] >= 0) and np.all(objects["shapes"][~present] == -1)
        assert np.all(objects["sizes"][1:][present[1:]] >= 8.0)  # visible at 64x64
        assert len(set(objects["ids"][present].tolist())) == int(present.sum())
        frame, _, _, _, info = env.step(env.action_space.sample())


def test_paddle_is_a_white_bar_at_the_bottom() -> None:
    env = CatchEnv()
    _, info = env.reset(seed=0)
    objects = info["objects"]
    assert TASK_SHAPES[objects["shapes"][0]] == "bar"
    rows, cols = np.nonzero(objects["masks"][0])
    assert rows.min() == 58 and rows.max() == 61  # 4 px tall, 2 px above the bottom edge
    assert cols.max() - cols.min() + 1 == 12
    assert objects["centres_px"][0, 1] == pytest.approx(59.5)


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_ground_truth_observation_matches_info(env_id: str) -> None:
    env = GroundTruthObservation(gym.make(env_id))
    base = env.unwrapped
    assert env.observation_space == base.state_space
    assert env.observation_space.shape == (N_AGENT + base.config.n_slots * N_FIELDS,)
    env.action_space.seed(1)
    obs, info = env.reset(seed=1)
    flag = base.flag_name
    for _ in range(150):
        assert env.observation_space.contains(obs) and np.array_equal(obs, info["state"])
        objects = info["objects"]
        assert np.allclose(obs[0:2], objects["centres"][0]) and np.allclose(obs[2:4], objects["velocities"][0])
        for block, slot in zip(object_blocks(obs), info["state_slots"]):
            if not objects["present"][slot]:
                assert np.all(block == 0)
                continue
            assert block[0] == 1
            assert np.allclose(block[1:3], objects["centres"][slot])
            assert np.allclose(block[3:5], objects["velocities"][slot])
            if flag == "good":
                assert block[5] == (1 if objects["good"][slot] else -1)
                assert objects["good"][slot] != np.array_equal(objects["colours"][slot], BAD_COLOUR)
            else:
                assert block[5] == float(objects["target"][slot])
        assert sorted(info["state_slots"].tolist()) == list(range(1, base.config.max_objects))
        obs, _, _, _, info = env.step(env.action_space.sample())


def test_ground_truth_observation_rejects_other_envs() -> None:
    with pytest.raises(TypeError, match="object task"):
        GroundTruthObservation(ObjectScenesEnv())


def test_catch_state_lists_pending_objects_soonest_first() -> None:
    env = CatchEnv(n_slots=4, spawn_interval_range=(5, 8))
    paddle_top = 64 - 0.5 - 2.0 - env.config.paddle_height
    _, info = env.reset(seed=0)
    for _ in range(150):
        objects = info["objects"]
        order = info["state_slots"]
        present = objects["present"][order]
        bottoms = objects["centres_px"][order, 1] + objects["sizes"][order] / 2
        speeds = objects["velocities"][order, 1] * 64 / 2
        pending = present & (bottoms < paddle_top)
        rank = np.where(pending, 0, np.where(present, 1, 2))  # pending, past the paddle, empty
        assert np.all(np.diff(rank) >= 0)
        arrival = (paddle_top - bottoms[pending]) / speeds[pending]
        assert np.all(np.diff(arrival) >= -1e-4)  # the soonest to reach the paddle first
        _, _, _, _, info = env.step(0)


# ---------------------------------------------------------------------------- rewards


def test_catch_good_object_pays_plus_one_when_caught() -> None:
    env = CatchEnv(n_slots=1, bad_fraction=0.0)
    _, info = env.reset(seed=0)
    caught = []
    for _ in range(200):
        before = info["objects"]["ids"][1]
        _, reward, _, _, info = env.step(track(info))
        assert reward in (0.0, 1.0) and info["caught_bad"] == [] and info["missed_good"] == []
        if reward == 1.0:
            assert info["caught_good"] == [before] and before not in info["objects"]["ids"]
            caught.append(before)
    assert len(caught) >= 5


def test_catch_red_object_costs_minus_one_when_caught() -> None:
    env = CatchEnv(n_slots=1, bad_fraction=1.0)
    _, info = env.reset(seed=0)
    assert np.array_equal(info["objects"]["colours"][1], BAD_COLOUR) and not info["objects"]["good"][1]
    rewards = []
    for _ in range(200):
        _, reward, _, _, info = env.step(track(info))
        rewards.append(reward)
        assert reward in (0.0, -1.0) and len(info["caught_bad"]) == int(reward == -1.0)
    assert rewards.count(-1.0) >= 5


def test_catch_misses_pay_miss_reward_for_good_and_nothing_for_red() -> None:
    for bad_fraction, expected in ((0.0, -0.25), (1.0, 0.0)):
        env = CatchEnv(n_slots=1, bad_fraction=bad_fraction, miss_reward=-0.25)
        _, info = env.reset(seed=0)
        rewards = []
        for _ in range(200):
            _, reward, _, _, info = env.step(track(info, away=True))
            rewards.append(reward)
        assert set(rewards) <= {0.0, expected}
        if expected:
            assert rewards.count(expected) >= 5


def test_catch_is_decided_when_the_object_reaches_the_paddle() -> None:
    env = CatchEnv(n_slots=1, bad_fraction=0.0, spawn_interval_range=(50, 50))
    _, info = env.reset(seed=2)
    config = env.config
    paddle_top = 64 - 0.5 - 2.0 - config.paddle_height
    for _ in range(200):
        objects = info["objects"]
        bottom = objects["centres_px"][1, 1] + objects["sizes"][1] / 2 if objects["present"][1] else None
        _, reward, _, _, info = env.step(track(info))
        if reward:
            speed = objects["velocities"][1, 1] * 64 / 2
            assert bottom < paddle_top <= bottom + speed + 1e-4
            return
    pytest.fail("no object was caught")


def test_reach_touching_the_target_pays_and_time_costs() -> None:
    env = ReachEnv()
    _, info = env.reset(seed=0)
    reached = 0
    for _ in range(200):
        target = info["objects"]["ids"][info["objects"]["target"]].tolist()
        _, reward, _, _, info = env.step(steer(info))
        if info["reached"]:
            assert reward == pytest.approx(1.0 - 0.01)
            assert info["reached"][0] not in info["objects"]["ids"]
            reached += 1
        else:
            assert reward == pytest.approx(-0.01)
        assert len(target) <= 1
    assert reached >= 5


def meets_frame(objects: dict, slot: int, size: int = 64) -> bool:
    x, y = objects["centres_px"][slot]
    r = objects["sizes"][slot] / 2
    return bool(x + r >= -0.5 and x - r <= size - 0.5 and y + r >= -0.5 and y - r <= size - 0.5)


def test_reach_target_is_the_most_recently_entered_object() -> None:
    env = ReachEnv(n_slots=4, enter_rate=0.1)
    _, info = env.reset(seed=0)
    switches = 0
    for _ in range(300):
        previous = info["objects"]
        _, _, _, _, info = env.step(0)
        objects = info["objects"]
        targets = np.flatnonzero(objects["target"])
        assert len(targets) <= 1 and not objects["target"][0]
        if objects["visible"][1:].any():  # a visible object has entered: there is a target
            assert len(targets) == 1 and meets_frame(objects, targets[0])
        old = np.flatnonzero(previous["target"])
        if len(targets) and len(old) and objects["ids"][targets[0]] != previous["ids"][old[0]]:
            if objects["ids"][old[0]] == previous["ids"][old[0]] and meets_frame(objects, old[0]):
                # the old target is still in the frame: the new one has just come in
                new = targets[0]
                assert previous["ids"][new] != objects["ids"][new] or not meets_frame(previous, new)
                switches += 1
    assert switches >= 1


def test_scripted_policies_beat_random() -> None:
    for env, policy in ((CatchEnv(), track), (ReachEnv(), steer)):
        env.action_space.seed(0)
        scripted, random = [], []
        for seed in range(3):
            _, info = env.reset(seed=seed)
            total = 0.0
            for _ in range(200):
                _, reward, _, _, info = env.step(policy(info))
                total += reward
            scripted.append(total)
            env.reset(seed=seed)
            random.append(sum(env.step(env.action_space.sample())[1] for _ in range(200)))
        assert np.mean(scripted) > np.mean(random) + 2.0


# ---------------------------------------------------------------------------- learning


@pytest.mark.slow
@pytest.mark.parametrize("env_id", TASK_IDS)
def test_ppo_on_ground_truth_beats_random(env_id: str) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    train_env = make_vec_env(env_id, n_envs=4, seed=0, wrapper_class=GroundTruthObservation)
    model = PPO(
        "MlpPolicy", train_env, seed=0, n_steps=128, batch_size=64, n_epochs=10,
        learning_rate=1e-3, gamma=0.95, ent_coef=0.01,
    )
    model.learn(30_000)
    eval_env = make_vec_env(env_id, n_envs=1, seed=10_000, wrapper_class=GroundTruthObservation)
    trained, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)

    class Random:
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            return np.array([eval_env.action_space.sample() for _ in obs]), None

    eval_env.action_space.seed(0)
    random, _ = evaluate_policy(Random(), eval_env, n_eval_episodes=20)
    assert trained > random + 3.0, (trained, random)


def test_reach_marked_draws_only_the_target_yellow() -> None:
    import gymnasium as gym

    import envs  # noqa: F401
    from envs.tasks import TARGET_COLOUR

    env = gym.make("MintTasks/ReachMarked-v0")
    frame, info = env.reset(seed=0)
    seen_target = 0
    for _ in range(150):
        o = info["objects"]
        yellow = [tuple(c) == TARGET_COLOUR for c in o["colours"]]
        present = o["ids"] >= 0
        # the target (if any) is the only yellow object
        assert [bool(y) for y, p in zip(yellow, present) if p] == [bool(t) for t, p in zip(o["target"], present) if p]
        if o["target"].any():
            slot = int(np.flatnonzero(o["target"])[0])
            if o["visible"][slot]:
                assert (frame[o["masks"][slot]] == TARGET_COLOUR).all() if "masks" in o else True
                seen_target += 1
        frame, _, _, _, info = env.step(env.action_space.sample())
    assert seen_target > 50
    plain, _ = gym.make("MintTasks/Reach-v0").reset(seed=0)
    assert plain.shape == frame.shape


def test_dodge_has_only_bad_objects_and_random_play_is_hit() -> None:
    env = gym.make("MintTasks/Dodge-v0")
    assert env.unwrapped.config.bad_fraction == 1.0
    env.action_space.seed(0)
    _, info = env.reset(seed=0)
    rewards, seen_bad = [], 0
    done = False
    while not done:
        _, r, terminated, truncated, info = env.step(env.action_space.sample())
        objects = info["objects"]
        movers = objects["visible"] & ~objects["agent"]
        assert not np.any(np.asarray(objects[env.unwrapped.flag_name])[movers])  # no good object ever
        seen_bad += int(movers.sum() > 0)
        rewards.append(r)
        done = terminated or truncated
    assert seen_bad > 0 and set(rewards) <= {0.0, -1.0} and sum(rewards) < 0
