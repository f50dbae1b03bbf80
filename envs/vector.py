"""MINT keypoints as observations for Gymnasium vector envs: one batched encoder forward per step.

:class:`MintKeypointVectorWrapper` is :class:`envs.wrappers.MintKeypointWrapper` for a
``gymnasium.vector.VectorEnv``: the N sub-envs' frames (or frame stacks) are resized and
encoded in **one** forward pass per ``step`` / ``reset``, and the keypoint observations come
back batched, ``(N, K, 2 + 1 + F)`` (or ``(N, S, K, 2 + 1 + F)`` for frame-stacked input, or
a ``Dict`` of batched arrays). Everything else (input layouts, output formats and bounds,
frozen or online encoders, errors) is the single-env wrapper's, shared through
:class:`envs.keypoint_observation.KeypointObserver`::

    from envs.atari import make_atari_env
    from envs.keypoint_observation import ObservationOptions
    from envs.vector import MintKeypointVectorWrapper

    venv = MintKeypointVectorWrapper(make_atari_env("ALE/Pong-v5", num_envs=8), "encoder.pt")
    obs, infos = venv.reset(seed=0)          # (8, K, 2 + 1 + F) float32
    venv = MintKeypointVectorWrapper(make_atari_env("ALE/Pong-v5", num_envs=8), "encoder.pt",
                                     options=ObservationOptions(obs_format="dict"))  # Dict of (8, K, ...)

    venv = gym.make_vec("MintScenes/Bouncing-v0", 4, vectorization_mode="sync")
    venv = MintKeypointVectorWrapper(venv, online=True)   # MintConfig built from the space: venv.config

Frames are checked against the declared space at every reset and step
(:class:`envs.keypoint_observation.FrameCheck`): the batch as it arrives and, for a ``SyncVectorEnv``
(whose ``envs`` list the wrapper wraps in place), each sub-env's frames before they are
batched, so the error names the sub-env.

Autoreset
---------
The default ``NEXT_STEP`` mode is supported: the step after a sub-env terminates or
truncates returns its reset observation, which is encoded like any other and, online,
starts a new episode in that sub-env's frame buffer. ``DISABLED`` is supported too (a
``reset(options={"reset_mask": mask})`` starts new episodes in the masked sub-envs only and
adds no frame for the others). ``SAME_STEP`` is refused: it returns the final observation
of an episode in ``infos``, which gymnasium's vector observation wrappers do not transform.

Online co-training (``online=True`` or ``online=OnlineOptions(...)``) keeps one
:class:`~mint_rl.data.FrameBuffer` per sub-env (``OnlineOptions.buffer_size`` frames in total,
split evenly), so no training clip mixes sub-envs or spans a reset; ``update_every`` counts
frames over all sub-envs (N per vector step), so a round runs after the same amount of
experience as with one env. ``update_encoder``, ``save_encoder``, ``draw`` and the rest of
:class:`envs.wrappers.KeypointAdapterMixin` work as on the single-env wrapper.

For velocities stack keypoint observations: SB3's ``VecFrameStack`` on the SB3 side, or
stack frames before encoding (``make_atari_env(num_envs=N, frame_stack=S)``).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch.nn as nn
from gymnasium.vector import AutoresetMode, VectorEnv, VectorObservationWrapper
from gymnasium.vector.utils import batch_space

from envs.keypoint_observation import KeypointObserver, ObservationOptions, refuse_moved_arguments
from envs.wrappers import KeypointAdapterMixin, describe_env
from mint_rl.online import OnlineOptions

__all__ = ["MintKeypointVectorWrapper"]


def _autoreset_mode(env: VectorEnv) -> AutoresetMode:
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    try:
        mode = AutoresetMode(mode)
    except ValueError:
        raise ValueError(f"unknown autoreset_mode {mode!r} in the vector env's metadata") from None
    if mode == AutoresetMode.SAME_STEP:
        raise ValueError(
            "MintKeypointVectorWrapper supports the NEXT_STEP (default) and DISABLED autoreset modes, not "
            "SAME_STEP: in SAME_STEP mode the final observation of an episode is returned in "
            "infos['final_obs'] and would reach the agent as raw pixels. Build the vector env with "
            "autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP (e.g. make_atari_env(num_envs=N) or "
            "gym.make_vec(..., vector_kwargs={'autoreset_mode': AutoresetMode.NEXT_STEP})).")
    return mode


class MintKeypointVectorWrapper(KeypointAdapterMixin, VectorObservationWrapper, gym.utils.RecordConstructorArgs):
    """Image observations of a vector env → batched MINT keypoint observations.

    :param env: a ``gymnasium.vector.VectorEnv`` whose ``single_observation_space`` holds
        images (see :class:`envs.wrappers.MintKeypointWrapper` for the layouts), in
        ``NEXT_STEP`` or ``DISABLED`` autoreset mode.

    The other parameters (``encoder``, ``online``, ``options``: an
    :class:`~envs.keypoint_observation.ObservationOptions`, ``render_scale``) are those of
    :class:`envs.wrappers.MintKeypointWrapper`; in ``online=OnlineOptions(...)``, ``buffer_size``
    is the total over sub-envs and ``update_every`` counts frames of all sub-envs.
    """

    def __init__(
        self,
        env: VectorEnv,
        encoder: str | os.PathLike | nn.Module | None = None,
        *,
        online: bool | OnlineOptions = False,
        options: ObservationOptions | None = None,
        render_scale: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(env, VectorEnv):
            raise TypeError(f"MintKeypointVectorWrapper wraps a gymnasium.vector.VectorEnv, got {type(env).__name__}; "
                            "use envs.wrappers.MintKeypointWrapper for a single env")
        owner = f"{type(self).__name__}({describe_env(env)})"
        refuse_moved_arguments(owner, kwargs)
        mode = _autoreset_mode(env)
        gym.utils.RecordConstructorArgs.__init__(self, encoder=encoder, online=online, options=options,
                                                 render_scale=render_scale)
        VectorObservationWrapper.__init__(self, env)
        self.observer = KeypointObserver(env.single_observation_space, encoder, online=online, options=options,
                                         num_streams=env.num_envs, owner=owner)
        self.observer.check_sub_envs(env.unwrapped, direct=env.unwrapped is env)
        self.single_observation_space = self.observer.observation_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.autoreset_mode = mode
        self.render_scale = render_scale
        self._autoreset = np.zeros(self.num_envs, dtype=bool)  # sub-envs whose next step is a reset

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        """Reset (all, or the sub-envs of ``options["reset_mask"]``); online, each reset
        sub-env starts a new episode in its buffer."""
        mask = None if options is None else options.get("reset_mask")
        obs, infos = self.env.reset(seed=seed, options=options)
        if mask is None:
            reset = np.ones(self.num_envs, dtype=bool)
        else:
            reset = np.asarray(mask, dtype=bool)
        self._autoreset[reset] = False
        return self.observer.observe(obs, new_episode=reset, include=reset, where="reset"), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs, encode their frames in one forward; online, add them to the
        buffers (an autoreset frame starts a new episode) and maybe run an update round."""
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            new_episode = self._autoreset.copy()
            self._autoreset = np.logical_or(terminations, truncations)
        else:  # DISABLED: episodes restart only through reset(options={"reset_mask": ...})
            new_episode = np.zeros(self.num_envs, dtype=bool)
        keypoints = self.observer.observe(obs, new_episode=new_episode, env_steps=self.num_envs, where="step")
        return keypoints, rewards, terminations, truncations, infos

    def observations(self, observations: Any) -> Any:
        """Encode a batch of image observations (no buffer, no counting)."""
        return self.observer.encode(self.observer.frames(observations))

    def render(self) -> Any:
        """The sub-envs' frames with their current keypoints drawn (``"rgb_array"`` mode);
        other modes pass through."""
        frames = self.env.render()
        if not isinstance(frames, (tuple, list)) or len(frames) != self.num_envs:
            return frames
        out = [self.draw(f, i)
               if isinstance(f, np.ndarray) and f.dtype == np.uint8 and f.ndim in (2, 3) else f
               for i, f in enumerate(frames)]
        return type(frames)(out)
