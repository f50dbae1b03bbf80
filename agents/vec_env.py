"""SB3 ``VecEnvWrapper`` that turns image observations into MINT keypoint observations.

One batched encoder forward per step for all sub-envs (the work is shared with the
Gymnasium wrappers through :class:`envs.wrappers.KeypointObserver`). SB3 vec envs reset a
finished sub-env inside ``step`` and put the last observation of the old episode in
``infos[i]["terminal_observation"]``; that observation is encoded too, so value
bootstrapping on truncation sees keypoints, as ``VecTransposeImage`` does for images.

Online co-training: frames enter per-sub-env buffers as they are observed (episode
boundaries recorded at every reset), but the encoder is updated only when
:meth:`MintKeypointVecEnv.update_encoder` is called — by :class:`agents.callbacks.OnlineEncoderCallback`
at the end of each PPO rollout — so one rollout always sees one encoder.

Frames are checked against the declared space at every reset and step
(:class:`envs.wrappers.FrameCheck`). SB3's ``DummyVecEnv`` copies each sub-env's frame into
a buffer of the space's dtype, which casts silently (float frames in [0, 1] become black
uint8 frames, int16 300 becomes 44), so for a ``DummyVecEnv`` the adapter also wraps its
sub-envs (``venv.envs``, in place) to check their frames before that copy; a
``SubprocVecEnv`` stacks the frames as they are, and the batch check sees them.

Example::

    venv = DummyVecEnv([lambda: gym.make("MintTasks/Catch-v0")] * 8)
    venv = MintKeypointVecEnv(venv, "runs/pretrain/encoder.pt")          # frozen
    venv = MintKeypointVecEnv(venv, online=True)  # co-trained, MintConfig built from the space: venv.config
    venv = VecFrameStack(venv, n_stack=2)                                 # keypoint velocity
    PPO("MlpPolicy", venv, policy_kwargs=dict(features_extractor_class=KeypointSetExtractor,
        features_extractor_kwargs=dict(n_stack=2)))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from envs.wrappers import KeypointObserver, describe_env
from mint_rl.config import MintConfig

__all__ = ["MintKeypointVecEnv"]


class MintKeypointVecEnv(VecEnvWrapper):
    """Image observations in, keypoint observations out, for SB3 vec envs.

    :param venv: an SB3 VecEnv with image observations (uint8 ``(H, W, C)``, grey ``(H, W)``,
        or frame-stacked; any size, resized to the encoder's input).
    :param encoder: a checkpoint path, an encoder module, or None with ``online=True`` (and
        a ``config``, or one built from the observation space: see :attr:`config`).
    :param online: co-train the encoder on the frames the agent sees (updates only on
        :meth:`update_encoder`).
    :param kwargs: the other keyword arguments of :class:`envs.wrappers.MintKeypointWrapper`
        (``config``, ``obs_format``, ``device``, ``feature_bound``, ``grey_to_rgb``, ``layout``,
        ``buffer_size``, ``updates_per_round``, ``batch_size``).
    """

    def __init__(self, venv: VecEnv, encoder: str | os.PathLike | torch.nn.Module | None = None, *,
                 online: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("auto_update", False)
        self.observer = KeypointObserver(venv.observation_space, encoder, online=online,
                                         num_streams=venv.num_envs, owner=f"MintKeypointVecEnv({describe_env(venv)})",
                                         **kwargs)
        self.observer.check_sub_envs(venv.unwrapped, direct=venv.unwrapped is venv)
        super().__init__(venv, observation_space=self.observer.observation_space)

    @property
    def encoder(self) -> torch.nn.Module:
        """The encoder producing the observations."""
        return self.observer.encoder

    @property
    def config(self) -> MintConfig:
        """The :class:`~mint_rl.config.MintConfig` in use (the encoder's, the online one, or
        the one built from the observation space when ``online=True`` came without one)."""
        return self.observer.config

    @property
    def mint_config(self) -> MintConfig:
        """Same as :attr:`config`."""
        return self.observer.config

    def reset(self) -> Any:
        obs = self.venv.reset()
        return self.observer.observe(obs, new_episode=np.ones(self.num_envs, dtype=bool), env_steps=0, where="reset")

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        # per index, as SB3 reads them: a finished env may come without one (then it stays without)
        done_idx = [i for i in np.flatnonzero(dones) if infos[i].get("terminal_observation") is not None]
        if done_idx:
            terminal = np.stack([infos[i]["terminal_observation"] for i in done_idx])
            encoded = self.observer.encode(self.observer.frames(terminal, "terminal_observation"))
            for j, i in enumerate(done_idx):
                infos[i]["terminal_observation"] = _index(encoded, j)
        keypoints = self.observer.observe(obs, new_episode=np.asarray(dones, dtype=bool), env_steps=self.num_envs,
                                          where="step")
        return keypoints, rewards, dones, infos

    def update_encoder(self, n_steps: int | None = None) -> list[dict[str, float]]:
        """Run a round of MINT optimiser steps on the buffered frames (online mode)."""
        if self.observer.online is None:
            raise RuntimeError("update_encoder needs online=True")
        return self.observer.online.update(n_steps)

    def render(self, mode: str | None = None) -> np.ndarray | None:
        frame = self.venv.render(mode=mode) if mode else self.venv.render()
        return None if frame is None else self.observer.draw(frame)


def _index(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
