"""``MintTrainer``: trains a :class:`KeypointEncoder` with the MINT losses.

One :meth:`MintTrainer.step` takes a batch of clips; :meth:`MintTrainer.fit` samples clips
from a :class:`~mint_rl.data.FrameBuffer` and runs steps with a progress bar, TensorBoard
scalars for every loss term, keypoint-overlay images, periodic atomic checkpoints and
resume (weights, optimiser, step and RNG states, so a resumed run continues the same
sample sequence). :meth:`BaseTrainer.frame_buffer` fills that buffer from recorded frame
streams, with what the trainer's loss needs of each frame (MINT: its local entropy)
computed once; pretraining and the experiments train on recorded frames through it.

Under ``torchrun`` (``torch.distributed`` initialised) the encoder is wrapped in
DistributedDataParallel: every process samples the same global batch with the same RNG
and trains on its own shard, so N processes with global batch B compute the same update
as one process with batch B (up to float reduction order), provided the norm layers do
not depend on the batch split (use ``norm="group"`` or ``"none"``; BatchNorm statistics
differ per process and ``SyncBatchNorm`` is CUDA-only). Only rank 0 logs and writes
checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mint_rl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.data import FrameBuffer
from mint_rl.encoder import KeypointEncoder, check_encoder_frames
from mint_rl.entropy import LocalEntropy
from mint_rl.keypoints import Keypoints
from mint_rl.losses import MintLoss
from mint_rl.utils import flush_denormals, resolve_device, seed_everything

__all__ = ["BaseTrainer", "MintTrainer", "make_entropy", "is_main_process"]


def make_entropy(config: MintConfig) -> LocalEntropy:
    """The local-entropy layer a config asks for (frames at input size → entropy on the grid)."""
    return LocalEntropy(grid_size=config.grid_size, size=config.entropy_window,
                        preprocess=config.entropy_preprocess, sharpen=config.sharpen_small)


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class _TupleOutput(torch.nn.Module):
    """An encoder whose forward returns ``(coords, status, features, heatmaps)``, for DDP."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kp = self.encoder(frames)
        return kp.coords, kp.status, kp.features, kp.heatmaps


class BaseTrainer:
    """What every keypoint-encoder trainer shares: device, seeding, optimiser, the ``fit`` loop
    (progress bar, TensorBoard scalars and images, periodic atomic checkpoints) and resume.

    The trainer seeds everything with ``config.seed`` first
    (:func:`~mint_rl.utils.seed_everything`, whose generator becomes :attr:`rng`, the clip
    sampler of :meth:`fit`), then builds the encoder, so a new encoder's initial weights follow
    the seed too. Subclasses implement :meth:`new_encoder` and :meth:`step`; they may override
    :meth:`log_images`. ``encoder_type`` names the encoder in checkpoints
    (see :func:`mint_rl.baselines.build_encoder`).

    :param config: hyperparameters (architecture, optimiser, seed).
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    :param log_dir: TensorBoard directory (None: no logging).
    :param checkpoint_path: the file where :meth:`fit` writes checkpoints (None: none); not a directory.
    :param encoder: an existing encoder to train (e.g. one a Gymnasium wrapper uses); None builds
        one with :meth:`new_encoder`.
    """

    encoder_type = "mint"
    display_name = "MINT"
    progress_keys: tuple[str, ...] = ("loss/total",)

    def __init__(self, config: MintConfig, device: str | torch.device = "cpu", log_dir: str | None = None,
                 checkpoint_path: str | os.PathLike | None = None, encoder: torch.nn.Module | None = None) -> None:
        self.rng: np.random.Generator = seed_everything(config.seed)
        self.config = config
        self.device = resolve_device(device)
        self.encoder = (encoder if encoder is not None else self.new_encoder()).to(self.device)
        self.optimizer = torch.optim.Adam(self.encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.step_count = 0
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        if self.checkpoint_path is not None and self.checkpoint_path.is_dir():  # refused now, not after training
            raise IsADirectoryError(f"checkpoint_path {self.checkpoint_path} is a directory; give a file path inside "
                                    f"it, such as {self.checkpoint_path / 'encoder.pt'}")
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self._writer = None
        self._log_dir = log_dir
        self._preview: Any = None

    def new_encoder(self) -> torch.nn.Module:
        """A fresh encoder built from :attr:`config` (called after seeding)."""
        raise NotImplementedError(f"{type(self).__name__} builds no encoder itself; pass encoder=... or "
                                  "override new_encoder")

    # ------------------------------------------------------------------ logging
    @property
    def writer(self):
        if self._writer is None and self._log_dir and is_main_process():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(self._log_dir)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def check_clips(self, frames: torch.Tensor) -> None:
        """Validate a clip batch ``(B, T, C, H, W)``, naming the problem."""
        if not isinstance(frames, torch.Tensor) or frames.dim() != 5:
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"clips must have shape (B, T, C, H, W), got {shape}")
        if frames.shape[1] < 2:
            raise ValueError(f"clips need at least 2 frames (T >= 2), got T = {frames.shape[1]}")
        check_encoder_frames(frames[:, 0], self.config.in_channels, self.config.image_size, name="clip frames")
        if frames.dtype != torch.uint8:
            check_encoder_frames(frames.flatten(0, 1), self.config.in_channels, self.config.image_size,
                                 name="clip frames")

    def clip_grad_and_step(self, loss: torch.Tensor) -> float:
        """Backward, clip the gradient norm to ``config.grad_clip`` (0: no clipping), step; return the norm."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.encoder.parameters(), clip)
        self.optimizer.step()
        self.step_count += 1
        return float(grad_norm)

    def step(self, frames: torch.Tensor, entropy: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    # ------------------------------------------------------------------ frames
    def buffer_entropy(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """What a :class:`~mint_rl.data.FrameBuffer` computes once per frame for this trainer's :meth:`step` (its
        ``entropy``): frames ``(N, C, H, W)`` uint8 → ``(N, H', W')`` on ``config.grid_size``. Zeros here, for a
        loss that needs no entropy (the Transporter's); :class:`MintTrainer` returns its local entropy."""
        grid = tuple(self.config.grid_size)
        return lambda frames: torch.zeros(frames.shape[0], *grid)

    def frame_buffer(self, frames: np.ndarray | torch.Tensor, starts: np.ndarray) -> FrameBuffer:
        """A :class:`~mint_rl.data.FrameBuffer` holding recorded frame streams, for :meth:`fit`, with each frame's
        :meth:`buffer_entropy` computed once as it enters; clips never cross an episode start.

        Example (one stream of 24 frames, a single episode)::

            trainer = MintTrainer(MintConfig(num_keypoints=3, image_size=(32, 32), batch_size=2))
            frames = np.zeros((1, 24, 32, 32, 3), np.uint8)
            starts = np.zeros((1, 24), bool)
            starts[:, 0] = True
            trainer.fit(trainer.frame_buffer(frames, starts), steps=10)

        :param frames: ``(S, N, H, W, C)`` (or ``(S, N, C, H, W)``) uint8: S streams of N frames in time order
            (one stream: ``frames[None]``), of the config's ``in_channels`` and ``image_size``.
        :param starts: ``(S, N)`` bool, True where a frame begins an episode (as ``envs.collect.collect_frames``
            returns them).
        :raises ValueError: ``frames`` are not S streams of frames, ``starts`` does not match them, or the frames do
            not fit the config.
        """
        starts = np.asarray(starts, dtype=bool)
        if frames.ndim != 5 or tuple(starts.shape) != tuple(frames.shape[:2]):
            raise ValueError(f"frame_buffer takes streams: frames (S, N, H, W, C) and starts (S, N); got frames "
                             f"{tuple(frames.shape)} and starts {tuple(starts.shape)} (give one stream as "
                             "frames[None], starts[None])")
        cfg = self.config
        buffer = FrameBuffer(frames.shape[0] * frames.shape[1], (cfg.in_channels, *cfg.image_size), cfg.grid_size,
                             self.buffer_entropy())
        for stream, stream_starts in zip(frames, starts, strict=True):
            buffer.add_stream(stream, stream_starts)
        return buffer

    def fit(self, buffer: FrameBuffer, steps: int, log_every: int = 10, image_every: int = 200,
            checkpoint_every: int = 500, progress: bool = True, extra_state: dict[str, Any] | None = None
            ) -> list[dict[str, float]]:
        """Train until ``step_count == steps`` (a resumed trainer continues from its step).

        :param buffer: frames and entropy to sample clips from.
        :param steps: total optimiser steps (not additional ones).
        :param extra_state: stored in every checkpoint (e.g. how the frames were collected).
        :return: the logged terms of every step run in this call.
        """
        from tqdm.auto import tqdm

        history: list[dict[str, float]] = []
        cfg = self.config
        bar = tqdm(total=steps, initial=self.step_count, desc=f"{self.display_name} pretraining", unit="step",
                   disable=not (progress and is_main_process()), dynamic_ncols=True)
        while self.step_count < steps:
            frames, entropy = buffer.sample(cfg.batch_size, cfg.clip_length, self.rng)
            terms = self.step(frames, entropy)
            history.append(terms)
            bar.update(1)
            if self.step_count % log_every == 0 or self.step_count == steps:
                bar.set_postfix({k.split("/")[-1]: f"{terms[k]:.3f}" for k in self.progress_keys if k in terms})
                if self.writer is not None:
                    for key, value in terms.items():
                        self.writer.add_scalar(key, value, self.step_count)
            if self.writer is not None and (self.step_count % image_every == 0 or self.step_count == steps):
                self.log_images(buffer)
            if self.checkpoint_path and (self.step_count % checkpoint_every == 0 or self.step_count == steps):
                self.save(self.checkpoint_path, extra_state)
        bar.close()
        if self.writer is not None:
            self.writer.flush()
        return history

    # ------------------------------------------------------------------ images
    def log_images(self, buffer: FrameBuffer, count: int = 8) -> None:
        """Keypoint overlays of a fixed set of buffer frames to TensorBoard."""
        from mint_rl.draw import draw_keypoints_batch, image_grid

        if self._preview is None:
            idx = np.linspace(0, len(buffer) - 1, count).astype(int)
            self._preview = buffer.frames_at(idx)
        kp = self.encoder.encode(self._preview.to(self.device))
        frames = self._preview.permute(0, 2, 3, 1).numpy()
        if frames.shape[-1] == 1:
            frames = np.repeat(frames, 3, axis=-1)
        overlays = draw_keypoints_batch(frames, kp.coords.cpu().numpy(), kp.status.cpu().numpy(), scale=4)
        grid = image_grid(list(overlays), ncols=4)
        self.writer.add_image("keypoints/overlay", grid, self.step_count, dataformats="HWC")

    # ------------------------------------------------------------------ checkpoints
    def state(self, extra_state: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "encoder": self.encoder.state_dict(),
            "encoder_type": self.encoder_type,
            "optimizer": self.optimizer.state_dict(),
            "step": self.step_count,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "extra": extra_state or {},
        }

    def save(self, path: str | os.PathLike, extra_state: dict[str, Any] | None = None) -> Path | None:
        """Atomically write a resumable checkpoint (rank 0 only) that ``load_encoder`` reads."""
        if not is_main_process():
            return None
        return save_checkpoint(path, self.state(extra_state))

    def load(self, path: str | os.PathLike) -> dict[str, Any]:
        """Restore weights, optimiser, step and RNG states from a checkpoint of a compatible config."""
        data = load_checkpoint(path, expected_config=self.config, map_location=self.device)
        kind = data.get("encoder_type", "mint")
        if kind != self.encoder_type:
            raise CheckpointError(f"checkpoint {path} holds a {kind!r} encoder, not a {self.encoder_type!r} one; "
                                  "load it with the matching trainer or mint_rl.baselines.load_encoder")
        self.encoder.load_state_dict(data["encoder"])
        if "optimizer" in data:
            self.optimizer.load_state_dict(data["optimizer"])
        self.step_count = int(data.get("step", 0))
        if "rng" in data:
            self.rng.bit_generator.state = data["rng"]
        if "torch_rng" in data:
            torch.set_rng_state(data["torch_rng"])
        return data

    def maybe_resume(self) -> bool:
        """Resume from ``checkpoint_path`` if it exists; return whether it did."""
        if self.checkpoint_path is not None and self.checkpoint_path.is_file():
            self.load(self.checkpoint_path)
            return True
        return False


class MintTrainer(BaseTrainer):
    """Optimiser, MINT loss and bookkeeping around a :class:`KeypointEncoder`.

    :param config: hyperparameters (architecture, losses, optimiser, seed).
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    :param log_dir: TensorBoard directory (None: no logging).
    :param checkpoint_path: the file where :meth:`fit` writes checkpoints (None: none); not a directory.
    :param encoder: an existing encoder to train (e.g. one the Gymnasium wrapper uses);
        a new one is built from ``config`` otherwise.
    """

    progress_keys = ("loss/total", "keypoints/coverage", "keypoints/active_fraction")

    def __init__(self, config: MintConfig, device: str | torch.device = "cpu", log_dir: str | None = None,
                 checkpoint_path: str | os.PathLike | None = None, encoder: KeypointEncoder | None = None) -> None:
        super().__init__(config, device, log_dir, checkpoint_path, encoder)
        self.loss_fn = MintLoss(config)
        self.entropy = make_entropy(config)
        self._model: torch.nn.Module = self.encoder

    def new_encoder(self) -> KeypointEncoder:
        """A fresh :class:`KeypointEncoder` for :attr:`config`."""
        return KeypointEncoder(self.config)

    def _wrap_distributed(self) -> None:
        if self.distributed and not isinstance(self._model, DistributedDataParallel):
            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            # the feature head gets no gradient from the MINT losses (features are our addition);
            # DDP finds unused parameters through the output tensors, so return a plain tuple
            unused = getattr(self.encoder, "feature_head", None) is not None
            self._model = DistributedDataParallel(_TupleOutput(self.encoder), device_ids=ids,
                                                  find_unused_parameters=unused)

    def buffer_entropy(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The local entropy of a frame on the grid (:func:`make_entropy`), what the MINT loss compares keypoints
        with, computed once per frame as it enters a :class:`~mint_rl.data.FrameBuffer`."""
        return self.entropy

    def compute_entropy(self, frames: torch.Tensor) -> torch.Tensor:
        """Entropy ``(B, T, H', W')`` of clip frames ``(B, T, C, H, W)``."""
        with torch.no_grad():
            return self.entropy(frames.to(self.device))

    def calibrate(self, frames: torch.Tensor) -> None:
        """Calibrate the status threshold on a clip batch if the config leaves it open."""
        if not bool(self.encoder.threshold_calibrated):
            with torch.no_grad():
                maps, _ = self.encoder.heatmaps(frames.flatten(0, 1).to(self.device))
                self.encoder.calibrate_status_threshold(maps.flatten(2).amax(-1))

    @flush_denormals()
    def step(self, frames: torch.Tensor, entropy: torch.Tensor | None = None) -> dict[str, float]:
        """One optimiser step on a batch of clips, denormal floats flushed to zero
        (:func:`mint_rl.utils.flush_denormals`: a trained encoder's soft-argmax underflows to them, and they are slow
        on x86 CPUs).

        :param frames: ``(B, T, C, H, W)`` uint8 (or float in [0, 1]) consecutive frames.
        :param entropy: ``(B, T, H', W')`` their entropy maps; computed here when None.
        :return: every loss term (floats) plus ``"train/grad_norm"`` and ``"train/temperature"``.
        """
        self.check_clips(frames)
        if entropy is None:
            entropy = self.compute_entropy(frames)
        self.calibrate(frames)
        self._wrap_distributed()
        if self.distributed:  # each process trains on its shard of the global batch
            idx = torch.tensor_split(torch.arange(frames.shape[0]), self.world_size)[self.rank]
            frames, entropy = frames[idx], entropy[idx]
        self.encoder.train()
        b, t = frames.shape[:2]
        frames = frames.to(self.device, non_blocking=True)
        entropy = entropy.to(self.device, non_blocking=True)
        keypoints = self._model(frames.flatten(0, 1))
        if isinstance(keypoints, tuple):
            keypoints = Keypoints(*keypoints)
        keypoints = keypoints.reshape_batch(b, t)
        out = self.loss_fn(keypoints, entropy)
        terms = dict(out.terms)
        terms["train/grad_norm"] = self.clip_grad_and_step(out.total)
        terms["train/temperature"] = float(self.encoder.temperature.detach())
        return terms
