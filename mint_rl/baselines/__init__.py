"""Keypoint encoders by name, so every script can swap MINT for a baseline.

Every encoder maps frames ``(B, C, H, W)`` (uint8 or float in [0, 1]) to the same
:class:`~mint_rl.keypoints.Keypoints` record and is built from a :class:`MintConfig`
(whose geometry fields it uses).
"""

from __future__ import annotations

import torch.nn as nn

from mint_rl.config import MintConfig

__all__ = ["ENCODER_TYPES", "build_encoder"]

ENCODER_TYPES = ("mint", "transporter")


def build_encoder(encoder_type: str, config: MintConfig) -> nn.Module:
    """A fresh encoder of the named type: ``"mint"`` or ``"transporter"``."""
    if encoder_type == "mint":
        from mint_rl.encoder import KeypointEncoder

        return KeypointEncoder(config)
    if encoder_type == "transporter":
        from mint_rl.baselines.transporter import TransporterEncoder

        return TransporterEncoder(config)
    raise ValueError(f"unknown encoder type {encoder_type!r}; choose one of {', '.join(ENCODER_TYPES)}")
