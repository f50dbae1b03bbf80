"""Online co-training of a MINT encoder on the frames an agent sees: its options and its trainer.

:class:`OnlineOptions` holds how an encoder is co-trained (buffer size, update schedule, batch
size, checkpointing); the keypoint adapters take it as their ``online`` argument::

    from envs.wrappers import MintKeypointWrapper
    from mint_rl.online import OnlineOptions

    env = MintKeypointWrapper(env, online=True)                                      # the defaults
    env = MintKeypointWrapper(env, online=OnlineOptions(update_every=500, auto_update=False))

:class:`OnlineEncoderTrainer` does the work: one bounded :class:`~mint_rl.data.FrameBuffer` per
frame stream (sub-env) at the encoder's input size, each frame's local entropy computed once on
entry, and a :class:`~mint_rl.trainer.MintTrainer` whose optimiser updates the encoder in place.
It knows nothing of environments (no gymnasium here): the adapters in ``envs`` and ``agents``
feed it frames, episode starts and step counts.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.data import FrameBuffer
from mint_rl.encoder import KeypointEncoder
from mint_rl.trainer import MintTrainer, make_entropy

__all__ = ["OnlineOptions", "OnlineEncoderTrainer", "online_options"]


@dataclass(frozen=True)
class OnlineOptions:
    """How an encoder is co-trained online (the ``online`` argument of the keypoint adapters).

    Checked on construction: a bad value raises ``ValueError`` naming the field.

    :param buffer_size: frames kept (uint8 at the encoder's input size), the total over the
        frame streams (sub-envs), split evenly (at least one clip per stream).
    :param update_every: with ``auto_update``, env steps between update rounds (frames, summed
        over sub-envs: a vector env of N sub-envs counts N per step).
    :param updates_per_round: optimiser steps per round (also the default of
        ``update_encoder()``).
    :param batch_size: clips per optimiser step (None: ``config.batch_size``).
    :param auto_update: run rounds automatically every ``update_every`` env steps; False leaves
        them to ``update_encoder()`` (e.g. between rollouts). None: the adapter's default, True
        for :class:`OnlineEncoderTrainer` and the gymnasium wrappers
        (``envs.wrappers.MintKeypointWrapper``, ``envs.vector.MintKeypointVectorWrapper``),
        False for the SB3 adapter ``agents.vec_env.MintKeypointVecEnv`` (whose
        ``OnlineEncoderCallback`` updates between rollouts, so one rollout sees one encoder).
    :param checkpoint_path: save the co-training state (without the buffer) to this file
        after every round (None: never).
    """

    buffer_size: int = 10_000
    update_every: int = 1_000
    updates_per_round: int = 50
    batch_size: int | None = None
    auto_update: bool | None = None
    checkpoint_path: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        for name in ("buffer_size", "update_every", "updates_per_round"):
            value = getattr(self, name)
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (config.batch_size), got {self.batch_size}")

    def resolved(self, auto_update: bool = True) -> "OnlineOptions":
        """These options with ``auto_update`` None replaced by the adapter's default ``auto_update``."""
        return self if self.auto_update is not None else dataclasses.replace(self, auto_update=bool(auto_update))


def online_options(online: bool | OnlineOptions, auto_update: bool = True,
                   owner: str = "MintKeypointWrapper") -> OnlineOptions | None:
    """The ``online`` argument of a keypoint adapter → its options (None: a frozen encoder).

    :param online: False (frozen), True (co-trained with the default :class:`OnlineOptions`) or
        an :class:`OnlineOptions`.
    :param auto_update: the adapter's default for ``OnlineOptions.auto_update`` None.
    :param owner: who asks, for the message.
    :raises TypeError: for anything else.
    """
    if isinstance(online, OnlineOptions):
        return online.resolved(auto_update)
    if isinstance(online, (bool, np.bool_)):
        return OnlineOptions().resolved(auto_update) if online else None
    raise TypeError(f"{owner}: online must be False (frozen), True (co-trained with the default options) or an "
                    f"OnlineOptions(...) (mint_rl.online), got {online!r} ({type(online).__name__})")


class OnlineEncoderTrainer:
    """Co-trains a MINT :class:`~mint_rl.encoder.KeypointEncoder` on the frames an agent sees.

    Holds one bounded :class:`~mint_rl.data.FrameBuffer` per stream (sub-env), so no clip
    mixes sub-envs or spans a reset, and a :class:`~mint_rl.trainer.MintTrainer` whose
    optimiser updates the encoder in place. Shared by ``envs.wrappers.MintKeypointWrapper``
    (one stream), ``envs.vector.MintKeypointVectorWrapper`` and ``agents.vec_env.MintKeypointVecEnv``
    (one stream per sub-env).

    :param config: hyperparameters (architecture, losses, optimiser, ``batch_size``,
        ``clip_length``, ``seed``). Building the trainer seeds Python, NumPy and torch with
        ``config.seed`` (:func:`mint_rl.utils.seed_everything`).
    :param encoder: the encoder to train; None builds one from ``config`` (after seeding, so
        its initialisation is reproducible).
    :param device: where the encoder trains.
    :param num_streams: number of independent frame streams (sub-envs).
    :param options: buffer size, update schedule, batch size and checkpointing
        (:class:`OnlineOptions`; None: the defaults, ``auto_update`` None meaning True). The
        trainer keeps them as :attr:`options` and copies the schedule into attributes
        (``update_every``, ``updates_per_round``, ``batch_size``, ``auto_update``,
        ``checkpoint_path``) that may be changed later.
    """

    def __init__(self, config: MintConfig, encoder: KeypointEncoder | None = None, *,
                 device: str | torch.device = "cpu", num_streams: int = 1,
                 options: OnlineOptions | None = None) -> None:
        if encoder is not None and not isinstance(encoder, KeypointEncoder):
            raise TypeError(f"online co-training trains a MINT KeypointEncoder with the MINT losses; got "
                            f"{type(encoder).__name__}. Use a frozen encoder (online=False) for baselines.")
        if int(num_streams) < 1:
            raise ValueError(f"num_streams must be >= 1, got {num_streams}")
        if options is not None and not isinstance(options, OnlineOptions):
            raise TypeError(f"options must be an OnlineOptions (mint_rl.online) or None, got {type(options).__name__}")
        options = (options or OnlineOptions()).resolved(auto_update=True)
        self.options = options
        self.config = config
        self.trainer = MintTrainer(config, device, encoder=encoder)
        self.encoder: KeypointEncoder = self.trainer.encoder
        self.num_streams = int(num_streams)
        self.update_every = int(options.update_every)
        self.updates_per_round = int(options.updates_per_round)
        self.batch_size = int(options.batch_size or config.batch_size)
        self.auto_update = bool(options.auto_update)
        self.checkpoint_path = options.checkpoint_path
        capacity = max(math.ceil(int(options.buffer_size) / self.num_streams), config.clip_length)
        frame_shape = (config.in_channels, *config.image_size)
        entropy = make_entropy(config)
        self.buffers = [FrameBuffer(capacity, frame_shape, config.grid_size, entropy_fn=entropy)
                        for _ in range(self.num_streams)]
        self.env_steps = 0  # frames recorded by record_steps, over all streams
        self.rounds = 0  # update rounds run
        self.last_terms: list[dict[str, float]] = []  # loss terms of the last round
        self._since_update = 0

    # ------------------------------------------------------------------ data
    def add(self, frames: torch.Tensor, new_episode: Sequence[bool] | np.ndarray,
            include: Sequence[bool] | np.ndarray | None = None) -> None:
        """Add one frame per stream.

        :param frames: ``(N, C, H, W)`` uint8 at the encoder's input size, N = ``num_streams``.
        :param new_episode: ``(N,)`` bool: frame i starts a new episode of stream i (a reset).
        :param include: ``(N,)`` bool: add only these streams' frames (e.g. the sub-envs of a
            masked vector reset); None adds all.
        """
        if frames.shape[0] != self.num_streams:
            raise ValueError(f"expected one frame per stream ({self.num_streams}), got {frames.shape[0]}")
        for i, buffer in enumerate(self.buffers):
            if include is None or include[i]:
                buffer.add(frames[i:i + 1], new_episode=bool(new_episode[i]))

    def num_clips(self) -> int:
        """Valid training clips (of ``config.clip_length`` frames) over all streams."""
        return sum(b.num_clips(self.config.clip_length) for b in self.buffers)

    @property
    def ready(self) -> bool:
        """Whether at least one clip can be sampled."""
        return self.num_clips() > 0

    def sample(self, batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips from the buffers, each stream chosen in proportion to its valid clips.

        :return: frames ``(B, T, C, H, W)`` uint8 and entropy ``(B, T, H', W')`` float32.
        """
        b, t = batch_size or self.batch_size, self.config.clip_length
        counts = np.array([buf.num_clips(t) for buf in self.buffers], dtype=np.float64)
        if counts.sum() == 0:
            raise ValueError(f"no clip of {t} frames in the buffers yet ({sum(len(x) for x in self.buffers)} frames)")
        per_stream = self.trainer.rng.multinomial(b, counts / counts.sum())
        parts = [buf.sample(int(n), t, self.trainer.rng) for buf, n in zip(self.buffers, per_stream) if n > 0]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    # ------------------------------------------------------------------ training
    def record_steps(self, n: int = 1) -> list[dict[str, float]]:
        """Count ``n`` env steps; with ``auto_update``, run a round when ``update_every`` is reached.

        :return: the loss terms of the round run now ([] if none).
        """
        self.env_steps += int(n)
        self._since_update += int(n)
        if self.auto_update and self._since_update >= self.update_every and self.ready:
            return self.update()
        return []

    def update(self, n_steps: int | None = None) -> list[dict[str, float]]:
        """Run ``n_steps`` optimiser steps now (default ``updates_per_round``).

        :return: the loss terms of every step; [] (nothing run) while the buffers hold no clip.
        """
        if not self.ready:
            return []
        n = self.updates_per_round if n_steps is None else int(n_steps)
        terms = []
        for _ in range(n):
            frames, entropy = self.sample()
            terms.append(self.trainer.step(frames, entropy))
        self._since_update = 0
        self.rounds += 1
        self.last_terms = terms
        if self.checkpoint_path is not None and n > 0:
            self.save(self.checkpoint_path, include_buffer=False)
        return terms

    # ------------------------------------------------------------------ state
    def state_dict(self, include_buffer: bool = True) -> dict[str, Any]:
        """Counters and (optionally) the buffers; the trainer's state is saved by :meth:`save`."""
        return {"env_steps": self.env_steps, "since_update": self._since_update, "rounds": self.rounds,
                "num_streams": self.num_streams,
                "buffers": [b.state_dict() for b in self.buffers] if include_buffer else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env_steps = int(state["env_steps"])
        self._since_update = int(state["since_update"])
        self.rounds = int(state["rounds"])
        if state.get("buffers") is not None:
            if len(state["buffers"]) != self.num_streams:
                raise ValueError(f"the saved state has {len(state['buffers'])} frame streams, this trainer "
                                 f"{self.num_streams} (a different number of sub-envs)")
            for buffer, saved in zip(self.buffers, state["buffers"]):
                buffer.load_state_dict(saved)

    def save(self, path: str | os.PathLike, include_buffer: bool = False) -> os.PathLike:
        """Atomically write encoder, optimiser, step, RNG states, counters and (optionally) the
        buffers to ``path``; loadable by :func:`mint_rl.baselines.load_encoder` too."""
        payload = self.trainer.state()
        payload["online"] = self.state_dict(include_buffer)
        return save_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> dict[str, Any]:
        """Restore what :meth:`save` wrote (the config must match on architecture fields).
        The buffers are restored only if they were saved."""
        data = self.trainer.load(path)
        if "online" in data:
            self.load_state_dict(data["online"])
        return data

