"""SB3 ``VecEnvWrapper`` that turns per-frame keypoints into persistent entity slots.

It sits between :class:`agents.vec_env.MintKeypointVecEnv` (box observations ``(K, 3 + F)``:
x, y, status, features) and SB3's ``VecFrameStack``, and runs a
:class:`mint_rl.tracking.KeypointTracker` per sub-env: duplicates merged, slots kept on
their entity from frame to frame, short misses bridged. The category of a keypoint is the
argmax of its one-hot colour code (``colour_codes`` of the keypoint wrappers, the last
``n_codes`` features); the output rows are ``(x, y, status, one-hot category)`` of the M
tracks, the same layout as the input, so every keypoint extractor reads them.

Terminal observations (``infos[i]["terminal_observation"]``, already keypoints) advance the
finished sub-env's tracks once more before its tracks are freed for the new episode.

Example::

    venv = MintKeypointVecEnv(DummyVecEnv([...]), "encoder.pt",
                              options=ObservationOptions(glimpse_size=5, colour_codes=codebook))
    venv = TrackedKeypointVecEnv(venv, n_codes=len(codebook), image_size=(64, 64))
    venv = VecFrameStack(venv, n_stack=2)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from mint_rl.tracking import KeypointTracker, TrackerConfig

__all__ = ["TrackedKeypointVecEnv"]


class TrackedKeypointVecEnv(VecEnvWrapper):
    """Keypoint rows in, tracked entity rows out (see the module docstring).

    :param venv: a VecEnv with box keypoint observations ``(K, 3 + F)`` (not frame-stacked).
    :param n_codes: the features are a one-hot category of ``n_codes`` (0: no features, one category for all).
    :param image_size: ``(H, W)`` of the frames the keypoints come from (the encoder's input).
    :param config: tracker settings; ``slots`` defaults to K.
    """

    def __init__(self, venv: VecEnv, n_codes: int, image_size: tuple[int, int],
                 config: TrackerConfig | None = None) -> None:
        space = venv.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 2 or space.shape[1] < 3:
            raise ValueError(f"TrackedKeypointVecEnv needs box keypoint observations (K, 3 + F) from "
                             f"MintKeypointVecEnv (obs_format='box', before VecFrameStack), got {space}")
        k, d = space.shape
        if isinstance(n_codes, bool) or not isinstance(n_codes, (int, np.integer)) or n_codes != d - 3:
            raise ValueError(f"TrackedKeypointVecEnv: the keypoint rows carry F = {d - 3} features but n_codes is "
                             f"{n_codes!r}: the features must be exactly the one-hot colour codes (colour_codes of "
                             "MintKeypointWrapper, encoder feature_dim 0), or none with n_codes=0")
        self.n_codes = int(n_codes)
        self.tracker_config = config or TrackerConfig(slots=k)
        m = self.tracker_config.slots
        self.tracker = KeypointTracker(venv.num_envs, image_size, self.tracker_config)
        low = np.concatenate([[-1.0, -1.0, 0.0], np.zeros(self.n_codes)]).astype(np.float32)
        high = np.concatenate([[1.0, 1.0, 1.0], np.ones(self.n_codes)]).astype(np.float32)
        out = gym.spaces.Box(np.tile(low, (m, 1)), np.tile(high, (m, 1)), dtype=np.float32)
        super().__init__(venv, observation_space=out)

    def _rows(self, obs: np.ndarray, new_episode: np.ndarray | None, index: np.ndarray | None = None) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        codes = obs[..., obs.shape[-1] - self.n_codes:] if self.n_codes else None
        cats = None if codes is None else codes.argmax(-1)
        coords, status, cat = self.tracker.update(obs[..., :2], obs[..., 2], cats, new_episode, index)
        parts = [coords, status[..., None]]
        if self.n_codes:
            onehot = np.zeros(cat.shape + (self.n_codes,), dtype=np.float32)
            live = cat >= 0
            onehot[live, cat[live]] = 1.0
            parts.append(onehot)
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        return self._rows(obs, np.ones(self.num_envs, dtype=bool))

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            terminal = infos[i].get("terminal_observation")
            if terminal is not None:  # the old episode's last frame: advance its tracks once more
                infos[i]["terminal_observation"] = self._rows(np.asarray(terminal)[None], None, np.array([i]))[0]
        return self._rows(obs, np.asarray(dones, dtype=bool)), rewards, dones, infos
