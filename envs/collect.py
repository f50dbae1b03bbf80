"""Collect frames from any Gymnasium env id for encoder pretraining.

``collect_frames`` plays a policy (uniformly random by default) in one or more copies of an
environment and returns the image observations with episode boundaries, ready for
:class:`mint_rl.data.FrameBuffer`. Several sub-environments run in a Gymnasium vector env
(``"async"`` puts them in worker processes, which helps for slow emulators on several cores).
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

__all__ = ["make_env", "collect_frames"]


def make_env(env_id: str, *, num_envs: int | None = None, vectorization_mode: str = "sync", rgb: bool = True,
             **kwargs) -> gym.Env | gym.vector.VectorEnv:
    """Build an env by id: ALE ids get the standard Atari preprocessing (RGB 84×84 kept for the
    encoder, see :func:`envs.atari.make_atari_env`); other ids use ``gym.make`` / ``gym.make_vec``.

    :raises ValueError: for an id that is not registered, naming it.
    """
    import envs  # noqa: F401  (registers the MintScenes / MintTasks ids)

    if env_id.startswith("ALE/"):
        from envs.atari import make_atari_env

        return make_atari_env(env_id, rgb=rgb, num_envs=num_envs, vectorization_mode=vectorization_mode, **kwargs)
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}: not registered with gymnasium (ALE ids start with 'ALE/', "
                         "mint-rl's own are MintScenes/* and MintTasks/*)")
    if num_envs is None:
        return gym.make(env_id, **kwargs)
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, **kwargs)


def collect_frames(env_id: str, num_frames: int, seed: int = 0, num_envs: int = 1,
                   policy: Callable[[np.ndarray], np.ndarray] | None = None, vectorization_mode: str = "sync",
                   progress: bool = True, **env_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Play ``policy`` and keep the image observations.

    :param policy: batched observations ``(num_envs, ...)`` → actions; random if None.
    :return: ``frames (num_envs, N, H, W, C)`` uint8 (one stream per sub-env, N = ceil(num_frames /
        num_envs)) and ``episode_start (num_envs, N)`` bool, True where a frame begins an episode.
    """
    from tqdm.auto import tqdm

    venv = make_env(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, **env_kwargs)
    space = venv.single_observation_space
    if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)):
        venv.close()
        raise ValueError(f"{env_id} observations are {space}; frame collection needs uint8 images (H, W[, C])")
    per_env = -(-num_frames // num_envs)
    frames = np.zeros((num_envs, per_env, *space.shape), dtype=np.uint8)
    starts = np.zeros((num_envs, per_env), dtype=bool)
    venv.action_space.seed(seed)
    obs, _ = venv.reset(seed=seed)
    starts[:, 0] = True
    needs_reset = np.zeros(num_envs, dtype=bool)  # the next step() call is an autoreset
    just_reset = np.zeros(num_envs, dtype=bool)  # obs came from an autoreset: a new episode
    for i in tqdm(range(per_env), desc=f"collecting {env_id}", unit="step", disable=not progress,
                  dynamic_ncols=True):
        frames[:, i] = obs
        starts[:, i] |= just_reset
        actions = venv.action_space.sample() if policy is None else policy(obs)
        obs, _, terminated, truncated, _ = venv.step(actions)
        # NEXT_STEP autoreset: the step after a terminal one resets and returns the new first frame
        just_reset, needs_reset = needs_reset, terminated | truncated
    venv.close()
    if frames.ndim == 4:  # grey (H, W) → (H, W, 1)
        frames = frames[..., None]
    return frames, starts
