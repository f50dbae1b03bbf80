"""Keypoint encoders by name, so every script can swap MINT for a baseline.

Every encoder maps frames ``(B, C, H, W)`` (uint8 or float in [0, 1]) to the same
:class:`~mint_rl.keypoints.Keypoints` record and is built from a :class:`MintConfig`
(whose geometry fields it uses). :func:`build_encoder` makes a fresh one by name;
:func:`load_encoder` rebuilds the one a checkpoint holds (its ``"encoder_type"``).
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn

from mint_rl.baselines.transporter import TransporterEncoder
from mint_rl.checkpoint import CheckpointError, load_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder

__all__ = ["ENCODER_TYPES", "build_encoder", "load_encoder"]

ENCODER_TYPES = ("mint", "transporter")


def build_encoder(encoder_type: str, config: MintConfig) -> nn.Module:
    """A fresh encoder of the named type: ``"mint"`` or ``"transporter"``."""
    if encoder_type == "mint":
        return KeypointEncoder(config)
    if encoder_type == "transporter":
        return TransporterEncoder(config)
    raise ValueError(f"unknown encoder type {encoder_type!r}; choose one of {', '.join(ENCODER_TYPES)}")


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
