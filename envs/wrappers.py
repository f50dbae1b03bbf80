"""MINT keypoints as observations: a Gymnasium observation wrapper, frozen or co-trained online.

:class:`MintKeypointWrapper` turns image observations into K keypoints per frame::

    from envs.atari import make_atari_env
    from envs.wrappers import MintKeypointWrapper

    env = MintKeypointWrapper(make_atari_env("ALE/Pong-v5"), "runs/pong/encoder.pt")
    obs, info = env.reset(seed=0)        # (K, 2 + 1 + F) float32: x, y, status, features

This module holds the Gymnasium wrapper and :class:`KeypointAdapterMixin`, the public API it
shares with the vector adapters (``envs.vector``, ``agents.vec_env``).

Observations
------------
How frames become keypoints is one :class:`~envs.keypoint_observation.ObservationOptions`, the
``options`` argument (the encoder's ``config`` and ``device``, ``obs_format``, ``feature_bound``,
``layout``, ``grey_to_rgb``, the glimpse options), shared by the three adapters::

    from envs.wrappers import ObservationOptions

    env = MintKeypointWrapper(env, ckpt, options=ObservationOptions(obs_format="dict", device="cuda"))

What the wrapper accepts and returns is described in :mod:`envs.keypoint_observation`, which
produces it (:class:`~envs.keypoint_observation.KeypointObserver`): the observation format,
one row ``(x, y, status, features...)`` per keypoint with ``x, y`` in [-1, 1], y down,
pixel-centre aligned (``mint_rl/coords.py``); the ``"box"`` and ``"dict"`` spaces
(:func:`~envs.keypoint_observation.keypoint_space`, ``obs_format``); the input layouts
(:class:`~envs.keypoint_observation.ImageLayout`, ``layout``); the step-time frame checks
(:class:`~envs.keypoint_observation.FrameCheck`, :class:`~envs.keypoint_observation.ObservationError`);
and the config built from the space (:func:`~envs.keypoint_observation.default_mint_config`).
Those names are re-exported here, so ``from envs.wrappers import ImageLayout`` keeps working.

``MintKeypointWrapper(env, online=True)`` without ``ObservationOptions.config`` builds one from the
observation space, logs it (logger ``envs.wrappers``, level INFO) and exposes the config in use as
``wrapper.config`` (frozen or online). The one-liners::

    import ale_py, gymnasium as gym
    gym.register_envs(ale_py)
    env = MintKeypointWrapper(gym.make("ALE/Pong-v5"), online=True)            # co-trained
    env = MintKeypointWrapper(gym.make("ALE/Pong-v5"), "runs/pong/encoder.pt")  # frozen

Velocity
--------
One keypoint observation is a snapshot. For velocities, stack keypoint observations::

    env = gym.wrappers.FrameStackObservation(MintKeypointWrapper(env, ckpt), 2)  # (2, K, D)

and, for SB3 vector envs, ``VecFrameStack(venv, 2)`` (stacks along the last axis). Stacking
the *frames* before the wrapper instead (``make_atari_env(frame_stack=S)``) encodes each of
the S frames and gives the same ``(S, K, D)`` layout at S times the encoder cost.

Online co-training
------------------
With ``online=True`` (or ``online=OnlineOptions(...)``, :class:`mint_rl.online.OnlineOptions`)
the wrapper also trains its encoder with the MINT losses on the frames the agent sees
(:class:`~mint_rl.online.OnlineEncoderTrainer`): every frame enters a bounded uint8
:class:`~mint_rl.data.FrameBuffer` of ``buffer_size`` frames at the encoder's input size, with
its local entropy computed once on entry; a reset starts a new episode, so no training clip
spans a reset; with ``auto_update`` (the default) every ``update_every`` env steps the wrapper
runs ``updates_per_round`` :meth:`~mint_rl.trainer.MintTrainer.step` s on clips sampled from
the buffer. Pass ``online=OnlineOptions(auto_update=False)`` and call
:meth:`~KeypointAdapterMixin.update_encoder` between rollouts (e.g. from an SB3 callback's
``_on_rollout_end``) to keep the encoder fixed during a rollout::

    env = MintKeypointWrapper(env, online=OnlineOptions(buffer_size=5_000, auto_update=False))

:meth:`~KeypointAdapterMixin.save_encoder` writes the encoder (co-trained or frozen) as an
atomic mint-rl checkpoint that :func:`mint_rl.baselines.load_encoder` reads;
:meth:`~KeypointAdapterMixin.save_online_state` / :meth:`~KeypointAdapterMixin.load_online_state`
save and restore encoder, optimiser, step, RNG and (optionally) the buffer.
:meth:`~KeypointAdapterMixin.draw` draws the newest keypoints on a frame. The vector adapters
(``envs.vector``, ``agents.vec_env``) have the same methods (:class:`KeypointAdapterMixin`).

The encoder always runs in eval mode under ``torch.no_grad`` to produce observations (its
previous train/eval mode is restored), so a frozen encoder is never changed by the wrapper.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch.nn as nn

from envs.keypoint_observation import (DEFAULT_IMAGE_SIZE, DEFAULT_MAX_SIDE, GLIMPSE_AT, LAYOUTS, OBS_FORMATS,
                                       FrameCheck, FrameCheckWrapper, ImageLayout, KeypointObserver,
                                       ObservationError, ObservationOptions, default_mint_config, keypoint_space,
                                       refuse_moved_arguments)
from envs import keypoint_observation as _observation
from mint_rl.baselines import save_encoder
from mint_rl.config import MintConfig
from mint_rl.online import OnlineEncoderTrainer, OnlineOptions

__all__ = [
    "MintKeypointWrapper",
    "KeypointAdapterMixin",
    "describe_env",
    # re-exported from mint_rl.online
    "OnlineOptions",
    "OnlineEncoderTrainer",
    # re-exported from envs.keypoint_observation
    *_observation.__all__,
]


def describe_env(env: Any) -> str:
    """A short name of an env for messages: its registered id (else its class), and for a
    vector env (gymnasium or SB3) ``"<id> × N"``."""

    def one(e: Any) -> str:
        try:
            spec = getattr(e, "spec", None)
            if spec is not None and getattr(spec, "id", None):
                return str(spec.id)
        except Exception:  # a wrapper whose spec cannot be built
            pass
        return type(getattr(e, "unwrapped", e)).__name__

    n = getattr(env, "num_envs", None)
    if n is None:
        return one(env)
    base = getattr(env, "unwrapped", env)
    subs = getattr(base, "envs", None)
    name = one(subs[0]) if isinstance(subs, (list, tuple)) and subs else one(env)
    return f"{name} × {n}"


# ---------------------------------------------------------------------------- the wrapper
class KeypointAdapterMixin:
    """The public API the three keypoint adapters share: :class:`MintKeypointWrapper`,
    :class:`envs.vector.MintKeypointVectorWrapper` and :class:`agents.vec_env.MintKeypointVecEnv`.

    * :attr:`encoder`, :attr:`config`: the encoder producing the observations and its MintConfig;
    * :attr:`observation_options`: the :class:`ObservationOptions` in use;
    * :attr:`online_trainer`: the :class:`OnlineEncoderTrainer` (None for a frozen encoder);
    * :meth:`update_encoder` ``(n_steps=None)``: a round of MINT optimiser steps now (online);
    * :meth:`save_encoder` ``(path)``: the encoder, co-trained or frozen, as a checkpoint;
    * :meth:`save_online_state` / :meth:`load_online_state`: the whole co-training state (online);
    * :meth:`draw` ``(frame, index=0)``: a frame with observation ``index``'s keypoints drawn;
    * :attr:`auto_update`, :attr:`check_frames`: switches of the update schedule and the frame checks.

    The class using it sets ``self.observer``, a :class:`KeypointObserver` (and may set
    ``render_scale``); every method reaches the encoder and its trainer through it, so callers
    need not.
    """

    observer: KeypointObserver
    render_scale: int | None = None

    @property
    def encoder(self) -> nn.Module:
        """The encoder producing the observations."""
        return self.observer.encoder

    @property
    def config(self) -> MintConfig:
        """The :class:`~mint_rl.config.MintConfig` in use: the encoder's (frozen), the one
        driving co-training (online), or the one built from the observation space when an
        online adapter came without one (:func:`default_mint_config`)."""
        return self.observer.config

    @property
    def mint_config(self) -> MintConfig:
        """Same as :attr:`config` (kept for compatibility)."""
        return self.observer.config

    @property
    def observation_options(self) -> ObservationOptions:
        """The :class:`ObservationOptions` in use (the defaults when the adapter got none): pass
        them to another adapter for the same observations of the same encoder."""
        return self.observer.options

    @property
    def online_trainer(self) -> OnlineEncoderTrainer | None:
        """The :class:`OnlineEncoderTrainer` (None for a frozen encoder); its ``options`` are
        the :class:`OnlineOptions` in use."""
        return self.observer.online

    def _need_online(self, what: str) -> OnlineEncoderTrainer:
        if self.observer.online is None:
            raise RuntimeError(f"{self.observer.owner}: {what} needs online co-training; the encoder is frozen "
                               "(construct the adapter with online=True or online=OnlineOptions(...))")
        return self.observer.online

    @property
    def auto_update(self) -> bool:
        """Whether update rounds run automatically every ``update_every`` env steps."""
        return self.observer.online is not None and self.observer.online.auto_update

    @auto_update.setter
    def auto_update(self, value: bool) -> None:
        self._need_online("auto_update").auto_update = bool(value)

    @property
    def check_frames(self) -> bool:
        """Whether frames are checked against the declared space at every reset and step
        (:class:`FrameCheck`; default True)."""
        return self.observer.check_frames

    @check_frames.setter
    def check_frames(self, value: bool) -> None:
        self.observer.check_frames = value

    def update_encoder(self, n_steps: int | None = None) -> list[dict[str, float]]:
        """Run ``n_steps`` MINT optimiser steps on clips from the frame buffers now.

        :param n_steps: optimiser steps (None: ``updates_per_round``).
        :return: every step's loss terms; [] while the buffers hold no full clip yet.
        :raises RuntimeError: for a frozen encoder.
        """
        return self._need_online("update_encoder").update(n_steps)

    def save_encoder(self, path: str | os.PathLike) -> Path:
        """Atomically write the encoder as a mint-rl checkpoint that
        :func:`mint_rl.baselines.load_encoder` reads (and a new adapter takes as ``encoder``).

        Online: the co-trained encoder with its optimiser, step and RNG states
        (:meth:`save_online_state` without the buffer). Frozen: its weights and config
        (:func:`mint_rl.baselines.save_encoder`).

        :param path: the checkpoint file (not a directory).
        :return: the path written.
        """
        online = self.observer.online
        if online is not None:
            return Path(online.save(path, include_buffer=False))
        return save_encoder(path, self.observer.encoder)

    def save_online_state(self, path: str | os.PathLike, include_buffer: bool = True) -> os.PathLike:
        """Atomically save the co-training state (encoder, optimiser, step, RNG, counters and,
        if ``include_buffer``, the frame buffer) as a mint-rl checkpoint."""
        return self._need_online("save_online_state").save(path, include_buffer=include_buffer)

    def load_online_state(self, path: str | os.PathLike) -> None:
        """Restore what :meth:`save_online_state` wrote (config must match on architecture)."""
        self._need_online("load_online_state").load(path)

    def draw(self, frame: np.ndarray, index: int = 0, scale: int | None = None) -> np.ndarray:
        """``frame`` (any size, RGB or grey uint8) with the newest keypoints of observation
        ``index`` (sub-env ``index`` of a vector adapter) drawn; unchanged before the first
        observation.

        :param scale: integer upscaling (None: ``render_scale``; when that is None too, small
            frames are upscaled to at least ~256 px).
        """
        return self.observer.draw(frame, index, self.render_scale if scale is None else scale)


class MintKeypointWrapper(KeypointAdapterMixin, gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Image observations → MINT keypoint observations (see the module docstring).

    :param env: an env with image observations (uint8 ``(H, W, C)``/``(H, W)``, float in
        [0, 1], or frame-stacked ``(S, H, W[, C])``; see ``ObservationOptions.layout``).
    :param encoder: a checkpoint path (``"mint"`` or ``"transporter"`` encoder, via
        :func:`mint_rl.baselines.load_encoder`), a shipped encoder's name (e.g. ``"pong"``:
        :mod:`envs.shipped_encoders`), an encoder module carrying its ``config``
        (moved to ``options.device``, shared, never trained unless ``online``), or None with
        ``online=True`` to co-train a new encoder.
    :param online: co-train the encoder (a MINT ``KeypointEncoder``) on the frames seen: True
        with the default :class:`~mint_rl.online.OnlineOptions`, or an ``OnlineOptions`` (buffer
        size, update schedule, batch size, checkpointing; its ``auto_update`` None means True
        here). False (default): a frozen encoder.
    :param options: how frames become keypoints, an :class:`ObservationOptions` (the encoder's
        ``config`` and ``device``, ``obs_format``, ``feature_bound``, ``layout``, ``grey_to_rgb``,
        ``glimpse_size``, ``glimpse_at``, ``colour_codes``); None: the defaults (``"box"``
        observations on the CPU, the config of the encoder or, online, built from the space).
    :param render_scale: integer upscaling of rendered frames (None: small frames are
        upscaled to at least ~256 px).
    :param kwargs: refused with a ``TypeError`` that says where they went: the observation keyword
        arguments of earlier versions (``obs_format=...``) are :class:`ObservationOptions` fields, the
        online ones (``buffer_size=...``) :class:`OnlineOptions` fields.
    """

    def __init__(
        self,
        env: gym.Env,
        encoder: str | os.PathLike | nn.Module | None = None,
        *,
        online: bool | OnlineOptions = False,
        options: ObservationOptions | None = None,
        render_scale: int | None = None,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__}({describe_env(env)})"
        refuse_moved_arguments(owner, kwargs)
        gym.utils.RecordConstructorArgs.__init__(self, encoder=encoder, online=online, options=options,
                                                 render_scale=render_scale)
        gym.ObservationWrapper.__init__(self, env)
        self.observer = KeypointObserver(env.observation_space, encoder, online=online, options=options,
                                         num_streams=1, owner=owner)
        self.observation_space = self.observer.observation_space
        self.render_scale = render_scale

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env; online, its first frame starts a new episode in the buffer."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._first(self.observer.observe(np.asarray(obs)[None], new_episode=[True], where="reset")), info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Step the env; online, add the new frame and maybe run an update round (before
        encoding, so the observation comes from the current encoder)."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        keypoints = self.observer.observe(np.asarray(obs)[None], new_episode=[False], env_steps=1, where="step")
        return self._first(keypoints), reward, terminated, truncated, info

    def observation(self, observation: Any) -> Any:
        """Encode one image observation (no buffer, no counting)."""
        return self._first(self.observer.encode(self.observer.frames(np.asarray(observation)[None])))

    @staticmethod
    def _first(batch: Any) -> Any:
        if isinstance(batch, dict):
            return {key: value[0] for key, value in batch.items()}
        return batch[0]

    def render(self) -> Any:
        """The env's frame with the current keypoints drawn (``"rgb_array"`` mode; upscaled,
        see ``render_scale``), so ``RecordVideo`` records keypoint videos. Other modes pass
        through."""
        frame = self.env.render()
        if isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim in (2, 3):
            return self.draw(frame, 0)
        return frame
