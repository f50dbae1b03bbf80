"""The envs of a PPO experiment: what each agent observes of one env id, as SB3 vec envs.

Observations (``observation`` argument of :func:`env_factory`):

``"rgb"``     the env's RGB frames, for the keypoint encoders;
``"pixels"``  what the CNN sees: the RGB frames, or on ALE the standard grey 84×84×4 stack of
              :func:`envs.atari.atari_pixel_env`;
``"state"``   the true state, :class:`envs.tasks.GroundTruthObservation` (``MintTasks/*`` only).

ALE training envs end an episode at each life loss and clip rewards to their sign (SB3's ``EpisodicLifeEnv``,
``ClipRewardEnv``); evaluation envs do not (true game over, raw score). ``Monitor`` sits below them, so logged
returns are raw game scores. Games with a FIRE action press it after each reset and lost life
(:class:`envs.atari.FireOnReset`).

Example::

    frame_shape("MintTasks/Catch-v0")                             # (64, 64, 3)
    venv = make_vec("MintTasks/Catch-v0", "state", n_envs=4, train=True)
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import gymnasium as gym
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents.experiment_settings import ExperimentError
from envs.collect import make_env
from envs.keypoint_observation import ImageLayout

__all__ = ["env_factory", "frame_shape", "has_ground_truth", "make_vec", "object_env"]


def has_ground_truth(env_id: str) -> bool:
    """Whether the env is an object task (``envs.tasks.ObjectTaskEnv``): true state and ``info["objects"]``."""
    from envs.tasks import ObjectTaskEnv

    if env_id.startswith("ALE/"):
        return False
    env = make_env(env_id)
    try:
        return isinstance(env.unwrapped, ObjectTaskEnv)
    finally:
        env.close()


def frame_shape(env_id: str) -> tuple[int, int, int]:
    """(H, W, C) of the env's image observations (RGB for ALE).

    :raises ExperimentError: the env cannot be made, or its observations are not single RGB uint8 frames.
    """
    try:
        env = make_env(env_id)
    except Exception as exc:  # unknown id, missing ROM, bad kwargs
        raise ExperimentError(f"--env {env_id}: {exc}") from exc
    space = env.observation_space
    env.close()
    try:
        layout = ImageLayout.from_space(space, owner="ppo_keypoints")
    except (TypeError, ValueError) as exc:
        raise ExperimentError(f"--env {env_id} does not give image observations ({exc}). This experiment compares "
                              "agents that see images: use an image env such as MintTasks/Catch-v0 or ALE/Pong-v5.") \
            from exc
    if layout.stack is not None or layout.is_float or layout.channels != 3:
        raise ExperimentError(f"--env {env_id}: observations {space} are not single RGB uint8 frames (H, W, 3), "
                              "which the pixel and keypoint agents both need")
    return layout.height, layout.width, layout.channels


def env_factory(env_id: str, observation: str, train: bool, render: bool = False) -> Callable[[], gym.Env]:
    """A thunk building one env.

    :param observation: ``"rgb"``, ``"pixels"`` or ``"state"`` (module docstring).
    :param train: a training env (ALE: episodic lives, clipped rewards) rather than an evaluation env.
    :param render: ``render_mode="rgb_array"`` (for keypoint overlays).
    """
    render_mode = "rgb_array" if render else None
    if env_id.startswith("ALE/"):
        from envs.atari import atari_pixel_env, make_atari_env

        wrappers = (Monitor, EpisodicLifeEnv, ClipRewardEnv) if train else (Monitor,)
        kwargs = dict(wrappers=wrappers, render_mode=render_mode, fire_on_reset="auto")
        if observation == "pixels":
            return functools.partial(atari_pixel_env, env_id, **kwargs)
        return functools.partial(make_atari_env, env_id, rgb=True, **kwargs)

    def make() -> gym.Env:
        from envs.tasks import GroundTruthObservation

        env = make_env(env_id, render_mode=render_mode)
        if observation == "state":
            env = GroundTruthObservation(env)
        return Monitor(env)

    return make


def object_env(env_id: str, train: bool, seed: int, **object_kwargs: Any) -> gym.Env:
    """One env whose observation is its true objects as keypoint rows (:class:`envs.object_keypoints.ObjectKeypoints`,
    ``seed`` its noise seed): ``MintTasks/*`` from the task's ``info["objects"]``; ALE ids from the RAM
    (:class:`envs.atari_objects.AtariObjects`, under the training or evaluation wrappers of :func:`env_factory`)."""
    from envs.object_keypoints import ObjectKeypoints

    if env_id.startswith("ALE/"):
        from envs.atari import make_atari_env
        from envs.atari_objects import AtariObjects

        ram = functools.partial(AtariObjects, return_masks=False)
        wrappers = (ram, Monitor, EpisodicLifeEnv, ClipRewardEnv) if train else (ram, Monitor)
        return ObjectKeypoints(make_atari_env(env_id, rgb=True, wrappers=wrappers, fire_on_reset="auto"), seed=seed,
                               **object_kwargs)
    return Monitor(ObjectKeypoints(make_env(env_id), seed=seed, **object_kwargs))


def make_vec(env_id: str, observation: str, n_envs: int, train: bool, render: bool = False) -> VecEnv:
    """``n_envs`` envs of :func:`env_factory` in one ``DummyVecEnv``."""
    return DummyVecEnv([env_factory(env_id, observation, train, render)] * n_envs)
