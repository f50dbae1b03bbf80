"""Label-image rendering shared by the object scenes (:mod:`envs.scenes`) and tasks (:mod:`envs.tasks`).

Objects are rasterised without anti-aliasing (``cv2.LINE_8`` with :data:`SHIFT` fractional bits
of sub-pixel precision) into one ``uint8`` label image, in pixel coordinates (pixel ``i``
centred at ``i``, :mod:`mint_rl.coords`): slot ``k`` writes the value ``k + 1`` over its pixels,
so a later slot is drawn on top of an earlier one. The RGB frame is the background with each
labelled pixel replaced by its slot's colour (:func:`compose_frame`), and the slot's mask is
``label == k + 1``: exactly the pixels of the frame that show it.

Shapes are circles and regular polygons of a given circumscribed diameter (:func:`shape_vertices`),
plus the tasks' axis-aligned boxes (:func:`fill_box`).

Example::

    >>> label = np.zeros((8, 8), np.uint8)
    >>> fill_polygon(label, rotate(shape_vertices("triangle", 6.0), 0.3) + (2.0, 3.0), 1)
    >>> fill_box(label, 5.5, 5.5, 4, 2, 2)                      # on top of slot 0
    >>> visible_areas(label, 2).tolist()
    [17, 8]
    >>> lut = np.array([(0, 0, 0), (255, 0, 0), (0, 0, 255)], np.uint8)  # label value → RGB
    >>> compose_frame(np.zeros((8, 8, 3), np.uint8), label, lut)[5, 5].tolist()
    [0, 0, 255]
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "SHIFT",
    "shape_vertices",
    "rotate",
    "fill_circle",
    "fill_polygon",
    "fill_box",
    "compose_frame",
    "visible_areas",
    "label_masks",
]

# Regular polygons: (number of vertices, angle of the first vertex).
_POLYGONS: dict[str, tuple[int, float]] = {
    "square": (4, math.pi / 4),
    "triangle": (3, -math.pi / 2),
    "pentagon": (5, -math.pi / 2),
    "hexagon": (6, 0.0),
}
SHIFT = 4
"""Fractional bits of the sub-pixel coordinates passed to OpenCV."""
_SCALE = float(1 << SHIFT)


def shape_vertices(name: str, size: float) -> np.ndarray | None:
    """Vertices of a shape about its centre, unrotated.

    :param name: ``"circle"`` or a polygon: ``"square"``, ``"triangle"``, ``"pentagon"``, ``"hexagon"``.
    :param size: diameter of the circumscribed circle, pixels.
    :return: ``(k, 2)`` float64 ``(x, y)`` vertices, or None for a circle.
    """
    if name == "circle":
        return None
    k, phase = _POLYGONS[name]
    theta = phase + 2.0 * math.pi * np.arange(k) / k
    return size / 2.0 * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def rotate(vertices: np.ndarray, angle: float) -> np.ndarray:
    """``(k, 2)`` vertices rotated by ``angle`` radians (clockwise on screen: y points down)."""
    c, s = math.cos(angle), math.sin(angle)
    return vertices @ np.array([[c, s], [-s, c]])


def fill_circle(label: np.ndarray, x: float, y: float, radius: float, value: int) -> None:
    """Write ``value`` over the pixels of a disc centred at pixel coordinates ``(x, y)``.

    :param label: ``(H, W)`` uint8 label image, modified in place.
    """
    centre = (int(round(x * _SCALE)), int(round(y * _SCALE)))
    cv2.circle(label, centre, int(round(radius * _SCALE)), int(value), -1, cv2.LINE_8, SHIFT)


def fill_polygon(label: np.ndarray, vertices: np.ndarray, value: int) -> None:
    """Write ``value`` over the pixels of a polygon.

    :param label: ``(H, W)`` uint8 label image, modified in place.
    :param vertices: ``(k, 2)`` ``(x, y)`` vertices in pixel coordinates.
    """
    points = np.rint(vertices * _SCALE).astype(np.int32)
    cv2.fillPoly(label, [points], int(value), cv2.LINE_8, SHIFT)


def fill_box(label: np.ndarray, x: float, y: float, width: float, height: float, value: int) -> None:
    """Write ``value`` over an axis-aligned box centred at ``(x, y)``: exactly the pixels whose
    centres lie in ``[x - width/2, x + width/2)`` by ``[y - height/2, y + height/2)``, so an
    integer-sized box always covers ``width * height`` pixels (clipped to the label image).

    :param label: ``(H, W)`` uint8 label image, modified in place.
    """
    rows = slice(max(math.ceil(y - height / 2), 0), max(math.ceil(y + height / 2), 0))
    cols = slice(max(math.ceil(x - width / 2), 0), max(math.ceil(x + width / 2), 0))
    label[rows, cols] = value


def compose_frame(background: np.ndarray, label: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The RGB frame: ``background`` with every labelled pixel replaced by its slot's colour.

    :param background: ``(H, W, 3)`` uint8 (not modified).
    :param label: ``(H, W)`` uint8, 0 for background, ``k + 1`` for slot ``k``.
    :param lut: ``(N + 1, 3)`` uint8 colour of each label value (row 0 unused).
    :return: a new ``(H, W, 3)`` uint8 frame.
    """
    frame = background.copy()
    drawn = label != 0
    frame[drawn] = lut[label[drawn]]
    return frame


def visible_areas(label: np.ndarray, num_slots: int) -> np.ndarray:
    """``(N,)`` int64: the number of pixels each slot shows in the label image."""
    return np.bincount(label.ravel(), minlength=num_slots + 1)[1:].astype(np.int64)


def label_masks(label: np.ndarray, num_slots: int) -> np.ndarray:
    """``(N, H, W)`` bool visible-pixel masks: ``masks[k] = label == k + 1``."""
    return label[None] == np.arange(1, num_slots + 1, dtype=np.uint8)[:, None, None]
