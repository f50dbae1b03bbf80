"""Keypoint refinement: move each keypoint to the centre of the object part under it.

MINT places a keypoint where its information patch covers the frame's entropy, which on a small
object is often its edge rather than its centre (on Catch about 2 px from the centre of an 8–10
px object). For a policy, an object's position is its centre. This module moves every keypoint
by a few steps of *colour mean shift*, without labels and without learning:

1. the keypoint's colour ``c``: the per-channel maximum of its ``colour_size`` glimpse
   (:func:`mint_rl.appearance.glimpse_colours`, the colour its colour code is taken from);
2. in the ``window × window`` pixels around the keypoint, the pixels whose colour is within
   ``tolerance`` of ``c`` in every channel (the object part of that colour);
3. the keypoint moves to their centroid; steps 2–3 repeat ``iterations`` times with ``c`` fixed.

A keypoint stays where it is when its colour is the background's (within ``tolerance`` of the
frame's per-channel median colour: on a plain background, a keypoint off every object), or when no
pixel of the window matches. Pixels outside the frame never match. The active status is untouched.
Coordinates follow ``mint_rl.coords``: (x, y) in [-1, 1], y down, pixel-centre aligned; a moved
keypoint lies at the centroid of frame pixels, so inside the frame.

Example::

    >>> frames = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    >>> frames[0, 0, 4:9, 6:11] = 255                        # a red 5 × 5 square, centre pixel (8, 6)
    >>> coords = torch.tensor([[[(2 * 6 + 1) / 16 - 1, (2 * 4 + 1) / 16 - 1]]])   # its top-left pixel
    >>> refined = refine_keypoints(frames, coords, window=7)
    >>> ((refined + 1) * 16 - 1) / 2                           # back to pixel (column, row)
    tensor([[[8., 6.]]])
"""

from __future__ import annotations

import torch

from mint_rl.appearance import glimpse_colours
from mint_rl.coords import pixel_index_1d
from mint_rl.glimpses import extract_glimpses

__all__ = ["refine_keypoints", "check_refine_window"]


def check_refine_window(window: int, height: int, width: int) -> None:
    """Refuse a refinement window that is not an odd int from 3 to the frame's side, naming it."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 3 or window % 2 == 0:
        raise ValueError(f"refinement window must be an odd int >= 3 (pixels, centred on the keypoint), got {window!r}")
    if window > min(height, width):
        raise ValueError(f"refinement window {window} px is larger than the {height}×{width} frames; give a window "
                         f"<= {min(height, width)}")


def refine_keypoints(frames: torch.Tensor, coords: torch.Tensor, window: int, colour_size: int = 5,
                     tolerance: float = 0.25, iterations: int = 2) -> torch.Tensor:
    """Move every keypoint to the centroid of the pixels of its colour around it (colour mean shift).

    :param frames: ``(B, C, H, W)`` uint8 frames.
    :param coords: ``(B, K, 2)`` keypoints, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param window: side in pixels (odd, >= 3) of the square in which pixels are matched.
    :param colour_size: side of the glimpse whose per-channel maximum is the keypoint's colour.
    :param tolerance: largest per-channel difference, in [0, 1] colour units, of a matching pixel.
    :param iterations: mean-shift steps (>= 1).
    :return: ``(B, K, 2)`` float32 refined coordinates, same device.
    """
    if frames.dim() != 4 or frames.dtype != torch.uint8:
        raise ValueError(f"frames must be (B, C, H, W) uint8, got {tuple(frames.shape)} {frames.dtype}")
    b, c, h, w = frames.shape
    check_refine_window(window, h, w)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if not 0.0 < tolerance <= 1.0:
        raise ValueError(f"tolerance must be in (0, 1] (colour units), got {tolerance}")
    coords = coords.float()
    colour = glimpse_colours(frames, coords, colour_size)  # (B, K, C)
    background = frames.flatten(2).median(-1).values.float() / 255.0  # (B, C) per-channel median colour
    keep = (colour - background[:, None]).abs().amax(-1) <= tolerance  # (B, K): on the background
    offsets = (torch.arange(window, device=coords.device) - (window - 1) // 2).float()  # (window,)
    ones = torch.ones_like(frames[:, :1])
    for _ in range(iterations):
        patch = extract_glimpses(frames, coords, window).float() / 255.0  # (B, K, C, s, s)
        inside = extract_glimpses(ones, coords, window).bool()  # (B, K, 1, s, s): pixels of the frame
        match = (((patch - colour[..., None, None]).abs().amax(2) <= tolerance) & inside[:, :, 0]).float()
        n = match.sum((-2, -1))  # (B, K)
        dx = (match * offsets[None, None, None, :]).sum((-2, -1)) / n.clamp_min(1.0)
        dy = (match * offsets[None, None, :, None]).sum((-2, -1)) / n.clamp_min(1.0)
        col = pixel_index_1d(coords[..., 0], w).float() + dx  # centroid, in pixel columns / rows
        row = pixel_index_1d(coords[..., 1], h).float() + dy
        moved = torch.stack(((2 * col + 1) / w - 1, (2 * row + 1) / h - 1), -1)
        stay = keep | (n == 0)
        coords = torch.where(stay[..., None], coords, moved)
    return coords
