"""Per-object keypoint detection on Atari games, scored against the RAM ground truth.

The instrument behind ``experiments/atari_objects_detection.py``: play held-out frames of a game
that :mod:`envs.atari_objects` can read (:data:`~envs.atari_objects.SUPPORTED_GAMES`) with a
uniformly random policy, keep each frame's object boxes as masks, encode the frames with a
keypoint encoder and report, per object *category* (``"ball"``, ``"player"``, ``"ghost"``, ...):

=============  ==================================================================================
``detection``  % of (frame, visible object of the category) pairs with an active keypoint inside
               the object's box mask (undilated); for a category of one slot (Pong's ball) the
               % of frames in which the object is visible and detected
``DOP``        :func:`mint_rl.metrics.detected_objects_percent` over the category's slots: per
               frame the % of its visible objects that are detected, averaged over the frames with
               one (equal to ``detection`` for a one-slot category)
``TOP``        :func:`mint_rl.metrics.tracked_objects_percent` over the category's slots: the same
               keypoint stays on the object from one frame to the next
``objects``    the (frame, visible object) pairs the category had, the denominator of ``detection``
=============  ==================================================================================

``detection_by_category(..., dilate=d)`` scores the same on boxes grown by ``d`` pixels on every side
(:func:`dilate_masks`): a side measure for objects of a pixel or two at the encoder's frame size (Pong's
ball is 1 × 1 or 1 × 2 pixels at 84 × 84, its colour spread over its neighbours by the resize), where a keypoint
half a pixel off the box misses it; the targets stay on the undilated boxes.
``detection_by_category(..., pooled=True)`` scores on each object's undilated boxes in *both* emulator frames the
observation max-pools (``AtariRecording.pooled_masks``): a fast object is drawn twice in the observation and its
box in the last frame holds only the later image, so a keypoint on the earlier one misses it. On random-policy Pong a
keypoint placed on the drawn ball is inside the last frame's box in only about 66 % of frames, and inside the pooled
boxes in about 93 % (``results/atari_detection_ceiling/ball_ceiling_probe.py``).

and, from :func:`readout_by_category` (:mod:`mint_rl.readout`), what a policy could read without a keypoint on the box:

=================  ==============================================================================
``probe_px``       mean error, in pixels of the frame, of each object's centre read from the
                   frame's keypoints by a linear map (ridge regression on ``(x·a, y·a, a)`` per
                   keypoint) fitted on the other videos; over the category's (frame, visible object) pairs
``probe_base_px``  the same for the constant guess (the other videos' mean centre): the read-out
                   carries the position where ``probe_px`` is well below it
=================  ==============================================================================

and per frame, for all categories together:

=============  ==================================================================================
``UAK``        :func:`mint_rl.metrics.unsuccessful_assignments`: active keypoints on no object
               box (background), per frame
``active``     active keypoints (``status > 0.5``) per frame (the Transporter's are all K)
=============  ==================================================================================

Atari boxes overlap (the four ghosts in their house, two boxers, a ghost over Ms Pac-Man), where
:func:`mint_rl.metrics.keypoint_assignments` gives a keypoint to the lowest slot only. Here every
slot is scored against its own mask alone (:func:`slot_assignments`), so a keypoint inside two
boxes detects both; DOP and TOP are then :mod:`mint_rl.metrics`' functions on these assignments.

Frames come in *videos*: one per held-out stream and episode (env seeds ``seed, seed + 1, ...``,
one per stream; an episode that ends in a stream starts the next video). DOP and TOP are pooled
over the videos as :mod:`mint_rl.metrics` averages over frames: weighted by each video's frames
where they are defined, and TOP never links the last frame of one video to the first of the next.

The frames are those :func:`envs.collect.collect_frames` gives ``experiments/pretrain.py`` for an
``ALE/<game>-v5`` id: :func:`envs.atari.make_atari_env` with its defaults (sticky actions 0.25, up
to 30 no-ops, frame skip 4 max-pooled), RGB resized to the encoder's ``image_size`` (84×84 unless
pretrained with ``--image-size``). The masks are :class:`envs.atari_objects.AtariObjects`' boxes at
that size. Known limits of the ground truth (ghost flicker, a fast ball's second image in the
max-pooled frame) are in ``docs/atari_objects.md``.

Example::

    >>> rec = record_atari_objects("Pong", 40, num_streams=2)
    >>> rec.frames.shape, rec.masks.shape, rec.categories.tolist()
    ((40, 84, 84, 3), (40, 3, 84, 84), ['player', 'enemy', 'ball'])
    >>> report = detection_by_category(rec, rec.centres, rec.visible.astype(float))
    >>> report.categories["ball"]["detection"], report.UAK
    (100.0, 0.0)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mint_rl.keypoints import encode_in_chunks
from mint_rl.metrics import (ACTIVE_THRESHOLD, detected_objects_percent, keypoint_assignments, keypoint_counts,
                             tracked_objects_percent, unsuccessful_assignments)
from mint_rl.readout import linear_readout, readout_errors

from .atari import make_atari_env
from .atari_objects import AtariObjects, game_layout

__all__ = ["HELD_OUT_SEED", "CATEGORY_METRICS", "FRAME_METRICS", "AtariRecording", "Detection",
           "record_atari_objects", "encode_frames", "slot_assignments", "object_hits", "dilate_masks", "detection_by_category",
           "readout_by_category", "atari_detection"]

HELD_OUT_SEED = 10_000
"""Env seed of the first held-out stream; pretraining frames use seeds below it."""
CATEGORY_METRICS = ("detection", "DOP", "TOP", "objects")
"""Per-category values of :class:`Detection` (percentages, then a count)."""
FRAME_METRICS = ("UAK", "active")
"""Per-frame values of :class:`Detection` (keypoints per frame)."""


@dataclass
class AtariRecording:
    """Held-out frames of one game with their object ground truth (``T`` frames, ``N`` slots).

    :param game: the ALE game name, e.g. ``"Pong"``.
    :param frames: ``(T, H, W, C)`` uint8 observations (C = 3 RGB or 1 grey).
    :param masks: ``(T, N, H, W)`` bool, each slot's box at the frame size (empty when not visible).
    :param visible: ``(T, N)`` bool.
    :param centres: ``(T, N, 2)`` box centres, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param categories: ``(N,)`` str, the category of each slot.
    :param starts: ``(T,)`` bool, True at the first frame of each video (stream or episode).
    :param pooled_masks: ``(T, N, H, W)`` bool, each slot's boxes in both emulator frames the observation
        max-pools, where it is visible in the last one (``AtariObjects``' ``pooled_masks``); None in a
        recording saved before they were kept.
    """

    game: str
    frames: np.ndarray
    masks: np.ndarray
    visible: np.ndarray
    centres: np.ndarray
    categories: np.ndarray
    starts: np.ndarray
    pooled_masks: np.ndarray | None = None

    def videos(self) -> list[slice]:
        """The frame ranges of the videos, in order."""
        edges = [*np.flatnonzero(self.starts), len(self.starts)]
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def save(self, path: str | os.PathLike) -> Path:
        """Write to a compressed ``.npz`` atomically (``<stem>.tmp.npz`` then ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        extra = {} if self.pooled_masks is None else {"pooled_masks": self.pooled_masks}
        np.savez_compressed(tmp, game=np.array(self.game), frames=self.frames, masks=self.masks,
                            visible=self.visible, centres=self.centres, categories=self.categories, starts=self.starts,
                            **extra)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AtariRecording":
        with np.load(path) as data:
            return cls(str(data["game"]), *(data[k] for k in ("frames", "masks", "visible", "centres", "categories",
                                                               "starts")),
                       pooled_masks=data["pooled_masks"] if "pooled_masks" in data.files else None)


@dataclass
class Detection:
    """What :func:`detection_by_category` measured on one recording.

    :param game: the ALE game name.
    :param categories: category → ``{"detection", "DOP", "TOP", "objects"}`` (see the module
        docstring); ``nan`` where a value is undefined (a category never visible).
    :param UAK: active keypoints on no object box, per frame.
    :param active: active keypoints per frame.
    :param frames: frames scored.
    """

    game: str
    categories: dict[str, dict[str, float]]
    UAK: float
    active: float
    frames: int

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per category (``category``, the category values, ``UAK``, ``active``, ``frames``)."""
        return [{"category": name, **values, "UAK": self.UAK, "active": self.active, "frames": self.frames}
                for name, values in self.categories.items()]


def _stream_lengths(num_frames: int, num_streams: int) -> list[int]:
    streams = min(num_streams, num_frames)
    return [num_frames // streams + (i < num_frames % streams) for i in range(streams)]


def record_atari_objects(game: str, num_frames: int, *, frame_size: int | tuple[int, int] = 84, rgb: bool = True,
                         seed: int = HELD_OUT_SEED, num_streams: int = 4, **env_kwargs: Any) -> AtariRecording:
    """Play ``num_frames`` random-policy frames of ``game`` in ``num_streams`` streams and keep the ground truth.

    Stream ``i`` is an env seeded with ``seed + i`` (the reset and the action sampler) that plays
    ``num_frames / num_streams`` frames; an episode that ends inside it starts a new video.

    :param game: an ALE game name or id with a RAM reader (``"Pong"``, ``"ALE/Pong-v5"``).
    :param frame_size: the encoder's input size, an int (square) or ``(H, W)``.
    :param rgb: RGB frames (``C = 3``, as ``pretrain.py`` trains on); False gives grey (``C = 1``).
    :param env_kwargs: passed to :func:`envs.atari.make_atari_env` (keep its defaults to score
        on frames like the pretraining ones).
    :raises ValueError: for a game without a reader (the message lists the supported games), or
        ``num_frames`` / ``num_streams`` below 1.
    """
    layout = game_layout(game)
    if int(num_frames) < 1 or int(num_streams) < 1:
        raise ValueError(f"num_frames and num_streams must be >= 1, got {num_frames} and {num_streams}")
    keys = ("masks", "visible", "centres", "pooled_masks")
    frames: list[np.ndarray] = []
    truth: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    starts: list[bool] = []
    for stream, length in enumerate(_stream_lengths(int(num_frames), int(num_streams))):
        env = make_atari_env(f"ALE/{layout.game}-v5", rgb=rgb, screen_size=frame_size, wrappers=[AtariObjects],
                             **env_kwargs)
        env.action_space.seed(seed + stream)
        obs, info = env.reset(seed=seed + stream)
        new_video = True
        try:
            for _ in range(length):
                frames.append(obs)
                for k in keys:
                    truth[k].append(info["objects"][k])
                starts.append(new_video)
                obs, _, terminated, truncated, info = env.step(env.action_space.sample())
                new_video = terminated or truncated
                if new_video:
                    obs, info = env.reset()
        finally:
            env.close()
    stacked = np.stack(frames)
    if stacked.ndim == 3:  # grey (T, H, W) → (T, H, W, 1)
        stacked = stacked[..., None]
    return AtariRecording(layout.game, stacked, np.stack(truth["masks"]).astype(bool),
                          np.stack(truth["visible"]).astype(bool), np.stack(truth["centres"]).astype(np.float32),
                          np.array(layout.categories), np.array(starts, dtype=bool),
                          np.stack(truth["pooled_masks"]).astype(bool))


def encode_frames(encoder: torch.nn.Module, frames: np.ndarray, device: str | torch.device = "cpu",
                  batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``coords (T, K, 2)`` and ``status (T, K)`` of frames ``(T, H, W, C)`` uint8, in eval mode, no gradient.

    :param encoder: any keypoint encoder whose forward maps ``(B, C, H, W)`` to
        :class:`~mint_rl.keypoints.Keypoints` (MINT, the Transporter).
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(device)
    kp = encode_in_chunks(encoder, x, batch_size)
    return kp.coords.cpu().numpy(), kp.status.cpu().numpy()


def slot_assignments(coords: np.ndarray, status: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Each keypoint once per slot, scored against that slot's mask alone.

    Column block ``j`` (keypoints ``j K .. (j + 1) K - 1``) holds ``j`` where keypoint ``k`` is active and
    inside slot ``j``'s mask, else :data:`~mint_rl.metrics.BACKGROUND` / ``INACTIVE``; so
    :func:`~mint_rl.metrics.keypoint_counts`, ``detected_objects_percent`` and ``tracked_objects_percent``
    count a keypoint inside two overlapping boxes for both (and TOP asks keypoint ``k`` to stay on slot ``j``).

    :param coords: ``(T, K, 2)`` (x, y) in [-1, 1].
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param masks: ``(T, N, H, W)`` bool.
    :return: ``(T, N K)`` int64 assignments over the ``N`` slots.
    """
    blocks = [np.zeros((len(coords), 0), dtype=np.int64)]  # N = 0: no column
    for j in range(masks.shape[1]):
        own = keypoint_assignments(coords, status, masks[:, [j]])  # 0 inside slot j's mask
        blocks.append(np.where(own == 0, j, own))
    return np.concatenate(blocks, axis=1)


def _scoring_inputs(recording: AtariRecording, coords: np.ndarray, status: np.ndarray,
                    pooled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked float64 ``coords (T, K, 2)``, ``status (T, K)`` and the boxes scored against: the recording's
    last-frame masks, or its pooled masks with ``pooled``."""
    coords, status = np.asarray(coords, dtype=np.float64), np.asarray(status, dtype=np.float64)
    t = len(recording.frames)
    if coords.ndim != 3 or coords.shape[0] != t or coords.shape[-1] != 2 or status.shape != coords.shape[:2]:
        raise ValueError(f"coords must be (T, K, 2) and status (T, K) with T = {t} frames of the recording, got "
                         f"{coords.shape} and {status.shape}")
    if not pooled:
        return coords, status, recording.masks
    if recording.pooled_masks is None:
        raise ValueError("pooled=True needs a recording with pooled_masks; this one was saved before they were "
                         "kept: record it again (record_atari_objects)")
    return coords, status, recording.pooled_masks


def object_hits(recording: AtariRecording, coords: np.ndarray, status: np.ndarray, pooled: bool = False) -> np.ndarray:
    """Which visible objects have an active keypoint inside their undilated box, frame by frame.

    :param recording: from :func:`record_atari_objects`.
    :param coords: ``(T, K, 2)`` keypoints of its frames, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param pooled: score against the boxes of both frames the observation max-pools (``recording.pooled_masks``).
    :return: ``(T, N)`` bool, False for a slot not visible in that frame; a category's mean over its visible
        slots is :func:`detection_by_category`'s ``detection`` (``dilate=0``).
    """
    coords, status, boxes = _scoring_inputs(recording, coords, status, pooled)
    masks = boxes & recording.visible[:, :, None, None]
    return (keypoint_counts(slot_assignments(coords, status, masks), masks.shape[1]) > 0) & recording.visible


def dilate_masks(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Boxes grown by ``pixels`` on every side: ``(..., H, W)`` bool → the same shape, a pixel set where any
    pixel of its ``(2 pixels + 1)²`` square is (a square structuring element; 0: unchanged)."""
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise ValueError(f"dilate must be a whole number of pixels >= 0, got {pixels!r}")
    masks = np.asarray(masks, dtype=bool)
    if pixels == 0 or masks.size == 0:
        return masks
    flat = torch.from_numpy(np.ascontiguousarray(masks)).reshape(-1, 1, *masks.shape[-2:]).float()
    grown = torch.nn.functional.max_pool2d(flat, 2 * int(pixels) + 1, stride=1, padding=int(pixels))
    return grown.reshape(masks.shape).numpy() > 0


def _pooled(values: list[float], weights: list[int]) -> float:
    """Mean of per-video values weighted by their defined frames (``nan`` values carry weight 0)."""
    kept = [(v, w) for v, w in zip(values, weights) if w > 0 and np.isfinite(v)]
    total = sum(w for _, w in kept)
    return float(sum(v * w for v, w in kept) / total) if total else float("nan")


def detection_by_category(recording: AtariRecording, coords: np.ndarray, status: np.ndarray,
                          dilate: int = 0, pooled: bool = False) -> Detection:
    """Score keypoints against a recording's object boxes (undilated, or grown by ``dilate`` pixels), per category.

    :param recording: from :func:`record_atari_objects`.
    :param coords: ``(T, K, 2)`` keypoints of its frames, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :param dilate: grow every box by this many pixels on each side before scoring (:func:`dilate_masks`; UAK
        then counts the keypoints off the grown boxes). 0: the boxes as they are.
    :param pooled: score against ``recording.pooled_masks`` (each object's boxes in both emulator frames the
        observation max-pools) instead of its box in the last frame.
    :return: the :class:`Detection` (definitions in the module docstring).
    :raises ValueError: for coords of another length, or ``pooled`` on a recording without pooled masks.
    """
    dilate_masks(np.zeros((0, 1, 1), bool), dilate)  # a bad dilate is refused before any scoring
    coords, status, boxes = _scoring_inputs(recording, coords, status, pooled)
    t = len(recording.frames)
    names = list(dict.fromkeys(recording.categories.tolist()))
    tally = {name: {"hit": 0, "objects": 0, "DOP": [], "DOP_w": [], "TOP": [], "TOP_w": []} for name in names}
    background = 0.0
    for video in recording.videos():
        c, s, masks, visible = coords[video], status[video], boxes[video], recording.visible[video]
        masks = dilate_masks(masks & visible[:, :, None, None], dilate)
        background += unsuccessful_assignments(keypoint_assignments(c, s, masks)) * len(c)
        for name in names:
            slots = recording.categories == name
            assign = slot_assignments(c, s, masks[:, slots])
            vis = visible[:, slots]
            entry = tally[name]
            entry["hit"] += int(((keypoint_counts(assign, vis.shape[1]) > 0) & vis).sum())
            entry["objects"] += int(vis.sum())
            entry["DOP"].append(detected_objects_percent(assign, vis))
            entry["DOP_w"].append(int(vis.any(1).sum()))
            entry["TOP"].append(tracked_objects_percent(assign, vis))
            entry["TOP_w"].append(int(vis[1:].any(1).sum()))
    categories = {name: {"detection": 100.0 * e["hit"] / e["objects"] if e["objects"] else float("nan"),
                         "DOP": _pooled(e["DOP"], e["DOP_w"]), "TOP": _pooled(e["TOP"], e["TOP_w"]),
                         "objects": float(e["objects"])} for name, e in tally.items()}
    active = float((status > ACTIVE_THRESHOLD).sum(1).mean()) if t else float("nan")
    return Detection(recording.game, categories, background / t if t else float("nan"), active, t)


def readout_by_category(recording: AtariRecording, coords: np.ndarray, status: np.ndarray) -> dict[str, dict[str, float]]:
    """Per category, how well a linear map reads each object's centre from the keypoints (:mod:`mint_rl.readout`).

    The folds are the recording's videos (each scored by a map fitted on the others); a recording of one video is
    split into its two halves.

    :param recording: from :func:`record_atari_objects`.
    :param coords: ``(T, K, 2)`` keypoints of its frames, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(T, K)``; active when ``status > 0.5``.
    :return: category → ``{"probe_px", "probe_base_px"}``: mean error in pixels of the frame over the category's
        (frame, visible object) pairs that got a prediction (a slot visible in one video only gets none), of the
        read-out and of the constant guess; ``nan`` for a category never visible.
    """
    videos = recording.videos()
    fold = np.zeros(len(recording.frames), np.int64)
    if len(videos) > 1:
        for i, video in enumerate(videos):
            fold[video] = i
    else:
        fold[len(fold) // 2:] = 1
    size = recording.frames.shape[1:3]
    errors = {name: readout_errors(linear_readout(coords, status, recording.centres, recording.visible, fold,
                                                  features=use), recording.centres, size)
              for name, use in (("probe_px", True), ("probe_base_px", False))}
    out = {}
    for name in dict.fromkeys(recording.categories.tolist()):
        slots = recording.categories == name
        out[name] = {key: float(np.nanmean(err[:, slots])) if np.isfinite(err[:, slots]).any() else float("nan")
                     for key, err in errors.items()}
    return out


def atari_detection(encoder: torch.nn.Module, game: str, num_frames: int = 1000, *,
                    recording: AtariRecording | None = None, seed: int = HELD_OUT_SEED, num_streams: int = 4,
                    device: str | torch.device = "cpu") -> Detection:
    """Record held-out frames of ``game`` at the encoder's input size, encode them, score per category.

    :param encoder: a keypoint encoder with a ``config`` (:class:`~mint_rl.config.MintConfig`: its
        ``image_size`` and ``in_channels`` give the frame size and RGB / grey), e.g. from
        :func:`mint_rl.baselines.load_encoder`.
    :param game: an ALE game name or id with a RAM reader.
    :param num_frames: held-out frames (ignored when ``recording`` is given).
    :param recording: frames recorded before (e.g. cached with :meth:`AtariRecording.save`), of the
        encoder's frame size; recorded here when None.
    :param seed: env seed of the first held-out stream (keep it apart from the pretraining seeds).
    :raises ValueError: for a game without a reader (listing the supported games), an encoder
        without a config, or a recording of another game or frame size.
    """
    config = getattr(encoder, "config", None)
    if config is None or not hasattr(config, "image_size"):
        raise ValueError(f"atari_detection needs an encoder with a MintConfig .config (its image_size and "
                         f"in_channels give the frames); got {type(encoder).__name__}")
    if config.in_channels not in (1, 3):
        raise ValueError(f"the encoder takes {config.in_channels}-channel frames; Atari frames are RGB (3) or grey (1)")
    layout = game_layout(game)
    shape = (*config.image_size, config.in_channels)
    if recording is None:
        recording = record_atari_objects(layout.game, num_frames, frame_size=tuple(config.image_size),
                                         rgb=config.in_channels == 3, seed=seed, num_streams=num_streams)
    elif recording.game != layout.game or recording.frames.shape[1:] != shape:
        raise ValueError(f"the recording holds {recording.game} frames {recording.frames.shape[1:]}; the encoder "
                         f"needs {layout.game} frames {shape}")
    coords, status = encode_frames(encoder, recording.frames, device)
    return detection_by_category(recording, coords, status)
