"""Object-level keypoint metrics of MINT (MINT_METHOD §5), from ground-truth object masks.

Every function takes one video. Inputs may be numpy arrays or torch tensors:

- ``coords`` ``(T, K, 2)``: keypoints as (x, y) in [-1, 1], y down, pixel-centre aligned
  (pixel column ``i`` of a ``W``-wide grid has its centre at ``x = (2 i + 1) / W - 1``);
- ``status`` ``(T, K)`` in [0, 1]: a keypoint is *active* when ``status > 0.5``;
- ``masks`` ``(T, N, H, W)`` bool: the visible pixels of N object slots (occlusion
  resolved, so masks should not overlap). The mask grid may differ from any keypoint grid;
- ``visible`` ``(T, N)`` bool: whether slot n is in the scene and visible at frame t;
- ``static`` ``(N,)`` bool (optional): slots that never move;
- ``centres`` ``(T, N, 2)`` (optional): object centres in the keypoint convention.

A keypoint is mapped to the mask pixel whose cell contains it, clipped to the grid
(:func:`mint_rl.coords.pixel_index`: ``col = clip(floor((x + 1) W / 2), 0, W − 1)``, ties going
to the right / lower pixel), and likewise ``row`` with y and H. A keypoint *is on* object o
when it is active and its pixel lies inside o's mask.

Per-frame values are averaged over the frames where they are defined; a value defined on no
frame is ``nan`` (e.g. ``DOP_static`` in a video without static objects). Percentages are
in [0, 100]. Aggregation over videos and seeds (:func:`summarize`) skips such ``nan``.

Example::

    >>> masks = np.zeros((2, 1, 4, 4), bool); masks[:, 0, :2, :2] = True
    >>> coords = np.full((2, 1, 2), -0.75); status = np.ones((2, 1))
    >>> m = video_metrics(coords, status, masks, np.ones((2, 1), bool), mean_area=4.0)
    >>> m["DOP"], m["TOP"], m["UAK"], m["RAK"], m["id_switches"]
    (100.0, 100.0, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import t as student_t

from mint_rl.coords import pixel_index, pixels_per_unit, to_normalised_1d

__all__ = [
    "BACKGROUND",
    "INACTIVE",
    "ACTIVE_THRESHOLD",
    "keypoint_assignments",
    "keypoint_counts",
    "detected_objects_percent",
    "tracked_objects_percent",
    "unsuccessful_assignments",
    "redundant_assignments",
    "mask_centroids",
    "identities",
    "identity_switches",
    "matched_distances",
    "dynamics_success_rate",
    "video_metrics",
    "ENTER_WINDOW",
    "LEAVE_WINDOW",
    "enter_leave_metrics",
    "aggregate",
    "finite_mean",
    "summarize",
]

ArrayLike = Union[np.ndarray, torch.Tensor]

BACKGROUND = -1
"""Assignment of an active keypoint that lies on no object mask."""
INACTIVE = -2
"""Assignment of an inactive keypoint (``status <= 0.5``); inactive keypoints count nowhere."""
ACTIVE_THRESHOLD = 0.5


# --------------------------------------------------------------------------- input checks


def _np(value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_coords(coords: ArrayLike, name: str = "coords") -> np.ndarray:
    coords = _np(coords).astype(np.float64)
    if coords.ndim != 3 or coords.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (T, K, 2) of (x, y) in [-1, 1], got {coords.shape}")
    return coords


def _check_masks(masks: ArrayLike) -> np.ndarray:
    masks = _np(masks)
    if masks.ndim != 4 or masks.dtype != np.bool_:
        raise ValueError(
            f"masks must be a 4-D bool array (T, N, H, W) of visible object pixels, got shape "
            f"{masks.shape} and dtype {masks.dtype}; convert with `masks > 0` if they are 0/1 maps"
        )
    return masks


def _check_same_frame_count(masks: np.ndarray, other: np.ndarray, other_name: str) -> None:
    """``other`` (e.g. keypoints) has one entry per frame of ``masks``."""
    if other.shape[0] != masks.shape[0]:
        raise ValueError(
            f"{other_name} has {other.shape[0]} frames but masks have {masks.shape[0]}: "
            "keypoints and masks must come from the same frames of one video"
        )


def _check_inputs(coords: ArrayLike, status: ArrayLike, masks: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coords = _check_coords(coords)
    status = _np(status).astype(np.float64)
    if status.shape != coords.shape[:2]:
        raise ValueError(f"status must have shape (T, K) = {coords.shape[:2]} like coords, got {status.shape}")
    masks = _check_masks(masks)
    _check_same_frame_count(masks, coords, "coords")
    return coords, status, masks


def _check_visible(visible: ArrayLike, masks: np.ndarray) -> np.ndarray:
    visible = _np(visible)
    if visible.shape != masks.shape[:2]:
        raise ValueError(
            f"visible must have shape (T, N) = {masks.shape[:2]} matching masks (T, N, H, W), got {visible.shape}"
        )
    return visible.astype(bool)


def _check_assignments(assignments: ArrayLike, masks: np.ndarray) -> np.ndarray:
    assignments = _np(assignments)
    if assignments.ndim != 2:
        raise ValueError(f"assignments must have shape (T, K), got {assignments.shape}")
    if assignments.size and (assignments.min() < INACTIVE or assignments.max() >= masks.shape[1]):
        raise ValueError(
            f"assignments must lie in [{INACTIVE}, N) with N = {masks.shape[1]} object slots; "
            "compute them with keypoint_assignments on the same masks"
        )
    return assignments.astype(np.int64)


# --------------------------------------------------------------------------- assignments


def _assign(coords: np.ndarray, use: np.ndarray, masks: np.ndarray, name: str) -> np.ndarray:
    """Object index under each keypoint where ``use``, ``BACKGROUND`` off masks, ``INACTIVE`` elsewhere."""
    t, k = coords.shape[:2]
    n, h, w = masks.shape[1:]
    if not np.isfinite(coords[use]).all():
        raise ValueError(f"{name} of active keypoints must be finite")
    cols, rows = np.moveaxis(pixel_index(np.where(np.isfinite(coords), coords, 0.0), (h, w), clip=True), -1, 0)
    # hits[t, k, o]: keypoint k's pixel lies in object o's mask at frame t.
    hits = masks[np.arange(t)[:, None, None], np.arange(n)[None, None, :], rows[..., None], cols[..., None]]
    out = np.full((t, k), INACTIVE, dtype=np.int64)
    if n:
        on_any = hits.any(axis=-1)
        out[use] = np.where(on_any, hits.argmax(axis=-1), BACKGROUND)[use]
    else:
        out[use] = BACKGROUND
    return out


def keypoint_assignments(coords: ArrayLike, status: ArrayLike, masks: ArrayLike) -> np.ndarray:
    """Object each keypoint is on.

    :param coords: ``(T, K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param masks: ``(T, N, H, W)`` bool visible pixels of N object slots.
    :return: ``(T, K)`` int64: the object index ``o ∈ [0, N)`` whose mask holds the
        keypoint's pixel; ``BACKGROUND`` (−1) for an active keypoint on no mask;
        ``INACTIVE`` (−2) for an inactive keypoint. Where masks overlap, the lowest object
        index whose mask contains the pixel wins.
    """
    coords, status, masks = _check_inputs(coords, status, masks)
    return _assign(coords, status > ACTIVE_THRESHOLD, masks, "coords")


def keypoint_counts(assignments: ArrayLike, num_objects: int) -> np.ndarray:
    """``n[t, o]``: number of keypoints on object o at frame t.

    :param assignments: ``(T, K)`` from :func:`keypoint_assignments`.
    :return: ``(T, N)`` int.
    """
    assignments = _np(assignments)
    return (assignments[..., None] == np.arange(num_objects)).sum(axis=1)


def _frame_mean(numer: np.ndarray, denom: np.ndarray) -> float:
    """Mean over frames with ``denom > 0`` of ``numer / denom``; ``nan`` if there is none."""
    keep = denom > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(numer[keep] / denom[keep]))


# --------------------------------------------------------------------------- DOP, TOP, UAK, RAK


def detected_objects_percent(assignments: ArrayLike, visible: ArrayLike, subset: Optional[ArrayLike] = None) -> float:
    """DOP: detected-objects percentage.

    Per frame: ``100 · #{visible o (in subset) with ≥ 1 keypoint on it} / #{visible o (in subset)}``;
    frames with no visible object of the subset are skipped; the mean over the others.

    :param assignments: ``(T, K)`` from :func:`keypoint_assignments`.
    :param visible: ``(T, N)`` bool.
    :param subset: ``(N,)`` bool slots to count (e.g. ``static`` or ``~static``), or None for all.
    :return: percentage in [0, 100], or ``nan`` if no frame has a visible object of the subset.
    """
    visible = _np(visible).astype(bool)
    if subset is not None:
        visible = visible & _np(subset).astype(bool)[None, :]
    detected = keypoint_counts(assignments, visible.shape[1]) > 0
    return 100.0 * _frame_mean((detected & visible).sum(1), visible.sum(1))


def tracked_objects_percent(assignments: ArrayLike, visible: ArrayLike) -> float:
    """TOP: tracked-objects percentage.

    Per frame ``t ≥ 1``: ``100 · #{visible o at t : some keypoint k is on o at t − 1 and still
    on o at t} / #{visible o at t}``; frames with no visible object are skipped; the mean
    over the others. The same keypoint *identity* k must stay on the object; a different
    keypoint taking over does not count.

    :param assignments: ``(T, K)`` from :func:`keypoint_assignments`.
    :param visible: ``(T, N)`` bool.
    :return: percentage in [0, 100], or ``nan`` for fewer than 2 frames or none with a visible object.
    """
    assignments = _np(assignments)
    visible = _np(visible).astype(bool)
    n = visible.shape[1]
    if assignments.shape[0] < 2:
        return float("nan")
    prev, cur = assignments[:-1], assignments[1:]
    kept = (prev == cur)[..., None] & (cur[..., None] == np.arange(n))  # (T-1, K, N)
    tracked = kept.any(axis=1) & visible[1:]
    return 100.0 * _frame_mean(tracked.sum(1), visible[1:].sum(1))


def unsuccessful_assignments(assignments: ArrayLike) -> float:
    """UAK: mean over all frames of the number of active keypoints on no object.

    :param assignments: ``(T, K)`` from :func:`keypoint_assignments`.
    :return: mean count per frame (``nan`` for T = 0).
    """
    assignments = _np(assignments)
    if assignments.shape[0] == 0:
        return float("nan")
    return float(np.mean((assignments == BACKGROUND).sum(axis=1)))


def redundant_assignments(assignments: ArrayLike, masks: ArrayLike, mean_area: float) -> float:
    """RAK: redundant assignments.

    Per detected object o (≥ 1 keypoint on it) at frame t: ``|A_o − n_o · Ā| / A_o``, with
    ``A_o`` its mask area in mask pixels, ``n_o`` the number of keypoints on it and ``Ā`` =
    ``mean_area``; the mean over the detected objects of the frame, then over the frames
    that have one. 0 when each object carries as many keypoints as its size calls for.

    :param assignments: ``(T, K)`` from :func:`keypoint_assignments` on the same masks.
    :param masks: ``(T, N, H, W)`` bool.
    :param mean_area: Ā, the mean visible object area of the scene family in mask pixels
        (computed by the caller over its dataset); must be > 0.
    :return: mean ratio (≥ 0), or ``nan`` if no object is ever detected.
    """
    masks = _check_masks(masks)
    if not np.isfinite(mean_area) or mean_area <= 0:
        raise ValueError(f"mean_area must be a positive object area in mask pixels, got {mean_area}")
    area = masks.sum(axis=(2, 3)).astype(np.float64)  # (T, N)
    counts = keypoint_counts(assignments, masks.shape[1])
    detected = counts > 0  # implies area > 0: a keypoint lies in the mask
    ratio = np.abs(area - counts * mean_area) / np.where(detected, area, 1.0)
    return _frame_mean(np.where(detected, ratio, 0.0).sum(1), detected.sum(1))


# --------------------------------------------------------------------------- ground-truth tracking


def mask_centroids(masks: ArrayLike) -> np.ndarray:
    """Centroid of each mask in the keypoint convention.

    :param masks: ``(T, N, H, W)`` bool.
    :return: ``(T, N, 2)`` (x, y) mean of the mask's pixel centres; ``nan`` for empty masks.
    """
    masks = _check_masks(masks)
    h, w = masks.shape[2:]
    xs = (2 * np.arange(w) + 1) / w - 1
    ys = (2 * np.arange(h) + 1) / h - 1
    area = masks.sum(axis=(2, 3)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (masks.sum(axis=2) * xs).sum(axis=-1) / area
        cy = (masks.sum(axis=3) * ys).sum(axis=-1) / area
    return np.stack([cx, cy], axis=-1)


def identities(coords: ArrayLike, assignments: ArrayLike, centres: ArrayLike) -> np.ndarray:
    """The keypoint identity that represents each object in each frame.

    ``id[t, o]`` = the keypoint on o at t (``assignments[t, k] == o``) nearest to o's centre
    (Euclidean, [-1, 1] scale; ties → lowest k); −1 where no keypoint is on o.

    :param coords: ``(T, K, 2)``.
    :param assignments: ``(T, K)`` from :func:`keypoint_assignments`.
    :param centres: ``(T, N, 2)`` object centres (e.g. :func:`mask_centroids`).
    :return: ``(T, N)`` int64.
    """
    coords = _check_coords(coords)
    assignments = _np(assignments)
    centres = _np(centres).astype(np.float64)
    n = centres.shape[1]
    dist = np.linalg.norm(coords[:, :, None, :] - centres[:, None, :, :], axis=-1)  # (T, K, N)
    on = assignments[..., None] == np.arange(n)  # (T, K, N)
    # An unknown (nan) centre still lets a keypoint on o beat the keypoints not on o.
    dist = np.where(np.isfinite(dist), dist, np.finfo(np.float64).max)
    dist = np.where(on, dist, np.inf)
    ids = dist.argmin(axis=1)
    return np.where(on.any(axis=1), ids, -1).astype(np.int64)


def identity_switches(ids: ArrayLike, visible: ArrayLike) -> int:
    """Identity switches over a video.

    The number of (t, o), t ≥ 1, such that object o is visible and detected at both t − 1
    and t (``ids ≥ 0``) and its identity changes: ``ids[t, o] ≠ ids[t − 1, o]``. An object
    that is lost and re-acquired does not count (TOP and DOP measure that).

    :param ids: ``(T, N)`` from :func:`identities`.
    :param visible: ``(T, N)`` bool.
    :return: the count.
    """
    ids = _np(ids)
    visible = _np(visible).astype(bool)
    if ids.shape[0] < 2:
        return 0
    both = visible[1:] & visible[:-1] & (ids[1:] >= 0) & (ids[:-1] >= 0)
    return int((both & (ids[1:] != ids[:-1])).sum())


def matched_distances(
    coords: ArrayLike, status: ArrayLike, centres: ArrayLike, visible: ArrayLike, grid_size: tuple[int, int]
) -> tuple[float, float]:
    """Mean distance between keypoints and object centres after per-frame Hungarian matching.

    Each frame, active keypoints and visible objects (with a finite centre) are matched
    one-to-one by :func:`scipy.optimize.linear_sum_assignment` minimising the summed
    Euclidean distance on the [-1, 1] scale; ``min(#active, #visible)`` pairs are matched.
    The frame's value is the mean over its matched pairs; the result is the mean over the
    frames with at least one pair. The pixel figure uses the same pairs, measuring
    ``dx · W / 2`` and ``dy · H / 2`` on the ``grid_size = (H, W)`` grid.

    :param coords: ``(T, K, 2)``.
    :param status: ``(T, K)``.
    :param centres: ``(T, N, 2)`` in the keypoint convention.
    :param visible: ``(T, N)`` bool.
    :param grid_size: ``(H, W)`` of the pixel grid for the pixel distance (the masks' grid).
    :return: ``(mean distance [-1, 1] scale, mean distance in pixels)``; ``nan`` if no frame
        has both an active keypoint and a visible object.
    """
    coords = _check_coords(coords)
    status = _np(status)
    centres = _np(centres).astype(np.float64)
    visible = _np(visible).astype(bool)
    scale = pixels_per_unit(grid_size)
    per_frame, per_frame_px = [], []
    for t in range(coords.shape[0]):
        kps = coords[t][status[t] > ACTIVE_THRESHOLD]
        objs = centres[t][visible[t] & np.isfinite(centres[t]).all(axis=-1)]
        if len(kps) == 0 or len(objs) == 0:
            continue
        diff = kps[:, None, :] - objs[None, :, :]  # (K', N', 2)
        rows, cols = linear_sum_assignment(np.linalg.norm(diff, axis=-1))
        matched = diff[rows, cols]
        per_frame.append(np.linalg.norm(matched, axis=-1).mean())
        per_frame_px.append(np.linalg.norm(matched * scale, axis=-1).mean())
    if not per_frame:
        return float("nan"), float("nan")
    return float(np.mean(per_frame)), float(np.mean(per_frame_px))


# --------------------------------------------------------------------------- dynamics


def dynamics_success_rate(
    pred_coords: ArrayLike, masks: ArrayLike, assignments_at_source: ArrayLike, horizon: int = 1
) -> float:
    """h-step success rate of a keypoint dynamics model (MINT_METHOD §5 "Dynamics").

    ``pred_coords[t, k]`` is the position of keypoint k predicted for frame ``t + h`` from
    source frame t, and ``assignments_at_source[t, k]`` is the object k was on at t. For
    every source frame t with ``t + h < T`` and every object o with ≥ 1 keypoint on it at t
    whose mask at ``t + h`` is non-empty (objects that vanish are skipped), o's score is the
    fraction of its keypoints whose predicted position falls inside ``masks[t + h, o]``
    (pixel-centre convention, clipped) — 1 or 0 when one keypoint is on it. The frame's
    value is the mean over such objects; the result is the mean over the source frames that
    have one.

    :param pred_coords: ``(S, K, 2)`` predictions from source frames ``0 .. S − 1``, S ≤ T
        (rows with ``t + h ≥ T`` are ignored and may hold anything).
    :param masks: ``(T, N, H, W)`` bool, indexed by absolute frame.
    :param assignments_at_source: ``(S, K)`` from :func:`keypoint_assignments` at the source frames.
    :param horizon: h ≥ 1.
    :return: fraction in [0, 1], or ``nan`` if no object qualifies.
    """
    pred = _check_coords(pred_coords, "pred_coords")
    masks = _check_masks(masks)
    src = _check_assignments(assignments_at_source, masks)
    if src.shape != pred.shape[:2]:
        raise ValueError(
            f"assignments_at_source must have shape (S, K) = {pred.shape[:2]} like pred_coords, got {src.shape}"
        )
    if horizon < 1:
        raise ValueError(f"horizon must be ≥ 1, got {horizon}")
    total_frames = masks.shape[0]
    if pred.shape[0] > total_frames:
        raise ValueError(
            f"pred_coords has {pred.shape[0]} source frames but masks only {total_frames}: "
            "masks must cover the source frames and their targets"
        )
    n_src = max(0, min(pred.shape[0], total_frames - horizon))
    if n_src == 0 or masks.shape[1] == 0:
        return float("nan")
    pred, src = pred[:n_src], src[:n_src]
    target = masks[horizon: horizon + n_src]
    used = src >= 0
    if not np.isfinite(pred[used]).all():
        raise ValueError("pred_coords of keypoints that were on an object must be finite")
    cols, rows = np.moveaxis(pixel_index(np.where(np.isfinite(pred), pred, 0.0), masks.shape[2:], clip=True), -1, 0)
    # inside[t, k]: the prediction lies in the target mask of the object k was on.
    inside = target[np.arange(n_src)[:, None], np.clip(src, 0, None), rows, cols] & used  # (S, K)
    on = src[..., None] == np.arange(masks.shape[1])  # (S, K, N)
    hit = on & inside[..., None]
    counts = on.sum(axis=1)  # (S, N)
    qualifies = (counts > 0) & target.any(axis=(2, 3))
    score = np.where(qualifies, hit.sum(axis=1) / np.maximum(counts, 1), 0.0)
    return _frame_mean(score.sum(1), qualifies.sum(1))


# --------------------------------------------------------------------------- one video


def video_metrics(
    coords: ArrayLike,
    status: ArrayLike,
    masks: ArrayLike,
    visible: ArrayLike,
    mean_area: float,
    static: Optional[ArrayLike] = None,
    centres: Optional[ArrayLike] = None,
) -> dict[str, float]:
    """All object metrics of one video.

    Masks of slots that are not visible in a frame are ignored (treated as empty).

    :param coords: ``(T, K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param masks: ``(T, N, H, W)`` bool visible pixels per object slot.
    :param visible: ``(T, N)`` bool.
    :param mean_area: Ā for RAK, mean visible object area of the scene family in mask pixels (> 0).
    :param static: ``(N,)`` bool, or None (then ``DOP_static`` and ``DOP_moving`` are nan).
    :param centres: ``(T, N, 2)`` object centres, or None to use the visible masks' centroids.
    :return: ``DOP``, ``DOP_static``, ``DOP_moving``, ``TOP`` (percent), ``UAK`` (keypoints
        per frame), ``RAK`` (ratio), ``match_dist`` ([-1, 1] scale), ``match_dist_px`` (mask
        pixels), ``id_switches`` (count in the video), each a float; nan where undefined.
    """
    coords, status, masks = _check_inputs(coords, status, masks)
    visible = _check_visible(visible, masks)
    if not np.isfinite(mean_area) or mean_area <= 0:
        raise ValueError(f"mean_area must be a positive object area in mask pixels, got {mean_area}")
    masks = masks & visible[:, :, None, None]
    if static is not None:
        static = _np(static).astype(bool)
        if static.shape != (masks.shape[1],):
            raise ValueError(f"static must have shape (N,) = ({masks.shape[1]},), got {static.shape}")
    if centres is None:
        centres = mask_centroids(masks)
    else:
        centres = _np(centres).astype(np.float64)
        if centres.shape != (*masks.shape[:2], 2):
            raise ValueError(f"centres must have shape (T, N, 2) = {(*masks.shape[:2], 2)}, got {centres.shape}")
        if not np.isfinite(centres[visible]).all():
            raise ValueError("centres of visible objects must be finite")

    assignments = keypoint_assignments(coords, status, masks)
    match_dist, match_dist_px = matched_distances(coords, status, centres, visible, masks.shape[2:])
    nan = float("nan")
    return {
        "DOP": detected_objects_percent(assignments, visible),
        "DOP_static": nan if static is None else detected_objects_percent(assignments, visible, static),
        "DOP_moving": nan if static is None else detected_objects_percent(assignments, visible, ~static),
        "TOP": tracked_objects_percent(assignments, visible),
        "UAK": unsuccessful_assignments(assignments),
        "RAK": redundant_assignments(assignments, masks, mean_area),
        "match_dist": match_dist,
        "match_dist_px": match_dist_px,
        "id_switches": float(identity_switches(identities(coords, assignments, centres), visible)),
    }


# --------------------------------------------------------------------------- objects entering and leaving


ENTER_WINDOW = 6
"""Enter analysis of :func:`enter_leave_metrics`: frames 0 .. ENTER_WINDOW − 1 after an object becomes visible."""
LEAVE_WINDOW = 6
"""Leave analysis of :func:`enter_leave_metrics`: keypoints on the object in its last LEAVE_WINDOW frames before it
left."""


def enter_leave_metrics(coords: ArrayLike, status: ArrayLike, masks: ArrayLike, visible: ArrayLike,
                        enter_window: int = ENTER_WINDOW, leave_window: int = LEAVE_WINDOW) -> dict[str, float]:
    """How keypoints behave as objects enter and leave the frame (one video).

    :param coords: ``(T, K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param masks: ``(T, N, H, W)`` bool visible pixels per object slot.
    :param visible: ``(T, N)`` bool.
    :param enter_window: frames after an object becomes visible that ``DOP_enter`` looks at.
    :param leave_window: frames before an object left in which its keypoints are looked for.
    :return: the percentages below, each a float:

    - ``active_pct``: mean % of the K keypoints that are active;
    - ``on_object_pct``: per frame, % of the active keypoints that lie on a visible object
      (mean over frames with an active keypoint);
    - ``DOP_enter``: % of (entry, frame) pairs, over the frames 0 .. enter_window − 1 after an
      object becomes visible (while it stays visible), where it has ≥ 1 keypoint on it;
      objects visible in the first frame do not count as entering;
    - ``leave_off_pct`` / ``leave_bg_pct`` / ``leave_other_pct``: for an object that leaves
      (visible at t − 1, not at t), take the keypoints on it in the last of its frames
      t − leave_window .. t − 1 where it had any (an object leaving is a sliver for its last
      frames, often with no keypoint on it); of those, % that are inactive / active on the
      background / on another object at frame t. Objects with no keypoint in those frames
      give no event.

    Each is ``nan`` where it has no event (e.g. no object enters).
    """
    coords, status, masks = _check_inputs(coords, status, masks)
    visible = _check_visible(visible, masks)
    masks = masks & visible[:, :, None, None]
    assign = keypoint_assignments(coords, status, masks)  # (T, K)
    active = status > ACTIVE_THRESHOLD
    length, n = visible.shape
    n_active = active.sum(axis=1)
    on_object = (assign >= 0).sum(axis=1)
    detected = (assign[:, :, None] == np.arange(n)).any(axis=1)  # (T, N)
    enter_hits, leave_off, leave_bg, leave_other = [], [], [], []
    for t in range(1, length):
        for o in np.flatnonzero(visible[t] & ~visible[t - 1]):  # o enters at t
            for dt in range(enter_window):
                if t + dt >= length or not visible[t + dt, o]:
                    break
                enter_hits.append(detected[t + dt, o])
        for o in np.flatnonzero(visible[t - 1] & ~visible[t]):  # o has left at t
            last = t - 1  # walk back through its last visible frames to one with a keypoint on it
            while last > t - 1 - leave_window and last >= 0 and visible[last, o] and not detected[last, o]:
                last -= 1
            if last <= t - 1 - leave_window or last < 0 or not detected[last, o]:
                continue
            for k in np.flatnonzero(assign[last] == o):
                leave_off.append(not active[t, k])
                leave_bg.append(assign[t, k] == BACKGROUND)
                leave_other.append(assign[t, k] >= 0)

    def pct(values: list) -> float:
        return 100.0 * float(np.mean(values)) if values else float("nan")

    keep = n_active > 0
    return {
        "active_pct": 100.0 * float(active.mean()),
        "on_object_pct": 100.0 * float(np.mean(on_object[keep] / n_active[keep])) if keep.any() else float("nan"),
        "DOP_enter": pct(enter_hits),
        "leave_off_pct": pct(leave_off),
        "leave_bg_pct": pct(leave_bg),
        "leave_other_pct": pct(leave_other),
    }


# --------------------------------------------------------------------------- over seeds


def aggregate(values_per_seed: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and Student-t confidence interval over seeds.

    ``half_width = t_{(1 + confidence) / 2, n − 1} · s / √n`` with ``s`` the sample standard
    deviation (ddof = 1). Non-finite values (a metric undefined for a seed) are dropped and
    ``n`` counts the values used. With ``n = 1`` the interval is undefined: ``half_width``,
    ``ci_low`` and ``ci_high`` are nan; with ``n = 0`` everything is nan.

    :param values_per_seed: one value per seed.
    :param confidence: in (0, 1).
    :return: ``mean``, ``ci_low``, ``ci_high``, ``half_width`` and ``n`` (as a float).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray([float(v) for v in values_per_seed], dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    if n >= 2:
        half = float(student_t.ppf((1.0 + confidence) / 2.0, n - 1) * values.std(ddof=1) / np.sqrt(n))
    else:
        half = float("nan")
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "half_width": half, "n": float(n)}


def finite_mean(values: Sequence[float]) -> float:
    """Mean of the finite values (float64), ``nan`` when none is finite: a seed's mean of one metric over its
    videos, as :func:`summarize` takes it.

    >>> finite_mean([1.0, float("nan"), 3.0]), finite_mean([float("nan")])
    (2.0, nan)
    """
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return float(finite.mean()) if finite.size else float("nan")


def summarize(
    per_seed: Union[Mapping[Any, Sequence[Mapping[str, float]]], Sequence[Sequence[Mapping[str, float]]]],
    confidence: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Per-video metric dicts → mean per seed → :func:`aggregate` over seeds, per metric.

    Within a seed, videos where a metric is nan are skipped (nan if all are).

    :param per_seed: for each seed (a mapping seed → videos, or a sequence of them), the
        list of :func:`video_metrics` dicts of its videos; every dict must have the same keys.
    :param confidence: of the Student-t interval.
    :return: ``{metric: aggregate(...)}``.
    """
    groups = list(per_seed.values()) if isinstance(per_seed, Mapping) else list(per_seed)
    if not groups or any(len(videos) == 0 for videos in groups):
        raise ValueError("summarize needs at least one seed, each with at least one video's metrics")
    keys = list(groups[0][0].keys())
    seed_means: dict[str, list[float]] = {key: [] for key in keys}
    for videos in groups:
        for video in videos:
            if set(video.keys()) != set(keys):
                raise ValueError(f"every video's metrics must have the same keys; expected {sorted(keys)}, got {sorted(video)}")
        for key in keys:
            values = np.asarray([float(v[key]) for v in videos], dtype=np.float64)
            finite = values[np.isfinite(values)]
            seed_means[key].append(float(finite.mean()) if len(finite) else float("nan"))
    return {key: aggregate(means, confidence) for key, means in seed_means.items()}
