"""What keypoints carry about a task's objects, measured against ``info["objects"]``.

The instrument behind the observation ladder (``experiments/keypoint_properties.py``, ``docs/keypoint_ladder.md``): play
held-out episodes of an object task (``MintTasks/*``, or any env whose ``info["objects"]``
has the keys of :mod:`envs.scenes` with masks; or an ALE game with a RAM object reader, its
boxes as masks: :func:`atari_episodes`), encode every frame with a keypoint encoder,
and measure the properties that :class:`envs.object_keypoints.ObjectKeypoints` can degrade
the true object centres by:

=====================  ==========================================================================
``detect_agent``       % of frames in which an active keypoint lies on the agent (paddle)
``detect_objects``     % of (frame, visible task object) in which an active keypoint lies on it
``detect_focus``       the same for the object that matters next (Catch: the lowest object still
                       above the paddle; tasks with a ``target`` flag: the target)
``detect_by_band``     ``detect_objects`` by the object's vertical third of the frame (top, middle,
                       bottom)
``detect_by_slot``     % of frames in which an active keypoint lies on each slot's object, where slots
                       are fixed categories (Atari: Pong's player, enemy, ball); only for episodes with
                       ``fixed_slots`` (:func:`atari_episodes`)
``detect_by_stage``    ``detect_objects`` by the object's stage relative to the agent (Catch-like tasks
                       with one; nan on Atari episodes): *entering* (centre in the top ``ENTERING_PX`` rows, just come in
                       from above), *falling* (the rest of those above the agent), *passed* (centre at
                       most 2 px above the agent's centre or lower: out of the agent's reach)
``miss_run``           mean length (frames) of a run of consecutive frames in which a visible task
                       object is missed
``error_px``           mean distance (frame pixels) from an object's centre to the nearest active
                       keypoint on it, over detected (frame, object) pairs
``switches_per_100``   identity switches (:func:`mint_rl.metrics.identity_switches`) per 100
                       (frame, object) pairs detected in two consecutive frames
``jumps_per_100``      keypoints that move from one object to another between consecutive frames, per
                       100 visible object-frames (what :class:`envs.object_keypoints.ObjectKeypoints`
                       simulates with ``switch_rate``: a row that starts showing another object)
``keypoints_per_obj``  mean number of active keypoints on a detected object
``background``         mean number of active keypoints on no object per frame (UAK)
``status_flips``       % of (frame, keypoint) in which the active status changed from the previous
                       frame
=====================  ==========================================================================

A keypoint is *on* an object when it is active and its pixel lies in the object's visible
mask dilated by ``tolerance_px`` pixels (MINT keypoints sit on edges, where the entropy is,
and the soft-argmax may land one pixel outside a small object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import cv2
import gymnasium as gym
import numpy as np
import torch

from mint_rl.coords import pixels_per_unit
from mint_rl.metrics import identities, identity_switches, keypoint_assignments

__all__ = ["Episode", "record_episodes", "atari_episodes", "encode_episodes", "track_episodes", "keypoint_properties", "catch_focus",
           "PROPERTIES"]

PROPERTIES = ("detect_agent", "detect_objects", "detect_focus", "miss_run", "error_px", "switches_per_100",
              "jumps_per_100", "keypoints_per_obj", "background", "status_flips")
"""Scalar properties returned by :func:`keypoint_properties` (plus ``detect_by_band``, ``detect_by_stage`` and, for
fixed slots, ``detect_by_slot``)."""
ENTERING_PX = 8
"""``detect_by_stage``: an object whose centre lies in the top this many pixel rows is entering."""


@dataclass
class Episode:
    """One recorded episode.

    :param frames: ``(T, H, W, C)`` uint8 observations.
    :param masks: ``(T, N, H, W)`` bool visible pixels of each object slot.
    :param visible: ``(T, N)`` bool.
    :param centres: ``(T, N, 2)`` object centres, mint-rl convention.
    :param agent: ``(N,)`` bool, the agent's slot.
    :param focus: ``(T, N)`` bool, the object that matters next (at most one per frame).
    :param fixed_slots: each slot always holds the same object category (Atari's RAM objects): detection is also
        reported per slot, and the Catch-shaped stages are not.
    """

    frames: np.ndarray
    masks: np.ndarray
    visible: np.ndarray
    centres: np.ndarray
    agent: np.ndarray
    focus: np.ndarray
    fixed_slots: bool = False


def catch_focus(objects: dict[str, Any]) -> np.ndarray:
    """``(N,)`` bool: the task object that matters next. With a ``target`` flag (Reach) the
    target; otherwise (Catch) the visible non-agent object lowest in the frame while still above
    the agent's centre."""
    n = len(objects["visible"])
    if "target" in objects:
        return np.asarray(objects["target"], bool) & np.asarray(objects["visible"], bool)
    focus = np.zeros(n, bool)
    agent = np.asarray(objects["agent"], bool)
    y = np.asarray(objects["centres"])[:, 1]
    candidates = np.asarray(objects["visible"], bool) & ~agent & (y < y[agent].max())
    if candidates.any():
        focus[np.flatnonzero(candidates)[np.argmax(y[candidates])]] = True
    return focus


def record_episodes(env_id: str, n_episodes: int, seed: int, policy: Callable[[np.ndarray], Any] | None = None,
                    focus: Callable[[dict[str, Any]], np.ndarray] = catch_focus, **env_kwargs: Any) -> list[Episode]:
    """Play ``n_episodes`` (env seeds ``seed, seed + 1, ...``; a uniformly random policy unless given) and keep
    frames and ground truth. The env must put masks in ``info["objects"]`` (``return_masks=True`` is passed)."""
    import envs  # noqa: F401  (registers MintTasks/*)

    env = gym.make(env_id, return_masks=True, **env_kwargs)
    env.action_space.seed(seed)
    episodes = []
    try:
        for e in range(n_episodes):
            obs, info = env.reset(seed=seed + e)
            frames, masks, visible, centres, focused = [], [], [], [], []
            done = False
            while True:
                objects = info["objects"]
                frames.append(obs)
                masks.append(objects["masks"])
                visible.append(objects["visible"])
                centres.append(objects["centres"])
                focused.append(focus(objects))
                if done:
                    break
                action = env.action_space.sample() if policy is None else policy(obs)
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            episodes.append(Episode(np.stack(frames), np.stack(masks).astype(bool), np.stack(visible).astype(bool),
                                    np.stack(centres).astype(np.float64), np.asarray(objects["agent"], bool),
                                    np.stack(focused)))
    finally:
        env.close()
    return episodes


def atari_episodes(recording: Any) -> list[Episode]:
    """The videos of an :class:`envs.atari_detection.AtariRecording` as episodes with fixed slots.

    Boxes are the masks, the game's player slot is the agent, and no object is the focus.
    """
    from envs.atari_objects import game_layout

    agent = np.arange(recording.masks.shape[1]) == game_layout(recording.game).agent_slot
    episodes = []
    for video in recording.videos():
        visible = recording.visible[video].astype(bool)
        episodes.append(Episode(recording.frames[video], recording.masks[video].astype(bool), visible,
                                recording.centres[video].astype(np.float64), agent.copy(),
                                np.zeros_like(visible), fixed_slots=True))
    return episodes


@torch.no_grad()
def encode_episodes(encoder: torch.nn.Module, episodes: list[Episode], device: str | torch.device = "cpu",
                    batch_size: int = 256) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(coords (T, K, 2), status (T, K))`` of every episode, from ``encoder.encode`` in eval mode."""
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for ep in episodes:
            frames = torch.from_numpy(ep.frames).permute(0, 3, 1, 2)
            coords, status = [], []
            for i in range(0, len(frames), batch_size):
                kp = encoder.encode(frames[i:i + batch_size].to(device))
                coords.append(kp.coords.cpu().numpy())
                status.append(kp.status.cpu().numpy())
            out.append((np.concatenate(coords), np.concatenate(status)))
    finally:
        encoder.train(was_training)
    return out


def track_episodes(episodes: list[Episode], keypoints: list[tuple[np.ndarray, np.ndarray]],
                   codebook: np.ndarray | None = None, glimpse_size: int = 5,
                   config: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The keypoints of every episode after :class:`mint_rl.tracking.KeypointTracker` (what ``--track`` feeds PPO).

    :param episodes: the recorded episodes (their frames give the colour codes).
    :param keypoints: ``(coords (T, K, 2), status (T, K))`` per episode, from :func:`encode_episodes`.
    :param codebook: ``(n, C)`` colour codebook (:func:`mint_rl.appearance.fit_colour_codebook`): keypoints
        merge and match within their colour code; None: one category for all.
    :param glimpse_size: the window whose colour is coded.
    :param config: a :class:`mint_rl.tracking.TrackerConfig` (default: ``slots`` = K, the other defaults).
    :return: ``(coords (T, M, 2), status (T, M))`` of the tracks, per episode.
    """
    from mint_rl.appearance import colour_categories, glimpse_colours
    from mint_rl.tracking import KeypointTracker, TrackerConfig

    out = []
    for ep, (coords, status) in zip(episodes, keypoints):
        h, w = ep.frames.shape[1:3]
        cfg = config or TrackerConfig(slots=coords.shape[1])
        cats = None
        if codebook is not None:
            frames = torch.from_numpy(ep.frames).permute(0, 3, 1, 2)
            cats = colour_categories(glimpse_colours(frames, torch.from_numpy(coords).float(), glimpse_size),
                                     torch.as_tensor(codebook)).argmax(-1).numpy()
        tracker = KeypointTracker(1, (h, w), cfg)
        tracked = [tracker.update(coords[t][None], status[t][None], None if cats is None else cats[t][None],
                                  np.array([t == 0]))[:2] for t in range(len(coords))]
        out.append((np.stack([c[0] for c, _ in tracked]).astype(np.float32),
                    np.stack([s[0] for _, s in tracked]).astype(np.float32)))
    return out


def _dilate(masks: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return masks
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    t, n, h, w = masks.shape
    flat = masks.reshape(t * n, h, w).astype(np.uint8)
    return np.stack([cv2.dilate(m, kernel) for m in flat]).reshape(t, n, h, w).astype(bool)


def _runs(missed: np.ndarray) -> list[int]:
    """Lengths of runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], missed, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


def keypoint_properties(episodes: list[Episode], keypoints: list[tuple[np.ndarray, np.ndarray]],
                        tolerance_px: int = 1) -> dict[str, Any]:
    """Measure the properties in the module docstring over all episodes (pooled over frames).

    :param episodes: from :func:`record_episodes`.
    :param keypoints: ``(coords (T, K, 2), status (T, K))`` per episode, the same frames.
    :param tolerance_px: mask dilation in pixels when deciding whether a keypoint is on an object.
    :return: a dict of floats (nan where undefined), ``detect_by_band`` and ``detect_by_stage`` (three floats each;
        the stages need an agent, e.g. Catch's paddle, and read nan without one).
    """
    if len(episodes) != len(keypoints):
        raise ValueError(f"{len(episodes)} episodes but keypoints for {len(keypoints)}")
    tot: dict[str, float] = {k: 0.0 for k in ("agent_hit", "agent_n", "obj_hit", "obj_n", "focus_hit", "focus_n",
                                               "err", "err_n", "sw", "sw_n", "kpo", "kpo_n", "bg", "frames",
                                               "flips", "flip_n", "jumps", "vis_n")}
    band_hit, band_n = np.zeros(3), np.zeros(3)
    fixed = bool(episodes) and all(ep.fixed_slots for ep in episodes)
    slot_hit, slot_n = np.zeros(0), np.zeros(0)
    stage_hit, stage_n = np.zeros(3), np.zeros(3)
    runs: list[int] = []
    for ep, (coords, status) in zip(episodes, keypoints):
        t, n, h, w = ep.masks.shape
        if coords.shape[0] != t:
            raise ValueError(f"an episode has {t} frames but its keypoints {coords.shape[0]}")
        masks = _dilate(ep.masks & ep.visible[:, :, None, None], tolerance_px)
        assign = keypoint_assignments(coords, status, masks)  # (T, K): object index, -1 background, -2 inactive
        on = assign[:, :, None] == np.arange(n)  # (T, K, N)
        counts = on.sum(1)  # (T, N)
        hit = counts > 0
        objects = ep.visible & ~ep.agent[None]
        agents = ep.visible & ep.agent[None]
        tot["agent_hit"] += (hit & agents).sum()
        tot["agent_n"] += agents.sum()
        tot["obj_hit"] += (hit & objects).sum()
        tot["obj_n"] += objects.sum()
        focus = ep.focus & ep.visible
        tot["focus_hit"] += (hit & focus).sum()
        tot["focus_n"] += focus.sum()
        band = np.clip(((ep.centres[..., 1] + 1.0) / 2.0 * 3).astype(int), 0, 2)  # (T, N)
        for b in range(3):
            band_hit[b] += (hit & objects & (band == b)).sum()
            band_n[b] += (objects & (band == b)).sum()
        if fixed:
            if slot_hit.size == 0:
                slot_hit, slot_n = np.zeros(n), np.zeros(n)
            if n != slot_hit.size:
                raise ValueError(f"episodes with fixed slots must share the slot count, got {slot_hit.size} and {n}")
            slot_hit += (hit & ep.visible).sum(0)
            slot_n += ep.visible.sum(0)
        elif ep.agent.any():  # stage relative to the agent: entering, falling, passed
            y = (ep.centres[..., 1] + 1.0) / 2.0 * h  # (T, N) centre rows in pixels
            y_agent = y[:, np.flatnonzero(ep.agent)[0]][:, None]
            stage = np.where(y < ENTERING_PX, 0, np.where(y >= y_agent - 2.0, 2, 1))
            for g in range(3):
                stage_hit[g] += (hit & objects & (stage == g)).sum()
                stage_n[g] += (objects & (stage == g)).sum()
        for o in np.flatnonzero(~ep.agent):
            vis = objects[:, o]
            runs += _runs(vis & ~hit[:, o])
        # position error: nearest on-object keypoint to the centre, in frame pixels
        dist = np.linalg.norm((coords[:, :, None, :] - ep.centres[:, None, :, :]) * pixels_per_unit((h, w)),
                              axis=-1)  # (T, K, N)
        nearest = np.where(on, dist, np.inf).min(1)  # (T, N)
        tot["err"] += nearest[hit].sum()
        tot["err_n"] += hit.sum()
        ids = identities(coords, assign, ep.centres)
        tot["sw"] += identity_switches(ids, ep.visible)
        tot["sw_n"] += (ep.visible[1:] & ep.visible[:-1] & (ids[1:] >= 0) & (ids[:-1] >= 0)).sum()
        jumped = (assign[1:] >= 0) & (assign[:-1] >= 0) & (assign[1:] != assign[:-1])
        tot["jumps"] += jumped.sum()
        tot["vis_n"] += ep.visible[1:].sum()
        tot["kpo"] += counts[hit].sum()
        tot["kpo_n"] += hit.sum()
        tot["bg"] += (assign == -1).sum()
        tot["frames"] += t
        active = status > 0.5
        tot["flips"] += (active[1:] != active[:-1]).sum()
        tot["flip_n"] += active[1:].size

    def ratio(a: str, b: str, scale: float = 1.0) -> float:
        return float(scale * tot[a] / tot[b]) if tot[b] else float("nan")

    return {
        "detect_agent": ratio("agent_hit", "agent_n", 100),
        "detect_objects": ratio("obj_hit", "obj_n", 100),
        "detect_focus": ratio("focus_hit", "focus_n", 100),
        "detect_by_band": [float(100 * a / b) if b else float("nan") for a, b in zip(band_hit, band_n)],
        "detect_by_stage": [float(100 * a / b) if b else float("nan") for a, b in zip(stage_hit, stage_n)],
        **({"detect_by_slot": [float(100 * a / b) if b else float("nan") for a, b in zip(slot_hit, slot_n)]}
           if fixed else {}),
        "miss_run": float(np.mean(runs)) if runs else 0.0,
        "error_px": ratio("err", "err_n"),
        "switches_per_100": ratio("sw", "sw_n", 100),
        "jumps_per_100": ratio("jumps", "vis_n", 100),
        "keypoints_per_obj": ratio("kpo", "kpo_n"),
        "background": ratio("bg", "frames"),
        "status_flips": ratio("flips", "flip_n", 100),
    }
