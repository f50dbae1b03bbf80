"""Persistent entities from per-frame keypoints: merge duplicates, match over time, coast through misses.

MINT's keypoints are detected frame by frame: a keypoint index may jump from one object to
another, two or three keypoints pile up on one object, and an object is missed for a couple
of frames now and then (``docs/keypoint_ladder.md`` measures all three on Catch). A policy
that reads keypoints as a set of entities, two frames stacked, then sees velocities that are
jumps and objects that blink. :class:`KeypointTracker` is a switchable addition after the
encoder (MINT's losses and keypoints are unchanged), a small multi-object tracker in the
manner of SORT:

1. *merge*: the active keypoints of one frame (status > 0.5) whose category agrees (e.g. the
   colour code of :mod:`mint_rl.appearance`) and that lie within ``merge_px`` of each other
   (transitively) become one detection at their mean position;
2. *match*: detections are assigned to the live tracks by the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) on the distance between the detection and the
   track's predicted position (last position plus last displacement), only within
   ``gate_px`` and within the same category;
3. *coast*: a track without a detection moves on at its last displacement for up to
   ``max_age`` frames, then its slot is freed; a detection without a track takes the lowest
   free slot.

Slots keep their entity from frame to frame, so a slot's displacement between two stacked
frames is the entity's velocity. Coordinates: (x, y), y down, in [-1, 1], pixel-centre
aligned (:mod:`mint_rl.keypoints`); distances are in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mint_rl.coords import normalised_to_pixel, pixel_to_normalised

__all__ = ["TrackerConfig", "KeypointTracker", "merge_detections", "COASTING_STATUS"]

COASTING_STATUS = 0.75
"""Status of a track kept alive without a detection this frame (present, as > 0.5, but told apart
from a detected one, whose status is 1)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`KeypointTracker`.

    :param slots: M, the tracks kept (output rows).
    :param merge_px: active keypoints of one category closer than this (transitively) are one entity.
    :param gate_px: a detection continues a track only when within this distance of its prediction.
    :param max_age: frames a track coasts without a detection before its slot is freed (0: never coast).
    """

    slots: int = 8
    merge_px: float = 9.0
    gate_px: float = 10.0
    max_age: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1:
            raise ValueError(f"TrackerConfig.slots must be an int >= 1, got {self.slots!r}")
        for name in ("merge_px", "gate_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"TrackerConfig.{name} must be a finite distance >= 0 px, got {value!r}")
        if isinstance(self.max_age, bool) or not isinstance(self.max_age, int) or self.max_age < 0:
            raise ValueError(f"TrackerConfig.max_age must be an int >= 0 frames, got {self.max_age!r}")


def merge_detections(points_px: np.ndarray, categories: np.ndarray, merge_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge the points of one frame into entities (single-linkage within a category).

    :param points_px: ``(P, 2)`` active keypoints in pixels.
    :param categories: ``(P,)`` int categories.
    :param merge_px: linkage distance.
    :return: ``(D, 2)`` entity positions (the mean of their points) and ``(D,)`` their categories,
        in the order of each entity's first point.
    """
    p = len(points_px)
    if p == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    diff = points_px[:, None] - points_px[None]
    link = (np.sqrt((diff * diff).sum(-1)) < merge_px) & (categories[:, None] == categories[None])
    # transitive closure by repeated squaring of the link matrix (P <= a few dozen keypoints)
    reach = link | np.eye(p, dtype=bool)
    while True:
        wider = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
        if (wider == reach).all():
            break
        reach = wider
    roots = reach.argmax(1)  # each point's group, named by the group's lowest index
    order = np.flatnonzero(roots == np.arange(p))  # the groups in first-point order
    group = np.searchsorted(order, roots)
    sums = np.zeros((len(order), points_px.shape[1]), dtype=np.result_type(points_px.dtype, np.float16))
    np.add.at(sums, group, points_px)  # in point order, as a mean over each group's rows adds them
    return sums / np.bincount(group)[:, None].astype(sums.dtype), categories[order].astype(np.int64)


class KeypointTracker:
    """Tracks of N independent streams (e.g. the sub-envs of a vector env); see the module docstring.

    :param num_streams: N.
    :param image_size: ``(H, W)`` of the frames the keypoints come from (distances are in their pixels).
    :param config: the :class:`TrackerConfig`.

    Example::

        >>> tracker = KeypointTracker(1, (64, 64), TrackerConfig(slots=4))
        >>> coords = np.array([[[0.0, 0.0], [0.03, 0.0], [0.5, 0.5]]])  # two keypoints on one entity
        >>> c, s, cat = tracker.update(coords, np.ones((1, 3)), np.zeros((1, 3), int), np.array([True]))
        >>> s[0].tolist()
        [1.0, 1.0, 0.0, 0.0]
    """

    def __init__(self, num_streams: int, image_size: tuple[int, int], config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        if num_streams < 1:
            raise ValueError(f"num_streams must be >= 1, got {num_streams}")
        h, w = image_size
        if h < 1 or w < 1:
            raise ValueError(f"image_size must be positive (H, W), got {image_size}")
        self.num_streams = num_streams
        self._size = (h, w)
        m = self.config.slots
        self.position = np.zeros((num_streams, m, 2))  # pixels
        self.velocity = np.zeros((num_streams, m, 2))
        self.age = np.full((num_streams, m), -1, dtype=np.int64)  # -1: free slot
        self.category = np.full((num_streams, m), -1, dtype=np.int64)

    def reset(self, index: int | np.ndarray | None = None) -> None:
        """Free every slot of the given streams (all when None), e.g. at a new episode."""
        idx = slice(None) if index is None else index
        self.position[idx], self.velocity[idx] = 0.0, 0.0
        self.age[idx], self.category[idx] = -1, -1

    def _to_px(self, coords: np.ndarray) -> np.ndarray:
        return normalised_to_pixel(coords, self._size)

    def _to_norm(self, px: np.ndarray) -> np.ndarray:
        return np.clip(pixel_to_normalised(px, self._size), -1.0, 1.0)

    def _step_stream(self, i: int, coords: np.ndarray, status: np.ndarray, categories: np.ndarray) -> None:
        cfg = self.config
        active = status > 0.5
        dets, det_cat = merge_detections(self._to_px(coords[active]), categories[active], cfg.merge_px)
        age, position, velocity = self.age[i], self.position[i], self.velocity[i]  # views of stream i
        live = np.flatnonzero(age >= 0)
        matched_tracks, matched_dets = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if len(live) and len(dets):
            diff = (position[live] + velocity[live])[:, None] - dets[None]  # predicted - detection
            cost = np.sqrt((diff * diff).sum(-1))
            cost[self.category[i, live][:, None] != det_cat[None]] = np.inf
            feasible = np.where(cost <= cfg.gate_px, cost, 1e6)
            rows, cols = linear_sum_assignment(feasible)
            ok = feasible[rows, cols] <= cfg.gate_px
            matched_tracks, matched_dets = live[rows[ok]], cols[ok]
        # matched: follow the detection
        velocity[matched_tracks] = dets[matched_dets] - position[matched_tracks]
        position[matched_tracks] = dets[matched_dets]
        age[matched_tracks] = 0
        # unmatched tracks: coast, then free
        track_matched = np.zeros(len(age), dtype=bool)
        track_matched[matched_tracks] = True
        coasting = live[~track_matched[live]]
        position[coasting] += velocity[coasting]
        age[coasting] += 1
        expired = coasting[age[coasting] > cfg.max_age]
        age[expired], self.category[i, expired] = -1, -1
        velocity[expired] = 0.0
        # unmatched detections: the lowest free slots, in detection order
        det_matched = np.zeros(len(dets), dtype=bool)
        det_matched[matched_dets] = True
        new = np.flatnonzero(~det_matched)
        free = np.flatnonzero(age < 0)[: len(new)]
        new = new[: len(free)]
        position[free], velocity[free] = dets[new], 0.0
        age[free], self.category[i, free] = 0, det_cat[new]

    def update(self, coords: np.ndarray, status: np.ndarray, categories: np.ndarray | None,
               new_episode: np.ndarray | None = None,
               index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance the tracks of some streams by one frame.

        :param coords: ``(n, K, 2)`` keypoints of the frame, (x, y) in [-1, 1].
        :param status: ``(n, K)`` in [0, 1].
        :param categories: ``(n, K)`` int category of each keypoint, or None (one category).
        :param new_episode: ``(n,)`` bool: free these streams' tracks first.
        :param index: ``(n,)`` the streams the rows belong to (default: all N, in order).
        :return: the tracks of those streams: coords ``(n, M, 2)`` in [-1, 1] (0 for free slots),
            status ``(n, M)`` (1 detected, :data:`COASTING_STATUS` coasting, 0 free) and categories
            ``(n, M)`` (-1 for free slots).
        """
        coords, status = np.asarray(coords, dtype=np.float64), np.asarray(status, dtype=np.float64)
        streams = np.arange(self.num_streams) if index is None else np.asarray(index, dtype=np.int64)
        n = len(streams)
        if coords.ndim != 3 or coords.shape[0] != n or coords.shape[-1] != 2 or status.shape != coords.shape[:2]:
            raise ValueError(f"KeypointTracker.update: coords must be (n, K, 2) and status (n, K) for the n = {n} "
                             f"streams, got {coords.shape} and {status.shape}")
        cats = np.zeros(status.shape, dtype=np.int64) if categories is None else np.asarray(categories, np.int64)
        if cats.shape != status.shape:
            raise ValueError(f"KeypointTracker.update: categories must be (n, K) = {status.shape}, got {cats.shape}")
        if new_episode is not None:
            self.reset(streams[np.asarray(new_episode, dtype=bool)])
        for row, i in enumerate(streams):
            self._step_stream(int(i), coords[row], status[row], cats[row])
        age = self.age[streams]
        out_status = np.where(age == 0, 1.0, np.where(age > 0, COASTING_STATUS, 0.0))
        out_coords = np.where((age >= 0)[..., None], self._to_norm(self.position[streams]), 0.0)
        return out_coords, out_status, self.category[streams].copy()
