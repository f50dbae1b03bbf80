"""Pretrain a MINT keypoint encoder on random-policy frames of a Gymnasium env: :func:`pretrain_encoder`.

What ``experiments/pretrain.py`` runs, and what the experiments that need a pretrained encoder call
(``agents.experiment_encoders.pretrain_mint``, ``experiments/object_dynamics.py``), with the settings as a
:class:`PretrainSettings`.

Top to bottom: lock the output folder (``mint_rl.run_lock``); collect frames with a random policy (cached in the
output folder as ``frames.npz`` with their record, ``mint_rl.frame_cache``), fill a frame buffer
(``MintTrainer.frame_buffer``: entropy computed once per frame), train with ``MintTrainer`` (progress bar,
TensorBoard in ``<out>/tb``, atomic checkpoint ``<out>/encoder.pt`` every ``checkpoint_every`` steps; the same call
again resumes from it), then write ``config.json``, ``summary.json``, a keypoint-overlay video and a still on
held-out frames (another seed).

The output folder is honest about what it holds: one process at a time; a frame cache made from another source
is refused, and so is a resume with another architecture, or with other hyperparameters unless
``allow_config_change``; a call with nothing left to train writes nothing and says so. Under ``torchrun`` each
process collects the same frames (same seed) and trains on its shard of the same global batch with
DistributedDataParallel (gloo on CPU, nccl on CUDA).

Example::

    path = pretrain_encoder(PretrainSettings(env="MintTasks/Catch-v0", out="runs/enc", frames=4000, steps=500,
                                             num_keypoints=8, feature_dim=0))
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from envs.collect import collect_frames
from mint_rl.checkpoint import CheckpointError, load_checkpoint
from mint_rl.config import ConfigError, MintConfig
from mint_rl.draw import draw_keypoints_batch, write_video
from mint_rl.frame_cache import frame_source, load_frames, save_frames, source_mismatch
from mint_rl.run_lock import locked_run_folder
from mint_rl.trainer import MintTrainer, is_main_process
from mint_rl.utils import atomic_write_text, differences, resolve_device

__all__ = ["PretrainError", "PretrainSettings", "pretrain_encoder"]


class PretrainError(RuntimeError):
    """The output folder holds frames or a checkpoint this pretraining cannot use; the message says what to do."""


_SET_BY_SETTINGS = frozenset({"num_keypoints", "in_channels", "image_size", "hidden_channels", "feature_dim", "norm",
                              "batch_size", "clip_length", "lr", "seed", "extra"})
"""MintConfig fields :meth:`PretrainSettings.config` sets from its own fields (or the frames): ``mint`` may not."""


@dataclasses.dataclass
class PretrainSettings:
    """What to pretrain on, how, and where; the fields are the flags of ``experiments/pretrain.py``.

    :param env: Gymnasium env id (``ALE/*``, ``MintScenes/*``, ``MintTasks/*``).
    :param out: output folder (``encoder.pt``, ``frames.npz``, ``config.json``, ``summary.json``, ``tb/``, ...).
    :param frames: frames to collect with a random policy.
    :param num_envs: parallel sub-environments for collection (frame streams).
    :param async_envs: collect in worker processes.
    :param steps: optimiser steps (in total, over resumes).
    :param num_keypoints: K.
    :param image_size: encoder input side (None: the env's frame size; ALE frames are preprocessed to it).
    :param hidden_channels: encoder width.
    :param feature_dim: F, per-keypoint features.
    :param norm: ``"batch"``, ``"group"`` or ``"none"`` (use group or none under ``torchrun``).
    :param batch_size: global batch of clips.
    :param clip_length: frames per clip.
    :param lr: learning rate.
    :param seed: collection and training seed (held-out frames use ``seed + 10000``).
    :param device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    :param checkpoint_every: optimiser steps between checkpoints.
    :param video_frames: held-out frames in the overlay video (0: none).
    :param allow_config_change: resume a checkpoint made with other hyperparameters and continue with these.
    :param no_progress: no progress bars.
    :param mint: further :class:`MintConfig` fields, applied over those above (an ablation: loss weights, κ,
        the entropy window, ...; ``experiments/pretrain.py --mint FIELD=VALUE``).
    :param grid_scale: heatmap grid side as a multiple of the input side (rounded, at least 8): 1.0 the input
        size, 0.5 half (what ``None``, :class:`MintConfig`'s default, gives), 1.4 the authors' upsampling. Not
        together with a ``grid_size`` in ``mint``.
    """

    env: str
    out: str | os.PathLike
    frames: int = 6000
    num_envs: int = 4
    async_envs: bool = False
    steps: int = 1500
    num_keypoints: int = 16
    image_size: int | None = None
    hidden_channels: int = 16
    feature_dim: int = 8
    norm: str = "batch"
    batch_size: int = 32
    clip_length: int = 3
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 250
    video_frames: int = 120
    allow_config_change: bool = False
    no_progress: bool = False
    mint: dict[str, Any] = dataclasses.field(default_factory=dict)
    grid_scale: float | None = None

    def config(self, channels: int, size: tuple[int, int]) -> MintConfig:
        """The encoder config these settings ask for, on frames of ``channels`` channels and ``size`` (H, W).

        :raises mint_rl.config.ConfigError: a hyperparameter is out of range, ``mint`` sets a field these
            settings set themselves, or ``grid_scale`` is not positive or comes with ``mint``'s ``grid_size``.
        """
        clash = sorted(set(self.mint) & _SET_BY_SETTINGS)
        if clash:
            raise ConfigError(f"PretrainSettings.mint sets {clash}, which PretrainSettings sets itself (or the "
                              "frames fix); use those fields instead")
        grid = None
        if self.grid_scale is not None:
            if not self.grid_scale > 0:
                raise ConfigError(f"PretrainSettings.grid_scale={self.grid_scale}: must be > 0 (1.0: the heatmap "
                                  "grid at the input size)")
            if "grid_size" in self.mint:
                raise ConfigError("PretrainSettings sets both grid_scale and mint's grid_size; give one")
            grid = tuple(max(8, round(self.grid_scale * int(side))) for side in size)
        return MintConfig(num_keypoints=self.num_keypoints, in_channels=channels, image_size=size, grid_size=grid,
                          hidden_channels=self.hidden_channels, feature_dim=self.feature_dim, norm=self.norm,
                          batch_size=self.batch_size, clip_length=self.clip_length, lr=self.lr,
                          seed=self.seed).replace(**self.mint)


def pretrain_encoder(settings: PretrainSettings) -> Path:
    """Pretrain (or resume, or find finished) the encoder of ``settings``; returns ``<out>/encoder.pt``.

    :raises PretrainError: the folder's frame cache or checkpoint belongs to other settings, or the env's frames
        differ from ``image_size``.
    :raises SystemExit: another live process holds the folder (``mint_rl.run_lock``).
    """
    s = settings
    device = resolve_device(s.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if "LOCAL_RANK" in os.environ and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    out = Path(s.out)
    with locked_run_folder(out):  # one process per folder; temporary files a killed run left are removed
        checkpoint_path = out / "encoder.pt"
        checkpoint = _read_checkpoint(checkpoint_path)

        # 1. Frames: collected once, cached with their record (same seed → same frames in every process). ALE
        #    frames are preprocessed at the encoder's size (image_size); other envs give their own size.
        env_kwargs = {"screen_size": s.image_size} if s.env.startswith("ALE/") and s.image_size else {}
        source = frame_source(s.env, s.frames, s.seed, s.num_envs, env_kwargs)
        if checkpoint is not None:
            _check_checkpoint_frames(checkpoint, checkpoint_path, source)
        cache = out / "frames.npz"
        frames, starts, source = _cached_or_collected_frames(s, cache, source, env_kwargs)
        height, width, channels = frames.shape[-3:]
        side = s.image_size or height
        if (height, width) != (side, side):
            raise PretrainError(f"--image-size {side} differs from the env's frames {height}x{width} (in {cache} or "
                                f"from {s.env}); only ALE frames are resized when collected, other envs must give "
                                "frames of the encoder's size (or use another --out than a cache of other frames)")

        # 2. Config, trainer (resumes if a checkpoint exists, with the same config, or with new hyperparameters
        #    under allow_config_change), buffer (entropy computed once per frame).
        config = s.config(channels, (height, width))
        changes = (_check_config_changes(checkpoint["config"], config, checkpoint_path, s.allow_config_change)
                   if checkpoint is not None else [])
        if checkpoint is not None and checkpoint["step"] >= s.steps:
            return _nothing_to_train(out, checkpoint["step"], s.steps)
        trainer = MintTrainer(config, device=device, log_dir=str(out / "tb"), checkpoint_path=checkpoint_path)
        resumed = trainer.maybe_resume()
        start = trainer.step_count
        if resumed:
            for group in trainer.optimizer.param_groups:  # the restored optimiser keeps the checkpoint's values
                group.update(lr=config.lr, weight_decay=config.weight_decay)
            if is_main_process():
                print(f"resumed from {checkpoint_path} at step {start}"
                      + (f" with changed hyperparameters: {'; '.join(changes)}" if changes else ""))
        extra = {"frame_source": source, "env_id": s.env, "frames": int(frames.shape[0] * frames.shape[1]),
                 "collect_seed": s.seed}
        buffer = trainer.frame_buffer(frames, starts)
        t0 = time.time()
        history = trainer.fit(buffer, s.steps, checkpoint_every=s.checkpoint_every, progress=not s.no_progress,
                              extra_state=extra)
        elapsed = time.time() - t0
        trainer.close()

        # 3. Outputs (rank 0): config, summary, overlay video and still on held-out frames.
        if is_main_process():
            atomic_write_text(out / "config.json", config.to_json())
            summary = {"env_id": s.env, "steps": trainer.step_count, "resumed_from_step": start or None,
                       "steps_this_run": trainer.step_count - start, "train_seconds": elapsed,
                       "config_changes_at_resume": changes, "frame_source": source,
                       "world_size": trainer.world_size, "final_terms": history[-1] if history else None}
            atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
            if s.video_frames > 0:
                _write_overlays(trainer.encoder, s, env_kwargs, channels, device, out)
            print(f"encoder: {checkpoint_path}  ({trainer.step_count} steps, {trainer.step_count - start} in "
                  f"{elapsed:.0f}s this run)")
            if history:
                print("final: " + ", ".join(f"{k}={v:.3f}" for k, v in history[-1].items()))
    if dist.is_initialized():
        # the DDP wrapper's reducer holds the gloo group: free it first, or the group's threads may still run
        # when the interpreter tears it down ("terminate called without an active exception", SIGABRT)
        del trainer
        gc.collect()
        dist.destroy_process_group()
    return checkpoint_path


def _read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint a rerun resumes from (None if there is none)."""
    if not path.is_file():
        return None
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        raise PretrainError(f"cannot resume: {exc}. Use another --out, or delete {path} to start over.") from exc


def _check_checkpoint_frames(checkpoint: dict[str, Any], path: Path, source: dict[str, Any]) -> None:
    """Refuse a checkpoint trained on other frames than these settings ask for."""
    extra = checkpoint.get("extra", {})
    recorded = extra.get("frame_source")
    problems = (source_mismatch(recorded, source) if recorded  # older checkpoints record the env id only
                else differences({"env_id": extra.get("env_id")}, source, ["env_id"]))
    if problems:
        raise PretrainError(f"{path} was trained on other frames than this command asks for "
                            f"({'; '.join(problems)}; checkpoint → this command). Rerun with the flags it was made "
                            "with, or use another --out.")


def _check_config_changes(recorded: MintConfig, requested: MintConfig, path: Path, allow: bool) -> list[str]:
    """The hyperparameters a resume changes (``"name: checkpoint → this command"``); refused when it would change
    the architecture, or anything at all without ``allow``."""
    old, new = recorded.to_dict(), requested.to_dict()
    architecture = differences(old, new, MintConfig.ARCHITECTURE_FIELDS)
    if architecture:
        raise PretrainError(f"{path} holds another architecture ({'; '.join(architecture)}; checkpoint → this "
                            "command): it cannot be resumed with these flags. Use another --out.")
    changes = differences(old, new, [k for k in old if k not in MintConfig.ARCHITECTURE_FIELDS and k != "extra"])
    if changes and not allow:
        raise PretrainError(f"{path} was trained with other hyperparameters ({'; '.join(changes)}; checkpoint → this "
                            "command). Rerun with the checkpoint's values, pass --allow-config-change to continue it "
                            "with the new ones, or use another --out.")
    return changes


def _cached_or_collected_frames(s: PretrainSettings, cache: Path, source: dict[str, Any], env_kwargs: dict[str, Any]
                                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(frames, starts, record)``: the cache's frames when its record matches ``source`` (refused, naming the
    difference, when not), else new frames collected with a random policy and cached (rank 0)."""
    if cache.is_file():
        frames, starts, recorded = load_frames(cache)
        problems = source_mismatch(recorded, source)
        if problems:
            raise PretrainError(f"--out {cache.parent}: {cache.name} holds other frames than this command asks for "
                                f"({'; '.join(problems)}; cache → this command). Rerun with the flags that made it, "
                                f"use another --out, or delete {cache} (and the encoder.pt trained on it) to start "
                                "over.")
        if recorded.get("given_by") and is_main_process():
            print(f"training on the {recorded['frames']} frames given in {cache} ({recorded['given_by']})")
        return frames, starts, recorded
    frames, starts = collect_frames(s.env, s.frames, seed=s.seed, num_envs=s.num_envs,
                                    vectorization_mode="async" if s.async_envs else "sync",
                                    progress=not s.no_progress and is_main_process(), **env_kwargs)
    if is_main_process():
        save_frames(cache, frames, starts, source)
    return frames, starts, source


def _nothing_to_train(out: Path, step: int, steps: int) -> Path:
    """A rerun whose checkpoint is at ``steps`` already: say so, write nothing; the checkpoint's path."""
    if is_main_process():
        print(f"nothing to train: the checkpoint in {out} is at step {step} and --steps is {steps}; no file was "
              "written (give a larger --steps to train on)")
    if dist.is_initialized():
        dist.destroy_process_group()
    return out / "encoder.pt"


def _write_overlays(encoder: torch.nn.Module, s: PretrainSettings, env_kwargs: dict[str, Any], channels: int,
                    device: torch.device, out: Path) -> None:
    """``keypoints.mp4`` and a 4-frame ``keypoints.png`` of the encoder's keypoints on held-out frames."""
    import cv2

    held_out, _ = collect_frames(s.env, s.video_frames, seed=s.seed + 10_000, num_envs=1, progress=False,
                                 **env_kwargs)
    clip = held_out[0]
    kp = encoder.encode(torch.from_numpy(clip).permute(0, 3, 1, 2).to(device))
    overlays = draw_keypoints_batch(clip if channels == 3 else np.repeat(clip, 3, -1), kp.coords.cpu().numpy(),
                                    kp.status.cpu().numpy(), scale=4)
    write_video(list(overlays), out / "keypoints.mp4", fps=15)
    still = overlays[np.linspace(len(overlays) // 3, len(overlays) - 1, 4).astype(int)]
    cv2.imwrite(str(out / "keypoints.png"), cv2.cvtColor(np.concatenate(list(still), axis=1), cv2.COLOR_RGB2BGR))
