"""Keypoint encoders and their trainers by name, so every script can swap MINT for a baseline.

Every encoder maps frames ``(B, C, H, W)`` (uint8 or float in [0, 1]) to the same
:class:`~mint_rl.keypoints.Keypoints` record and is built from a :class:`MintConfig`
(whose geometry fields it uses). :func:`build_encoder` makes a fresh one by name;
:func:`load_encoder` rebuilds the one a checkpoint holds (its ``"encoder_type"``);
:func:`save_encoder` writes an encoder as such a checkpoint (weights and config only).
:func:`build_trainer` makes the trainer of an encoder type (:class:`~mint_rl.trainer.MintTrainer`,
:class:`~mint_rl.baselines.transporter.TransporterTrainer`); training one on recorded frames reads::

    trainer = build_trainer("transporter", config, checkpoint_path="runs/tp/encoder.pt")
    trainer.maybe_resume()
    trainer.fit(trainer.frame_buffer(frames, starts), steps=500)  # frames (S, N, H, W, C), starts (S, N)
    trainer.close()
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from mint_rl.baselines.transporter import TransporterEncoder, TransporterTrainer
from mint_rl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.trainer import BaseTrainer, MintTrainer

__all__ = ["ENCODER_TYPES", "build_encoder", "build_trainer", "encoder_type_of", "load_encoder", "save_encoder"]

ENCODER_TYPES = ("mint", "transporter")
_TRAINERS: dict[str, type[BaseTrainer]] = {"mint": MintTrainer, "transporter": TransporterTrainer}


def build_encoder(encoder_type: str, config: MintConfig) -> nn.Module:
    """A fresh encoder of the named type: ``"mint"`` or ``"transporter"``."""
    if encoder_type == "mint":
        return KeypointEncoder(config)
    if encoder_type == "transporter":
        return TransporterEncoder(config)
    raise ValueError(f"unknown encoder type {encoder_type!r}; choose one of {', '.join(ENCODER_TYPES)}")


def build_trainer(encoder_type: str, config: MintConfig, device: str | torch.device = "cpu",
                  log_dir: str | os.PathLike | None = None,
                  checkpoint_path: str | os.PathLike | None = None) -> BaseTrainer:
    """A fresh trainer of the named encoder type (``"mint"``: :class:`~mint_rl.trainer.MintTrainer`,
    ``"transporter"``: :class:`~mint_rl.baselines.transporter.TransporterTrainer`), seeded by ``config.seed``.

    :param log_dir: TensorBoard directory (None: no logging).
    :param checkpoint_path: the file :meth:`~mint_rl.trainer.BaseTrainer.fit` writes checkpoints to and
        :meth:`~mint_rl.trainer.BaseTrainer.maybe_resume` resumes from (None: none).
    :raises ValueError: an unknown encoder type.
    """
    if encoder_type not in _TRAINERS:
        raise ValueError(f"unknown encoder type {encoder_type!r}; choose one of {', '.join(ENCODER_TYPES)}")
    return _TRAINERS[encoder_type](config, device=device, log_dir=None if log_dir is None else str(log_dir),
                                   checkpoint_path=checkpoint_path)


def encoder_type_of(encoder: nn.Module) -> str:
    """The registered name of an encoder module (``"mint"`` or ``"transporter"``), the
    ``"encoder_type"`` of its checkpoints.

    :raises TypeError: for a module of no registered type.
    """
    if isinstance(encoder, KeypointEncoder):
        return "mint"
    if isinstance(encoder, TransporterEncoder):
        return "transporter"
    raise TypeError(f"{type(encoder).__name__} is not a registered keypoint encoder ({', '.join(ENCODER_TYPES)}: "
                    "KeypointEncoder, TransporterEncoder)")


def load_encoder(path: str | os.PathLike, expected_config: MintConfig | None = None,
                 device: str | torch.device = "cpu") -> nn.Module:
    """Build the checkpoint's encoder (MINT or a baseline, by its ``"encoder_type"``), in eval mode.

    :param path: a checkpoint written by :func:`mint_rl.checkpoint.save_checkpoint` (e.g. by a trainer).
    :param expected_config: if given, the stored config must agree with it on the architecture.
    :param device: where the encoder goes.
    :raises CheckpointError: when the file is not a fitting checkpoint or its weights do not fit its config.
    """
    data = load_checkpoint(path, expected_config, map_location=device)
    encoder = build_encoder(data.get("encoder_type", "mint"), data["config"]).to(device)
    try:
        encoder.load_state_dict(data["encoder"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path}: encoder weights do not fit the stored config: {exc}") from exc
    return encoder.eval()


def save_encoder(path: str | os.PathLike, encoder: nn.Module, step: int = 0) -> Path:
    """Atomically write ``encoder`` (weights, its ``config``, its type) as a checkpoint that
    :func:`load_encoder` reads; no optimiser or RNG state (a trainer's ``save`` writes those).

    :param path: the checkpoint file (not a directory).
    :param encoder: a registered encoder carrying its :class:`MintConfig` as ``.config``.
    :param step: the training step recorded with it.
    :return: the final path.
    """
    config = getattr(encoder, "config", None)
    if not isinstance(config, MintConfig):
        raise TypeError(f"an encoder to save must carry its MintConfig as `.config`; {type(encoder).__name__} has none")
    return save_checkpoint(path, {"config": config.to_dict(), "encoder": encoder.state_dict(),
                                  "encoder_type": encoder_type_of(encoder), "step": int(step)})
