"""SB3 ``VecEnvWrapper`` that turns image observations into MINT keypoint observations.

One batched encoder forward per step for all sub-envs (the work is shared with the
Gymnasium wrappers through :class:`envs.keypoint_observation.KeypointObserver`). SB3 vec envs reset a
finished sub-env inside ``step`` and put the last observation of the old episode in
``infos[i]["terminal_observation"]``; that observation is encoded too, so value
bootstrapping on truncation sees keypoints, as ``VecTransposeImage`` does for images.

Online co-training (``online=True`` or ``online=OnlineOptions(...)``): frames enter
per-sub-env buffers as they are observed (episode boundaries recorded at every reset), but the
encoder is updated only when :meth:`~envs.wrappers.KeypointAdapterMixin.update_encoder` is
called — by :class:`agents.callbacks.OnlineEncoderCallback` at the end of each PPO rollout — so
one rollout always sees one encoder (``OnlineOptions.auto_update`` None means False here).
The adapter has the public API of the gymnasium wrappers
(:class:`envs.wrappers.KeypointAdapterMixin`): ``update_encoder``, ``save_encoder`` (the
co-trained or frozen encoder as a checkpoint), ``draw`` (a frame with a sub-env's keypoints),
``save_online_state`` / ``load_online_state``, ``encoder``, ``config``, ``online_trainer``.

Frames are checked against the declared space at every reset and step
(:class:`envs.keypoint_observation.FrameCheck`). SB3's ``DummyVecEnv`` copies each sub-env's frame into
a buffer of the space's dtype, which casts silently (float frames in [0, 1] become black
uint8 frames, int16 300 becomes 44), so for a ``DummyVecEnv`` the adapter also wraps its
sub-envs (``venv.envs``, in place) to check their frames before that copy; a
``SubprocVecEnv`` stacks the frames as they are, and the batch check sees them.

Example::

    venv = DummyVecEnv([lambda: gym.make("MintTasks/Catch-v0")] * 8)
    venv = MintKeypointVecEnv(venv, "runs/pretrain/encoder.pt")          # frozen
    venv = MintKeypointVecEnv(venv, online=True)  # co-trained, MintConfig built from the space: venv.config
    venv = MintKeypointVecEnv(venv, online=OnlineOptions(buffer_size=4_000, updates_per_round=20))
    venv = MintKeypointVecEnv(venv, "runs/pretrain/encoder.pt",                # 5×5 colour-coded glimpses
                              options=ObservationOptions(glimpse_size=5, colour_codes=codebook, device="cuda"))
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

from envs.keypoint_observation import KeypointObserver, ObservationOptions, refuse_moved_arguments
from envs.wrappers import KeypointAdapterMixin, describe_env
from mint_rl.online import OnlineOptions, online_options

__all__ = ["MintKeypointVecEnv"]


class MintKeypointVecEnv(KeypointAdapterMixin, VecEnvWrapper):
    """Image observations in, keypoint observations out, for SB3 vec envs.

    :param venv: an SB3 VecEnv with image observations (uint8 ``(H, W, C)``, grey ``(H, W)``,
        or frame-stacked; any size, resized to the encoder's input).
    :param encoder: a checkpoint path, a shipped encoder's name, an encoder module, or None with ``online`` (and a
        ``config``, or one built from the observation space: see :attr:`config`).
    :param online: co-train the encoder on the frames the agent sees: True with the default
        :class:`~mint_rl.online.OnlineOptions`, or an ``OnlineOptions`` (``buffer_size`` is the
        total over sub-envs; ``auto_update`` None means False: the encoder changes only on
        :meth:`update_encoder`). False (default): a frozen encoder.
    :param options: how frames become keypoints, an :class:`~envs.keypoint_observation.ObservationOptions`
        (the encoder's ``config`` and ``device``, ``obs_format``, ``feature_bound``, ``layout``,
        ``grey_to_rgb``, ``glimpse_size``, ``glimpse_at``, ``colour_codes``; None: the defaults), as
        for :class:`envs.wrappers.MintKeypointWrapper`.
    :param kwargs: refused with a ``TypeError`` that says where they went (``obs_format=...``:
        an ``ObservationOptions`` field; ``buffer_size=...``: an ``OnlineOptions`` field).
    """

    def __init__(self, venv: VecEnv, encoder: str | os.PathLike | torch.nn.Module | None = None, *,
                 online: bool | OnlineOptions = False, options: ObservationOptions | None = None,
                 **kwargs: Any) -> None:
        owner = f"MintKeypointVecEnv({describe_env(venv)})"
        refuse_moved_arguments(owner, kwargs)
        online_opts = online_options(online, auto_update=False, owner=owner)  # updates between rollouts
        self.observer = KeypointObserver(venv.observation_space, encoder,
                                         online=False if online_opts is None else online_opts, options=options,
                                         num_streams=venv.num_envs, owner=owner)
        self.observer.check_sub_envs(venv.unwrapped, direct=venv.unwrapped is venv)
        super().__init__(venv, observation_space=self.observer.observation_space)

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

    def render(self, mode: str | None = None) -> np.ndarray | None:
        frame = self.venv.render(mode=mode) if mode else self.venv.render()
        return None if frame is None else self.draw(frame)


def _index(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
