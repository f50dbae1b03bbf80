"""Linear read-out of object positions from keypoints: a position probe.

(Not the encoder's soft-argmax that turns heatmaps into keypoints: that is :func:`mint_rl.keypoints.keypoint_readout`.)

Detection (:mod:`mint_rl.metrics`) asks whether an active keypoint lies *inside* an object's box. A policy needs
less: that the object's position can be read from the keypoints. A keypoint that follows a paddle at a fixed offset
on the background, or one that sits a pixel beside a 2-pixel ball, misses the box but carries the position. This
module measures that with the simplest reader, a linear map, cross-fitted so that no frame is scored by a map fitted
on it:

- per frame, the keypoint features are ``(x·a, y·a, a)`` of every keypoint (``a`` = 1 when ``status > 0.5``, else 0:
  an inactive keypoint reads as zeros), plus a constant: ``3 K + 1`` numbers;
- for each object slot and each fold ``f``, a ridge regression from those features to the slot's centre is fitted on
  the frames of the *other* folds where the slot is visible, and predicts the slot's centre on the frames of fold
  ``f`` where it is visible.

Coordinates are (x, y) in [-1, 1], y down, pixel-centre aligned (:mod:`mint_rl.coords`); errors in pixels follow
with :func:`readout_errors`. A per-frame linear map tested on unseen folds is a conservative, simple measure of what
a policy network can read; compare with the error of the constant guess (``features=False``: the mean centre of the
other folds).

Example::

    >>> t = np.linspace(-0.8, 0.8, 40)
    >>> coords = np.stack([t, 0.5 * t], -1)[:, None] + 0.1        # one keypoint beside the object, fixed offset
    >>> centres = np.stack([t, 0.5 * t], -1)[:, None]
    >>> pred = linear_readout(coords, np.ones((40, 1)), centres, np.ones((40, 1), bool), np.arange(40) % 2)
    >>> bool(np.nanmax(readout_errors(pred, centres, (84, 84))) < 0.5)   # pixels
    True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mint_rl.coords import pixels_per_unit
from mint_rl.metrics import ACTIVE_THRESHOLD

__all__ = ["keypoint_features", "linear_readout", "readout_errors"]

DEFAULT_RIDGE = 1e-3
"""Ridge penalty per fitted frame (the penalty is ``ridge × frames`` on every weight but the constant's)."""


def keypoint_features(coords: np.ndarray, status: np.ndarray) -> np.ndarray:
    """``(T, 3 K + 1)`` read-out features: ``(x·a, y·a, a)`` per keypoint (a = status > 0.5) and a constant 1.

    :param coords: ``(T, K, 2)`` keypoints.
    :param status: ``(T, K)``.
    """
    coords, status = np.asarray(coords, np.float64), np.asarray(status, np.float64)
    if coords.ndim != 3 or coords.shape[-1] != 2 or status.shape != coords.shape[:2]:
        raise ValueError(f"coords must be (T, K, 2) and status (T, K), got {coords.shape} and {status.shape}")
    active = (status > ACTIVE_THRESHOLD).astype(np.float64)
    placed = np.where(active[..., None] > 0, coords, 0.0)  # an inactive keypoint reads as zeros, whatever its coords
    per_keypoint = np.concatenate([placed, active[..., None]], axis=-1)  # (T, K, 3)
    return np.concatenate([per_keypoint.reshape(len(coords), -1), np.ones((len(coords), 1))], axis=1)


def linear_readout(coords: np.ndarray, status: np.ndarray, centres: np.ndarray, visible: np.ndarray,
                   fold: Sequence[int] | np.ndarray, ridge: float = DEFAULT_RIDGE, features: bool = True) -> np.ndarray:
    """Each object's centre predicted from the keypoints by a ridge regression fitted on the other folds.

    :param coords: ``(T, K, 2)`` keypoints, (x, y) in [-1, 1].
    :param status: ``(T, K)``; active when ``> 0.5``.
    :param centres: ``(T, N, 2)`` object centres (finite where visible; other values are ignored).
    :param visible: ``(T, N)`` bool.
    :param fold: ``(T,)`` the fold of each frame (e.g. its video); at least two folds.
    :param ridge: the penalty per fitted frame (>= 0).
    :param features: False: the constant guess (the other folds' mean centre), the reference a read-out must beat.
    :return: ``(T, N, 2)`` predicted centres; ``nan`` where the slot is not visible, or where the other folds hold
        no visible frame of it.
    """
    x = keypoint_features(coords, status)
    centres, visible, fold = np.asarray(centres, np.float64), np.asarray(visible, bool), np.asarray(fold)
    t, n = visible.shape if visible.ndim == 2 else (-1, -1)
    if centres.shape != (len(x), n, 2) or visible.shape != (len(x), n) or fold.shape != (len(x),):
        raise ValueError(f"centres must be (T, N, 2), visible (T, N) and fold (T,) with T = {len(x)} frames of the "
                         f"keypoints, got {centres.shape}, {visible.shape} and {fold.shape}")
    if not np.isfinite(centres[visible]).all():
        raise ValueError("centres must be finite where visible (a nan centre of a visible slot would void every map "
                         "fitted on it)")
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge!r}")
    folds = np.unique(fold)
    if len(folds) < 2:
        raise ValueError(f"linear_readout needs at least two folds (it scores each fold with a map fitted on the "
                         f"others), got {len(folds)}")
    if not features:
        x = x[:, -1:]  # the constant alone: the fitted map is the mean
    penalty = np.eye(x.shape[1]) * ridge
    penalty[-1, -1] = 0.0  # the constant is not penalised
    pred = np.full((t, n, 2), np.nan)
    for obj in range(n):
        for f in folds:
            fit = visible[:, obj] & (fold != f)
            score = visible[:, obj] & (fold == f)
            if not fit.any() or not score.any():
                continue
            a, y = x[fit], centres[fit, obj]
            weights = np.linalg.lstsq(a.T @ a + penalty * len(a), a.T @ y, rcond=None)[0]
            pred[score, obj] = x[score] @ weights
    return pred


def readout_errors(predicted: np.ndarray, centres: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """``(T, N)`` Euclidean error in pixels of a frame of ``size`` (``(H, W)``) between ``(T, N, 2)`` predicted and
    ``(T, N, 2)`` true centres ((x, y) in [-1, 1]); ``nan`` where the prediction is."""
    scale = pixels_per_unit(size)  # (x, y) pixels per [-1, 1] unit
    return np.linalg.norm((np.asarray(predicted, np.float64) - np.asarray(centres, np.float64)) * scale, axis=-1)
