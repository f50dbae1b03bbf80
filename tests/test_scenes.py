"""Synthetic object scenes (envs/scenes.py): API, determinism and exactness of the ground truth."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import envs
from envs.scenes import (
    border_entry,
    SHAPES,
    ObjectScenesEnv,
    SceneConfig,
    mean_object_area,
)
from mint_rl.coords import pixel_to_normalised

SCENE_IDS = list(envs.SCENE_PRESETS)
# inscribed / circumscribed radius of each shape: cos(pi / k) for a regular k-gon
_SIDES = dict(circle=np.inf, square=4, triangle=3, pentagon=5, hexagon=6)
INRADIUS_RATIO = np.array([np.cos(np.pi / _SIDES[name]) for name in SHAPES])
PLAIN_IDS = ["MintScenes/Bouncing-v0", "MintScenes/Collisions-v0", "MintScenes/EnterLeave-v0"]


def rollout(env: gym.Env, seed: int, steps: int) -> tuple[list[np.ndarray], list[dict]]:
    """Frames and ``info["objects"]`` of the reset and ``steps`` steps."""
    frame, info = env.reset(seed=seed)
    frames, objects = [frame], [info["objects"]]
    for _ in range(steps):
        frame, _, _, _, info = env.step(0)
        frames.append(frame)
        objects.append(info["objects"])
    return frames, objects


@pytest.mark.parametrize("env_id", SCENE_IDS)
def test_registered_ids_pass_check_env(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    frame, info = env.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert np.array_equal(env.render(), frame)
    n = env.unwrapped.config.max_objects
    objects = info["objects"]
    assert objects["ids"].shape == (n,) and objects["centres"].shape == (n, 2)
    assert objects["centres"].dtype == np.float32 and objects["masks"].shape == (n, 64, 64)
    env.close()


def test_importing_envs_stays_light() -> None:
    code = (
        "import sys, envs, gymnasium as gym; gym.make('MintScenes/Bouncing-v0').reset(seed=0); "
        "heavy = [m for m in ('torch', 'stable_baselines3', 'ale_py') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_make_kwargs_override_preset_and_truncate() -> None:
    env = gym.make("MintScenes/Bouncing-v0", n_moving=5, max_steps=4, return_masks=False)
    _, info = env.reset(seed=0)
    assert info["objects"]["ids"].shape == (5,) and "masks" not in info["objects"]
    truncated = [env.step(0)[3] for _ in range(4)]
    assert truncated == [False, False, False, True]


def test_step_before_reset_and_bad_action_raise() -> None:
    env = ObjectScenesEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(1)


@pytest.mark.parametrize("env_id", ["MintScenes/EnterLeave-v0", "MintScenes/Cluttered-v0"])
def test_same_seed_same_video_different_seed_differs(env_id: str) -> None:
    env_a, env_b = gym.make(env_id).unwrapped, gym.make(env_id).unwrapped
    frames_a, objects_a = rollout(env_a, seed=7, steps=50)
    frames_b, objects_b = rollout(env_b, seed=7, steps=50)
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b))
    assert all(data_equivalence(a, b, exact=True) for a, b in zip(objects_a, objects_b))
    frames_c, _ = rollout(env_b, seed=8, steps=50)
    assert not all(np.array_equal(a, c) for a, c in zip(frames_a, frames_c))


@pytest.mark.parametrize("env_id", PLAIN_IDS)
def test_masks_are_exactly_the_object_pixels(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    background = np.array(env.config.background_colour, dtype=np.uint8)
    frames, objects = rollout(env, seed=3, steps=60)
    for frame, o in zip(frames, objects):
        masks = o["masks"]
        assert masks.sum(axis=0).max() <= 1, "masks of the visible pixels must be disjoint"
        assert np.array_equal(masks.sum(axis=(1, 2)), o["areas"])
        assert np.array_equal(o["visible"], o["areas"] > 0)
        assert not masks[~o["visible"]].any()
        assert not o["visible"][~o["present"]].any()
        for k in np.flatnonzero(o["visible"]):
            assert (frame[masks[k]] == o["colours"][k]).all()
        # on a plain background, every other pixel is background
        assert (frame[~masks.any(axis=0)] == background).all()


def test_masks_match_colours_on_cluttered_background() -> None:
    frames, objects = rollout(gym.make("MintScenes/Cluttered-v0").unwrapped, seed=1, steps=20)
    for frame, o in zip(frames, objects):
        for k in np.flatnonzero(o["visible"]):
            assert (frame[o["masks"][k]] == o["colours"][k]).all()
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 20, "textured background expected"


@pytest.mark.parametrize("env_id", ["MintScenes/Collisions-v0", "MintScenes/Cluttered-v0"])
def test_centres_are_at_the_mask_centroid(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    h, w = env.config.height, env.config.width
    _, objects = rollout(env, seed=5, steps=60)
    checked = 0
    for o in objects:
        np.testing.assert_allclose(
            o["centres"][o["present"]],
            pixel_to_normalised(o["centres_px"][o["present"]], (h, w)),
            atol=1e-5,
        )
        for k in np.flatnonzero(o["visible"]):
            x, y = o["centres_px"][k]
            r = o["sizes"][k] / 2.0
            if x - r < 0 or y - r < 0 or x + r > w - 1 or y + r > h - 1:
                continue  # partly outside the frame: the mask centroid is biased
            rows, cols = np.nonzero(o["masks"][k])
            assert abs(cols.mean() - x) < 1.0 and abs(rows.mean() - y) < 1.0
            checked += 1
    assert checked > 100


def test_enter_leave_changes_visibility() -> None:
    env = gym.make("MintScenes/EnterLeave-v0").unwrapped
    _, objects = rollout(env, seed=0, steps=150)
    seen: dict[int, list[bool]] = {}
    for o in objects:
        for k in np.flatnonzero(o["present"]):
            seen.setdefault(int(o["ids"][k]), []).append(bool(o["visible"][k]))
    appeared = [i for i, v in seen.items() if not v[0] and any(v)]
    vanished = [i for i, v in seen.items() if v[0] and not v[-1]]
    left = set(seen) - {int(i) for i in objects[-1]["ids"] if i >= 0}
    assert len(appeared) >= 2, "objects should enter the frame"
    assert left, "objects should leave the frame and be removed"
    assert len(seen) > env.config.max_objects, "new objects (new ids) should enter"
    assert vanished or left
    n_visible = [int(o["visible"].sum()) for o in objects]
    assert min(n_visible) < max(n_visible)


def test_static_objects_do_not_move() -> None:
    env = gym.make("MintScenes/Collisions-v0").unwrapped
    _, objects = rollout(env, seed=2, steps=100)
    static = objects[0]["static"]
    assert static.sum() == env.config.n_static
    for o in objects[1:]:
        assert np.array_equal(o["centres_px"][static], objects[0]["centres_px"][static])
        assert np.array_equal(o["angles"][static], objects[0]["angles"][static])
        assert not o["velocities"][static].any()


def test_bouncing_objects_stay_inside_and_collisions_change_velocity() -> None:
    env = gym.make("MintScenes/Bouncing-v0").unwrapped
    h, w = env.config.height, env.config.width
    _, objects = rollout(env, seed=4, steps=200)
    half_pixel = np.array([w / 2.0, h / 2.0], dtype=np.float32)
    changed = np.zeros(env.config.max_objects, dtype=bool)
    for prev, o in zip(objects, objects[1:]):
        assert o["visible"].all()
        # the walls keep at least the inscribed circle of every shape inside the frame
        inner = o["sizes"][:, None] / 2.0 * INRADIUS_RATIO[o["shapes"]][:, None]
        assert (o["centres_px"] - inner >= -0.5 - 1.0).all()
        assert (o["centres_px"] + inner <= [w - 0.5 + 1.0, h - 0.5 + 1.0]).all()
        dv = np.abs(o["velocities"] - prev["velocities"]).max(axis=1)
        changed |= dv > 1e-6
        # free flight between collisions: the displacement is the velocity
        free = dv <= 1e-6
        displacement = o["centres_px"][free] - prev["centres_px"][free]
        np.testing.assert_allclose(displacement, o["velocities"][free] * half_pixel, atol=0.5)
    assert changed.all(), "every object should bounce at least once in 200 steps"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(size_range=(8, 100)), "size_range"),
        (dict(size_range=(0, 10)), "size_range"),
        (dict(n_moving=-1), "n_moving"),
        (dict(n_static=-2), "n_static"),
        (dict(n_entering=1.5), "n_entering"),
        (dict(height=0), "height"),
        (dict(width=4), "width"),
        (dict(background="lava"), "background"),
        (dict(shapes=("circle", "star")), "shapes"),
        (dict(speed_range=(1.0, 20.0)), "speed_range"),
        (dict(enter_rate=2.0), "enter_rate"),
        (dict(max_steps=0), "max_steps"),
        (dict(physics_substeps=0), "physics_substeps"),
        (dict(n_moving=40), "n_moving"),
        (dict(distractor_size_range=(5, 2)), "distractor_size_range"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SceneConfig(**kwargs)


def test_mean_object_area_is_computed_from_the_scenes() -> None:
    small = SceneConfig(n_moving=3, size_range=(6.0, 8.0), max_steps=10)
    large = SceneConfig(n_moving=3, size_range=(14.0, 16.0), max_steps=10)
    a_small = mean_object_area(small, n_episodes=2, seed=0)
    assert a_small == mean_object_area(small, n_episodes=2, seed=0)
    a_large = mean_object_area(large, n_episodes=2, seed=0)
    assert 10 < a_small < 64 and 100 < a_large < 260 and a_large > 3 * a_small


@pytest.mark.parametrize("edge", [0, 1, 2, 3])
def test_border_entry_starts_outside_and_heads_in(edge: int) -> None:
    """An entering object's centre lies ``margin`` px beyond the border it enters by, and its heading points into
    the frame along that border's normal (shared by the EnterLeave scene and the Reach task)."""
    w, h, margin = 40, 30, 3.0
    for along in (0.0, 0.37, 1.0):
        x, y, inward = border_entry(edge, along, margin, w, h)
        dx, dy = np.cos(inward), np.sin(inward)
        step = np.array([x + 100 * dx, y + 100 * dy])  # far along the heading: across the frame
        if edge == 0:
            assert x == -0.5 - margin and y == along * (h - 1) and step[0] > w
        elif edge == 1:
            assert x == w - 0.5 + margin and y == along * (h - 1) and step[0] < 0
        elif edge == 2:
            assert y == -0.5 - margin and x == along * (w - 1) and step[1] > h
        else:
            assert y == h - 0.5 + margin and x == along * (w - 1) and step[1] < 0
        assert abs(dx * dy) < 1e-12  # along the border's normal
