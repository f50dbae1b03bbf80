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
pixel of the window matches. With ``snap = S > 0`` a keypoint whose colour is the background's first moves to the
nearest non-background pixel of its ``S × S`` window (Euclidean distance; ties: the first in row-major order) and is
refined from there, so keypoints that sit *beside* a thin object, as MINT's information patches often leave them (on
Pong, keypoints that follow the enemy paddle a few pixels off it), land on it (``results/atari_refine_snap_s32/``).
An object darker than the background in every channel reads as background (the colour is a glimpse's per-channel
maximum), so a keypoint snapped onto one stays at its edge. Pixels outside the frame never match. The active status is untouched.
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


def check_refine_window(window: int, height: int, width: int, name: str = "refinement window") -> None:
    """Refuse a refinement (or snap) window that is not an odd int from 3 to the frame's side, naming it."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 3 or window % 2 == 0:
        raise ValueError(f"{name} must be an odd int >= 3 (pixels, centred on the keypoint), got {window!r}")
    if window > min(height, width):
        raise ValueError(f"{name} {window} px is larger than the {height}×{width} frames; give a window "
                         f"<= {min(height, width)}")


def refine_keypoints(frames: torch.Tensor, coords: torch.Tensor, window: int, colour_size: int = 5,
                     tolerance: float = 0.25, iterations: int = 2, snap: int = 0) -> torch.Tensor:
    """Move every keypoint to the centroid of the pixels of its colour around it (colour mean shift).

    :param frames: ``(B, C, H, W)`` uint8 frames.
    :param coords: ``(B, K, 2)`` keypoints, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param window: side in pixels (odd, >= 3) of the square in which pixels are matched.
    :param colour_size: side of the glimpse whose per-channel maximum is the keypoint's colour.
    :param tolerance: largest per-channel difference, in [0, 1] colour units, of a matching pixel.
    :param iterations: mean-shift steps (>= 1).
    :param snap: side in pixels (odd, >= 3) of the square in which a keypoint on the background looks for the
        nearest non-background pixel to move to before the mean shift; 0: background keypoints stay.
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
    if snap:
        check_refine_window(snap, h, w, "snap window")
    coords = coords.float()
    background = frames.flatten(2).median(-1).values.float() / 255.0  # (B, C) per-channel median colour
    if snap:
        colour = glimpse_colours(frames, coords, colour_size)
        on_background = (colour - background[:, None]).abs().amax(-1) <= tolerance  # (B, K)
        coords = torch.where(on_background[..., None], _snap(frames, coords, background, snap, tolerance), coords)
    colour = glimpse_colours(frames, coords, colour_size)  # (B, K, C)
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


def _snap(frames: torch.Tensor, coords: torch.Tensor, background: torch.Tensor, window: int,
          tolerance: float) -> torch.Tensor:
    """Each keypoint moved to the nearest pixel of its ``window × window`` square whose colour differs from the
    background's by more than ``tolerance`` in some channel (Euclidean distance, so beside a long object the pixel
    level with the keypoint, not a corner; ties: the first in row-major order); unchanged where there is none.
    ``frames (B, C, H, W)`` uint8, ``coords (B, K, 2)``, ``background (B, C)``."""
    h, w = frames.shape[-2:]
    patch = extract_glimpses(frames, coords, window).float() / 255.0  # (B, K, C, s, s)
    inside = extract_glimpses(torch.ones_like(frames[:, :1]), coords, window).bool()[:, :, 0]  # (B, K, s, s)
    foreground = ((patch - background[:, None, :, None, None]).abs().amax(2) > tolerance) & inside
    offsets = torch.arange(window, device=coords.device) - (window - 1) // 2
    distance = (offsets[:, None] ** 2 + offsets[None, :] ** 2).float()  # (s, s) squared Euclidean
    score = torch.where(foreground, distance, torch.full_like(distance, float("inf"))).flatten(2)  # (B, K, s²)
    best = score.argmin(-1)  # the first minimum: row-major order among the nearest
    found = torch.isfinite(score.amin(-1))
    col = pixel_index_1d(coords[..., 0], w).float() + offsets[best % window].float()
    row = pixel_index_1d(coords[..., 1], h).float() + offsets[best // window].float()
    moved = torch.stack(((2 * col + 1) / w - 1, (2 * row + 1) / h - 1), -1)
    return torch.where(found[..., None], moved, coords)
