"""Pixel ↔ normalised coordinates: the one home of mint-rl's coordinate convention.

A point is ``(x, y)``, x to the right, **y down**, in one of three forms:

* **normalised**: both in ``[-1, 1]`` over the frame and **pixel-centre aligned**: column ``i``
  of a ``W``-wide grid has its centre at ``x = (2 i + 1) / W - 1`` (PyTorch's
  ``align_corners=False``), so a point has the same normalised coordinates on the frame, on a
  heatmap grid and on a mask grid of another size. Keypoints, object centres and the tasks'
  state vectors use this form.
* **pixel**: the centre of column ``i`` at ``x = i`` and of row ``j`` at ``y = j``; a
  ``W``-wide frame spans ``[-0.5, W - 0.5]`` (OpenCV draws and the scene physics run in it).
* **pixel index**: the integer column and row of the pixel whose cell contains the point.

One axis of length ``W`` (the same with ``y`` and ``H``)::

    x_n = (2 x + 1) / W - 1          pixel → normalised        (to_normalised_1d)
    x   = ((x_n + 1) W - 1) / 2      normalised → pixel        (to_pixel_1d)
    i   = floor((x_n + 1) W / 2)     normalised → pixel index  (pixel_index_1d)

A displacement (a velocity, an error) scales without the offset: ``d_px = d_n · W / 2``
(:func:`pixels_per_unit`) and ``d_n = d_px · 2 / W`` (:func:`units_per_pixel`).

Every conversion takes numpy arrays or torch tensors (and sequences, read as numpy) and
returns the same kind: floating input keeps its dtype and device, other input (ints, lists
of ints) becomes float64 for numpy and the default float dtype for torch. The arithmetic is
the formulas above, in that order, so results are bit-for-bit reproducible. Importing this
module does not import torch (the object scenes use it without torch); only
:func:`pixel_centres` needs it.

Example::

    >>> pixel_to_normalised(np.array([0.0, 63.0]), 64)                 # pixel 0's centre: -1 + 1/W
    array([-0.984375,  0.984375])
    >>> import torch
    >>> normalised_to_pixel(torch.tensor([[-1.0, 1.0]]), (48, 64))     # the frame's corner
    tensor([[-0.5000, 47.5000]])
    >>> pixel_index(np.array([[0.0, -0.99]]), (4, 4))                  # (column, row)
    array([[2, 0]])
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Sequence, TypeVar, Union

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "to_normalised_1d",
    "to_pixel_1d",
    "pixel_index_1d",
    "pixel_to_normalised",
    "normalised_to_pixel",
    "pixel_index",
    "pixel_centres",
    "pixels_per_unit",
    "units_per_pixel",
]

Array = TypeVar("Array", np.ndarray, "torch.Tensor")
Size = Union[int, Sequence[int]]


def _height_width(size: Size) -> tuple[int, int]:
    """``(H, W)`` from an int (a square frame) or a ``(height, width)`` pair such as ``frame.shape[:2]``."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    height, width = size
    return int(height), int(width)


def _is_tensor(values) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(values, torch.Tensor)


def _as_array(values):
    """Tensors and numpy arrays as they are; anything else (lists, scalars) as a numpy array."""
    return values if isinstance(values, np.ndarray) or _is_tensor(values) else np.asarray(values)


# ---------------------------------------------------------------------------- one axis
def to_normalised_1d(px: Array, length: int) -> Array:
    """Pixel coordinates along one axis → normalised: ``(2 px + 1) / length - 1``.

    :param px: ``(...)`` pixel coordinates (pixel ``i``'s centre at ``i``), numpy or torch.
    :param length: the axis' size in pixels (``W`` for x, ``H`` for y), or sizes that broadcast
        against ``px`` (``(W, H)`` for ``(..., 2)`` points; :func:`pixel_to_normalised`).
    :return: ``(...)`` normalised coordinates; pixel ``0``'s centre maps to ``-1 + 1 / length``,
        the frame's edges ``-0.5`` and ``length - 0.5`` to ``-1`` and ``1``.
    """
    px = _as_array(px)
    return (2.0 * px + 1.0) / length - 1.0


def to_pixel_1d(x: Array, length: int) -> Array:
    """Normalised coordinates along one axis → pixel coordinates: ``((x + 1) · length - 1) / 2``.

    The inverse of :func:`to_normalised_1d` (up to float rounding); the same value as
    ``(x + 1) · length / 2 - 0.5``.

    :param x: ``(...)`` normalised coordinates, numpy or torch.
    :param length: the axis' size in pixels, or sizes that broadcast against ``x``.
    :return: ``(...)`` pixel coordinates (pixel ``i``'s centre at ``i``).
    """
    x = _as_array(x)
    return ((x + 1.0) * length - 1.0) / 2.0


def pixel_index_1d(x: Array, length: int, clip: bool = False) -> Array:
    """The index of the pixel containing each normalised coordinate: ``floor((x + 1) · length / 2)``.

    That is the nearest pixel centre, ties going to the higher index (right / down).

    :param x: ``(...)`` finite normalised coordinates, numpy or torch.
    :param length: the axis' size in pixels, or sizes that broadcast against ``x``.
    :param clip: clamp the index into ``[0, length - 1]`` (the nearest pixel of the frame);
        without it, points outside ``[-1, 1)`` get indices outside the frame.
    :return: ``(...)`` int64 numpy array or ``torch.long`` tensor.
    """
    x = _as_array(x)
    if _is_tensor(x):
        index = ((x + 1.0) * (length / 2.0)).floor()
        return (index.clamp(min=0).clamp(max=length - 1) if clip else index).long()
    index = np.floor((x + 1.0) * (length / 2.0))
    return (np.clip(index, 0, length - 1) if clip else index).astype(np.int64)


# ---------------------------------------------------------------------------- (x, y) points
def _per_axis(fn, xy, size: Size, name: str, **kwargs):
    """``fn`` of one axis applied to x with ``W`` and to y with ``H`` at once: the lengths ``(W, H)``
    broadcast along the last axis, in the dtype of the computation (exact: they are small integers)."""
    xy = _as_array(xy)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"{name} must have a last axis of size 2 (x, y), got shape {tuple(xy.shape)}")
    height, width = _height_width(size)
    if isinstance(xy, np.ndarray):
        lengths = _numpy_lengths(width, height, xy.dtype if xy.dtype.kind == "f" else np.dtype(np.float64))
    else:
        torch = sys.modules["torch"]
        dtype = xy.dtype if xy.is_floating_point() else torch.get_default_dtype()
        lengths = torch.tensor([width, height], dtype=dtype, device=xy.device)
    return fn(xy, lengths, **kwargs)


@functools.lru_cache(maxsize=64)
def _numpy_lengths(width: int, height: int, dtype: np.dtype) -> np.ndarray:
    """``(W, H)`` in ``dtype``, read-only (shared between calls)."""
    lengths = np.array([width, height], dtype=dtype)
    lengths.flags.writeable = False
    return lengths


def pixel_to_normalised(xy_px: Array, size: Size) -> Array:
    """Pixel coordinates → normalised coordinates (:func:`to_normalised_1d` on x and on y).

    :param xy_px: ``(..., 2)`` points ``(x, y)`` in pixels, y down, pixel ``i`` centred at ``i``.
    :param size: the frame's ``(height, width)`` as in ``frame.shape[:2]``, or an int for a square frame.
    :return: ``(..., 2)`` ``x_n = (2x + 1)/W - 1``, ``y_n = (2y + 1)/H - 1``; the frame spans ``[-1, 1]``.
    :raises ValueError: when the last axis is not of size 2.

    >>> pixel_to_normalised([[0, 0], [63, 47]], (48, 64))
    array([[-0.984375  , -0.97916667],
           [ 0.984375  ,  0.97916667]])
    """
    return _per_axis(to_normalised_1d, xy_px, size, "xy_px")


def normalised_to_pixel(xy: Array, size: Size) -> Array:
    """Normalised coordinates → pixel coordinates; the inverse of :func:`pixel_to_normalised`.

    :param xy: ``(..., 2)`` points ``(x, y)`` in ``[-1, 1]``, y down, pixel-centre aligned.
    :param size: the frame's ``(height, width)``, or an int for a square frame.
    :return: ``(..., 2)`` pixel coordinates, pixel ``i`` centred at ``i``.
    :raises ValueError: when the last axis is not of size 2.
    """
    return _per_axis(to_pixel_1d, xy, size, "xy")


def pixel_index(xy: Array, size: Size, clip: bool = False) -> Array:
    """``(column, row)`` of the pixel containing each point (:func:`pixel_index_1d` on x and on y).

    :param xy: ``(..., 2)`` finite points ``(x, y)`` in normalised coordinates.
    :param size: the frame's ``(height, width)``, or an int for a square frame.
    :param clip: clamp into the frame (columns ``[0, W - 1]``, rows ``[0, H - 1]``).
    :return: ``(..., 2)`` int64 numpy array or ``torch.long`` tensor, ``(column, row)``.
    :raises ValueError: when the last axis is not of size 2.
    """
    return _per_axis(pixel_index_1d, xy, size, "xy", clip=clip)


def pixel_centres(height: int, width: int, device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised coordinates of the pixel centres of a ``height × width`` grid (torch).

    :param dtype: a floating dtype; None: ``torch.float32``.
    :return: ``xs (W,)`` and ``ys (H,)`` with ``xs[i] = (2 i + 1) / W - 1``.

    >>> pixel_centres(2, 4)[0]
    tensor([-0.7500, -0.2500,  0.2500,  0.7500])
    """
    import torch  # the only torch-only conversion: importing mint_rl.coords stays free of torch

    dtype = torch.float32 if dtype is None else dtype
    xs = to_normalised_1d(torch.arange(width, device=device, dtype=dtype), width)
    ys = to_normalised_1d(torch.arange(height, device=device, dtype=dtype), height)
    return xs, ys


# ---------------------------------------------------------------------------- displacements
def pixels_per_unit(size: Size) -> np.ndarray:
    """``(W / 2, H / 2)`` float64: a displacement of ``d`` normalised units is ``d · pixels_per_unit`` pixels.

    :param size: the frame's ``(height, width)``, or an int for a square frame.
    """
    height, width = _height_width(size)
    return np.array([width / 2.0, height / 2.0])


def units_per_pixel(size: Size) -> np.ndarray:
    """``(2 / W, 2 / H)`` float64: a displacement of ``d`` pixels is ``d · units_per_pixel`` normalised units.

    :param size: the frame's ``(height, width)``, or an int for a square frame.
    """
    height, width = _height_width(size)
    return np.array([2.0 / width, 2.0 / height])
