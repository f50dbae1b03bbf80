"""Glimpses: a small patch of the frame around each keypoint.

A glimpse is the ``size × size`` block of frame pixels centred on the pixel that contains a
keypoint (mint-rl's convention: ``(x, y)`` in [-1, 1], y down, pixel-centre aligned; pixel
column ``i`` of a ``W``-wide frame has its centre at ``x = (2 i + 1) / W − 1``). Pixels
outside the frame read as zeros. For an even ``size`` the extra row and column lie on the
right / lower side. Glimpses are exact pixel copies (nearest-pixel sampling, no
interpolation), so a uint8 frame gives uint8 glimpses.

K glimpses of ``size × size`` pixels cover at most ``K · size² / (H · W)`` of a frame:
:func:`glimpse_coverage`.

Example::

    >>> frames = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
    >>> coords = torch.tensor([[[-0.25, -0.25]]])        # pixel (column 1, row 1)
    >>> extract_glimpses(frames, coords, 2)[0, 0, 0]
    tensor([[ 5,  6],
            [ 9, 10]], dtype=torch.uint8)
"""

from __future__ import annotations

import torch

from mint_rl.coords import pixel_index_1d

__all__ = ["extract_glimpses", "glimpse_coverage", "check_glimpse_size"]


def check_glimpse_size(size: int, height: int, width: int, num_keypoints: int | None = None,
                       max_coverage: float | None = None) -> None:
    """Refuse a glimpse size that does not fit the frames, naming both sides.

    :param size: glimpse side in pixels.
    :param height: frame height H (the frames the glimpses are cut from).
    :param width: frame width W.
    :param num_keypoints: K, to check ``max_coverage``.
    :param max_coverage: the largest fraction of the frame the K glimpses may cover together.
    :raises ValueError: naming the glimpse size and the frame size.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"glimpse size must be a positive int (pixels), got {size!r}")
    if size > min(height, width):
        raise ValueError(f"glimpse size {size} px is larger than the {height}×{width} frames it is cut from; "
                         f"give a glimpse size <= {min(height, width)}")
    if max_coverage is not None and num_keypoints is not None:
        cover = glimpse_coverage(size, num_keypoints, height, width)
        if cover > max_coverage + 1e-12:
            raise ValueError(f"{num_keypoints} glimpses of {size}×{size} px cover {cover:.1%} of a {height}×{width} "
                             f"frame, more than the allowed {max_coverage:.1%}; use a smaller glimpse size or fewer "
                             "keypoints")


def glimpse_coverage(size: int, num_keypoints: int, height: int, width: int) -> float:
    """Upper bound of the fraction of a ``height × width`` frame that K glimpses cover (no overlap)."""
    return num_keypoints * size * size / float(height * width)


def extract_glimpses(frames: torch.Tensor, coords: torch.Tensor, size: int) -> torch.Tensor:
    """Cut a ``size × size`` patch around every keypoint.

    :param frames: ``(B, C, H, W)`` frames, any dtype.
    :param coords: ``(B, K, 2)`` keypoints, (x, y) in [-1, 1], y down, pixel-centre aligned.
        Coordinates outside [-1, 1] are allowed (their patch is partly or wholly zeros).
    :param size: patch side in pixels.
    :return: ``(B, K, C, size, size)``, same dtype and device as ``frames``.
    """
    if frames.dim() != 4:
        raise ValueError(f"frames must be (B, C, H, W), got shape {tuple(frames.shape)}")
    if coords.dim() != 3 or coords.shape[-1] != 2 or coords.shape[0] != frames.shape[0]:
        raise ValueError(f"coords must be (B, K, 2) with B = {frames.shape[0]} (the frames' batch), got shape "
                         f"{tuple(coords.shape)}")
    b, c, h, w = frames.shape
    k = coords.shape[1]
    # The pixel containing each keypoint: column floor((x + 1) W / 2), row floor((y + 1) H / 2).
    col = pixel_index_1d(coords[..., 0].float(), w)  # (B, K)
    row = pixel_index_1d(coords[..., 1].float(), h)
    offsets = torch.arange(size, device=frames.device) - (size - 1) // 2  # (size,)
    cols = col[..., None] + offsets  # (B, K, size)
    rows = row[..., None] + offsets
    inside = ((rows >= 0) & (rows < h))[..., :, None] & ((cols >= 0) & (cols < w))[..., None, :]  # (B, K, s, s)
    flat = (rows.clamp(0, h - 1)[..., :, None] * w + cols.clamp(0, w - 1)[..., None, :]).reshape(b, 1, k * size * size)
    picked = torch.gather(frames.reshape(b, c, h * w), 2, flat.expand(b, c, -1))  # (B, C, K·s·s)
    patches = picked.reshape(b, c, k, size, size).transpose(1, 2)  # (B, K, C, s, s)
    return patches * inside[:, :, None].to(patches.dtype)
