"""The ``Keypoints`` record and the functional keypoint geometry of MINT.

Coordinate convention (used everywhere in mint-rl): a keypoint is ``(x, y)``, x to the
right, **y down**, both in ``[-1, 1]`` and **pixel-centre aligned**: pixel column ``i`` of a
``W``-wide grid has its centre at ``x = (2 i + 1) / W - 1`` (PyTorch's
``align_corners=False``), so ``F.grid_sample(..., align_corners=False)`` samples exactly at
a keypoint.

Example::

    >>> maps = torch.zeros(1, 1, 4, 4); maps[0, 0, 1, 2] = 50.0
    >>> spatial_soft_argmax(maps).round(decimals=3)   # column 2, row 1 of a 4×4 grid
    tensor([[[ 0.2500, -0.2500]]])
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = [
    "Keypoints",
    "pixel_centres",
    "spatial_soft_argmax",
    "gaussian_maps",
    "information_patches",
    "sample_features",
    "encode_in_chunks",
]


@dataclass
class Keypoints:
    """K keypoints per frame.

    :param coords: ``(B, K, 2)`` float, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(B, K)`` active status in [0, 1]; a keypoint is *active* when
        ``status > 0.5`` (one threshold everywhere).
    :param features: ``(B, K, F)`` per-keypoint features (F may be 0).
    :param heatmaps: ``(B, K, H', W')`` non-negative maps the coords came from, or None.
    """

    coords: torch.Tensor
    status: torch.Tensor
    features: torch.Tensor
    heatmaps: Optional[torch.Tensor] = None

    @property
    def num_keypoints(self) -> int:
        return self.coords.shape[-2]

    @property
    def active(self) -> torch.Tensor:
        """``(B, K)`` bool, ``status > 0.5``."""
        return self.status > 0.5

    def detach(self) -> "Keypoints":
        return Keypoints(**{f.name: _map(getattr(self, f.name), torch.Tensor.detach) for f in fields(self)})

    def to(self, device: torch.device | str) -> "Keypoints":
        return Keypoints(**{f.name: _map(getattr(self, f.name), lambda t: t.to(device)) for f in fields(self)})

    def reshape_batch(self, *shape: int) -> "Keypoints":
        """Reshape the leading batch dimension, e.g. ``(B*T, ...)`` → ``(B, T, ...)``."""
        def r(t: torch.Tensor, tail: int) -> torch.Tensor:
            return t.reshape(*shape, *t.shape[t.dim() - tail:])
        return Keypoints(
            coords=r(self.coords, 2), status=r(self.status, 1), features=r(self.features, 2),
            heatmaps=None if self.heatmaps is None else r(self.heatmaps, 3),
        )

    def as_vector(self) -> torch.Tensor:
        """``(B, K, 2 + 1 + F)``: coords, status, features concatenated per keypoint."""
        return torch.cat([self.coords, self.status.unsqueeze(-1), self.features], dim=-1)


def _map(value, fn):
    return None if value is None else fn(value)


def pixel_centres(height: int, width: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates of a grid in [-1, 1].

    :return: ``xs (W,)`` and ``ys (H,)`` with ``xs[i] = (2 i + 1) / W - 1``.
    """
    xs = (2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1
    return xs, ys


def spatial_soft_argmax(maps: torch.Tensor, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Expected (x, y) of the spatial softmax of each map.

    :param maps: ``(B, K, H, W)`` logits.
    :param temperature: softmax temperature (scalar); logits are ``maps / temperature``.
    :return: ``(B, K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    """
    if maps.dim() != 4:
        raise ValueError(f"spatial_soft_argmax expects maps of shape (B, K, H, W), got {tuple(maps.shape)}")
    b, k, h, w = maps.shape
    probs = torch.softmax((maps / temperature).reshape(b, k, h * w), dim=-1)
    xs, ys = pixel_centres(h, w, device=maps.device, dtype=maps.dtype)
    grid = torch.stack([xs.repeat(h), ys.repeat_interleave(w)], dim=-1)  # (H·W, 2): (x, y) of each pixel, row-major
    return probs @ grid  # expectation of (x, y) in one matrix product


def gaussian_maps(coords: torch.Tensor, grid_size: tuple[int, int], std_px: float) -> torch.Tensor:
    """MINT's Gaussian map per keypoint, ``G(p) = exp(-‖p − μ‖² / std²)`` (std², not 2σ²).

    Distances are measured in grid pixels. The map is separable, so it is built as the outer
    product of a row and a column profile (``O(K·(H+W))`` exponentials instead of ``K·H·W``).

    :param coords: ``(..., K, 2)`` (x, y) in [-1, 1].
    :param grid_size: ``(H, W)`` of the output grid.
    :param std_px: std in grid pixels.
    :return: ``(..., K, H, W)`` in (0, 1].
    """
    h, w = grid_size
    xs, ys = pixel_centres(h, w, device=coords.device, dtype=coords.dtype)
    # [-1, 1] distance → grid pixels: one grid pixel spans 2 / W in x and 2 / H in y.
    dx = (xs - coords[..., 0:1]) * (w / 2)  # (..., K, W)
    dy = (ys - coords[..., 1:2]) * (h / 2)  # (..., K, H)
    gx = torch.exp(-(dx**2) / std_px**2)
    gy = torch.exp(-(dy**2) / std_px**2)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def information_patches(gaussians: torch.Tensor, lam: float = 3.5, eta: float = 0.1) -> torch.Tensor:
    """Information patch ``P = clamp(λ · relu(G − η), 0, 1)``: a flat disc fading at its rim.

    :param gaussians: ``(..., H, W)`` Gaussian maps.
    :return: same shape, in [0, 1].
    """
    return torch.clamp(lam * torch.relu(gaussians - eta), 0.0, 1.0)


def sample_features(feature_maps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample feature maps at keypoints.

    :param feature_maps: ``(B, F, H, W)``.
    :param coords: ``(B, K, 2)`` (x, y) in [-1, 1], pixel-centre aligned.
    :return: ``(B, K, F)``.
    """
    grid = coords.unsqueeze(2)  # (B, K, 1, 2)
    out = F.grid_sample(feature_maps, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(-1).transpose(1, 2)


@torch.no_grad()
def encode_in_chunks(encoder: torch.nn.Module, frames: torch.Tensor, batch_size: int = 256) -> Keypoints:
    """Run any keypoint encoder in eval mode over ``frames (N, C, H, W)`` in chunks, without
    gradient, restoring its train/eval mode; heatmaps are dropped to save memory."""
    was_training = encoder.training
    encoder.eval()
    try:
        parts = [encoder(frames[i:i + batch_size]) for i in range(0, frames.shape[0], batch_size)]
    finally:
        encoder.train(was_training)
    return Keypoints(
        coords=torch.cat([p.coords for p in parts]),
        status=torch.cat([p.status for p in parts]),
        features=torch.cat([p.features for p in parts]),
    )
