"""Gymnasium side of mint-rl: environments, observation wrappers and env factories.

Importing this package registers the synthetic object scenes (``envs/scenes.py``)::

    import gymnasium as gym
    import envs  # noqa: F401  (registers the ids)

    env = gym.make("MintScenes/Collisions-v0", render_mode="rgb_array", n_moving=8)

The registration is only data: it imports neither torch, Stable-Baselines3 nor ale-py,
and the scene module itself is imported by ``gym.make``. Keyword arguments given to
``gym.make`` override the preset's :class:`envs.scenes.SceneConfig` fields; episodes are
truncated by the scene itself after ``max_steps`` steps (``gym.make``'s own
``max_episode_steps`` only adds a shorter ``TimeLimit`` on top).
"""

from __future__ import annotations

from typing import Any

import gymnasium

SCENE_PRESETS: dict[str, dict[str, Any]] = {
    # a few moving objects bouncing off each other and the walls, plain background
    "MintScenes/Bouncing-v0": dict(
        n_moving=3,
        size_range=(8.0, 14.0),
        speed_range=(1.0, 2.0),
        background="plain",
    ),
    # a crowded arena: frequent collisions, some static obstacles
    "MintScenes/Collisions-v0": dict(
        n_moving=6,
        n_static=2,
        size_range=(8.0, 12.0),
        speed_range=(1.0, 2.5),
        physics_substeps=6,
        background="plain",
    ),
    # objects enter and leave through the borders, so visibility changes
    "MintScenes/EnterLeave-v0": dict(
        n_moving=1,
        n_entering=4,
        enter_rate=0.08,
        size_range=(8.0, 14.0),
        speed_range=(1.0, 2.5),
        background="plain",
    ),
    # textured background and distractor patches under static and moving objects
    "MintScenes/Cluttered-v0": dict(
        n_moving=3,
        n_static=2,
        size_range=(8.0, 14.0),
        speed_range=(1.0, 2.0),
        background="mixed",
        n_distractors=4,
        distractor_size_range=(8, 20),
    ),
}
"""Config overrides of each registered scene id (see ``envs.scenes.SceneConfig``)."""


def _register_scenes() -> None:
    for env_id, kwargs in SCENE_PRESETS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point="envs.scenes:ObjectScenesEnv",
                kwargs=dict(kwargs),
            )


_register_scenes()


# ---------------------------------------------------------------------------- RL tasks
# Reward tasks on object scenes (``envs/tasks.py``): ``gym.make("MintTasks/Catch-v0")``;
# keyword arguments override the preset's ``CatchConfig`` / ``ReachConfig`` fields, and
# ``envs.tasks.GroundTruthObservation`` swaps the frame for the true object state.

TASK_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # a paddle catches falling objects: +1 good colours, -1 red
    "MintTasks/Catch-v0": ("envs.tasks:CatchEnv", {}),
    # an avatar touches the object that entered the frame last: +1, -0.01 per step
    "MintTasks/Reach-v0": ("envs.tasks:ReachEnv", {}),
    # the same, with the target drawn yellow: it can be told from one frame, by pixels and keypoints alike
    "MintTasks/ReachMarked-v0": ("envs.tasks:ReachEnv", {"mark_target": True}),
    # Catch's scene with every object red: the paddle dodges (-1 a hit, nothing else); the second object task of
    # docs/keypoint_ladder.md, as pixel PPO did not learn ReachMarked in 100k steps
    "MintTasks/Dodge-v0": ("envs.tasks:CatchEnv", {"bad_fraction": 1.0}),
}
"""Entry point and config overrides of each registered task id (see ``envs.tasks``)."""


def _register_tasks() -> None:
    for env_id, (entry_point, kwargs) in TASK_PRESETS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))


_register_tasks()
