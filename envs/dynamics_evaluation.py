"""The data, ground-truth events and metrics of the keypoint-dynamics protocol on the ``MintScenes/*`` families.

What ``experiments/object_dynamics.py`` (learned keypoint dynamics: MINT vs the Transporter vs ground-truth
keypoints) evaluates with, so the protocol can be read, tested and reused apart from the script:

- episodes with ground truth: :func:`collect_episodes` plays a passive scene from given env seeds keeping
  ``info["objects"]`` (:data:`GT_KEYS`, optionally the masks); :func:`cached_episodes` caches them on disk.
  Training episode i of seed s uses env seed ``TRAIN_SEED_STRIDE · s + i`` (:func:`train_env_seeds`),
  held-out episode i env seed ``HELD_OUT_SEED + i`` (:func:`held_out_env_seeds`), the same for every seed and
  disjoint from every training seed; :func:`train_cache` and :func:`held_out_cache` name their caches;
- ground-truth events: :func:`collision_events` (an object's velocity changes while it touches another one),
  :func:`crossing_border` (an entering object is partly outside the frame), :func:`windows_of` (the (source t,
  object) pairs whose ``[t, t + h]`` holds an event) and :func:`n_walled`;
- :func:`episode_metrics`: every metric of one held-out episode for the predictions of a dynamics model
  (h-step success, pixel and motion errors, status accuracy, over all, collision and border windows);
- :func:`encode_episodes`: a keypoint encoder over ``(E, T, H, W, 3)`` episodes.

Collision events (pymunk contacts are not exposed in ``info``): object o has an event at frame e when its
velocity changes between frames e − 1 and e by more than :data:`VELOCITY_EPS_PX` px/step (nothing else changes
a velocity in these scenes: no friction, no gravity; the speed clamp only acts after a collision) while another
present object is within contact distance at e − 1 or e (centre distance ≤ sum of circumscribed radii + both
speeds + :data:`CONTACT_MARGIN_PX`). A velocity change with no object that close is a wall bounce and is not
counted.

Ground truth arrays are those of :mod:`envs.scenes` (``info["objects"]``), stacked over frames to
``(T, N, ...)``. Keypoint coordinates follow :mod:`mint_rl.coords`: ``(x, y)`` in ``[-1, 1]``, x right, y down,
pixel-centre aligned; errors are in frame pixels. Caches are written atomically (a temporary file, then
``os.replace``).
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from envs import SCENE_PRESETS  # also registers the MintScenes ids
from envs.keypoint_evaluation import HELD_OUT_SEED, SCENES
from envs.scenes import SceneConfig
from mint_rl.coords import normalised_to_pixel, pixels_per_unit
from mint_rl.metrics import INACTIVE, dynamics_success_rate, keypoint_assignments

__all__ = ["SCENES", "HELD_OUT_SEED", "TRAIN_SEED_STRIDE", "GT_KEYS", "VELOCITY_EPS_PX", "CONTACT_MARGIN_PX",
           "WINDOWS", "train_env_seeds", "held_out_env_seeds", "train_cache", "held_out_cache", "collect_episodes",
           "cached_episodes", "n_walled", "collision_events", "crossing_border", "windows_of", "episode_metrics",
           "encode_episodes"]

TRAIN_SEED_STRIDE = 1_000  # training episode i of seed s uses env seed TRAIN_SEED_STRIDE * s + i
VELOCITY_EPS_PX = 0.05  # a velocity change above this (px/step) is an interaction (wall or object)
CONTACT_MARGIN_PX = 0.5
WINDOWS = ("", "_coll", "_border")  # metric suffixes: all windows, collision windows, border windows

GT_KEYS = ("centres", "velocities", "sizes", "visible", "present", "static", "ids", "areas")
"""The ``info["objects"]`` arrays an episode keeps (``masks`` too, when asked)."""


# --------------------------------------------------------------------------- data
def train_env_seeds(seed: int, episodes: int) -> list[int]:
    """Env seeds of the training episodes of experiment seed ``seed``: ``TRAIN_SEED_STRIDE · seed + i``."""
    return [TRAIN_SEED_STRIDE * seed + i for i in range(episodes)]


def held_out_env_seeds(episodes: int) -> list[int]:
    """Env seeds of the held-out episodes: ``HELD_OUT_SEED + i``, the same for every experiment seed."""
    return [HELD_OUT_SEED + i for i in range(episodes)]


def train_cache(out: Path, scene: str, seed: int, episodes: int, length: int) -> Path:
    """``<out>/data/<scene>-train-s<seed>-e<episodes>-t<length>.npz``: the training episodes of one seed."""
    return out / "data" / f"{scene}-train-s{seed}-e{episodes}-t{length}.npz"


def held_out_cache(out: Path, scene: str, episodes: int, length: int) -> Path:
    """``<out>/data/<scene>-heldout-e<episodes>-t<length>.npz``: the held-out episodes (with masks)."""
    return out / "data" / f"{scene}-heldout-e{episodes}-t{length}.npz"


def collect_episodes(env_id: str, env_seeds: list[int], length: int, masks: bool) -> dict[str, np.ndarray]:
    """Play the passive scene from each env seed for ``length`` frames, keeping the ground truth.

    :return: ``frames (E, T, H, W, 3)`` uint8 and the ``info["objects"]`` arrays of
        :data:`GT_KEYS` stacked to ``(E, T, N, ...)``; ``masks (E, T, N, H, W)`` bool if asked.
    """
    env = gym.make(env_id, return_masks=masks)
    keys = GT_KEYS + (("masks",) if masks else ())
    out: dict[str, list] = {k: [] for k in ("frames",) + keys}
    for env_seed in env_seeds:
        frame, info = env.reset(seed=int(env_seed))
        episode: dict[str, list] = {k: [] for k in out}
        for t in range(length):
            if t > 0:
                frame, _, _, _, info = env.step(0)
            episode["frames"].append(frame)
            for k in keys:
                episode[k].append(info["objects"][k])
        for k in out:
            out[k].append(np.stack(episode[k]))
    env.close()
    return {k: np.stack(v) for k, v in out.items()}


def cached_episodes(path: Path, env_id: str, env_seeds: list[int], length: int, masks: bool) -> dict[str, np.ndarray]:
    """:func:`collect_episodes`, cached in ``path`` (collected on the first call, read back afterwards)."""
    if not path.is_file():
        data = collect_episodes(env_id, env_seeds, length, masks)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **data)
        os.replace(tmp, path)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# --------------------------------------------------------------------------- ground-truth events
def n_walled(scene: str) -> int:
    """``n_static + n_moving`` of a scene preset: the slots (and ids) of objects that never leave."""
    config = SceneConfig(**SCENE_PRESETS[SCENES[scene]])
    return config.n_static + config.n_moving


def collision_events(gt: dict[str, np.ndarray], height: int, width: int) -> np.ndarray:
    """``(T, N)`` bool: object o changes velocity between frames e − 1 and e while touching another object.

    :param gt: one episode's ground truth, arrays ``(T, N, ...)`` (see :func:`collect_episodes`).
    """
    scale = pixels_per_unit((height, width))
    c = gt["centres"].astype(np.float64) * scale  # px (offsets do not matter for distances)
    v = gt["velocities"].astype(np.float64) * scale  # px / step
    present, ids, sizes, static = gt["present"], gt["ids"], gt["sizes"], gt["static"]
    length, n = present.shape
    events = np.zeros((length, n), dtype=bool)
    if length < 2:
        return events
    same = present[1:] & present[:-1] & (ids[1:] == ids[:-1]) & ~static[1:]  # (T-1, N)
    changed = np.linalg.norm(v[1:] - v[:-1], axis=-1) > VELOCITY_EPS_PX
    speed = np.linalg.norm(v, axis=-1)
    near = np.zeros((length - 1, n), dtype=bool)
    for when in (0, 1):  # contact distance at e − 1 or at e
        cc, pp, ss = c[when:length - 1 + when], present[when:length - 1 + when], sizes[when:length - 1 + when]
        dist = np.linalg.norm(cc[:, :, None] - cc[:, None, :], axis=-1)  # (T-1, N, N)
        reach = (ss[:, :, None] + ss[:, None, :]) / 2.0 + speed[1:, :, None] + speed[1:, None, :] + CONTACT_MARGIN_PX
        close = (dist <= reach) & pp[:, :, None] & pp[:, None, :] & ~np.eye(n, dtype=bool)
        near |= close.any(axis=-1)
    events[1:] = same & changed & near
    return events


def crossing_border(gt: dict[str, np.ndarray], n_walled: int, height: int, width: int) -> np.ndarray:
    """``(T, N)`` bool: a visible entering object whose circumscribed circle is not inside the frame.

    Walled (static and moving) objects never cross the frame edge, so only the entering ones
    count: their ids start at ``n_walled = n_static + n_moving`` (walled objects' ids are
    their slot indices).
    """
    centres_px = normalised_to_pixel(gt["centres"].astype(np.float64), (height, width))
    radius = gt["sizes"].astype(np.float64) / 2.0
    x, y = centres_px[..., 0], centres_px[..., 1]
    outside = (x - radius < -0.5) | (x + radius > width - 0.5) | (y - radius < -0.5) | (y + radius > height - 0.5)
    return gt["visible"].astype(bool) & (gt["ids"] >= n_walled) & outside


def windows_of(flags: np.ndarray, ids: np.ndarray, horizon: int) -> np.ndarray:
    """``(T, N)`` bool: object o (the id in the slot at t) has a flag at some frame of ``[t, t + h]``."""
    length = flags.shape[0]
    out = np.zeros_like(flags)
    for dt in range(horizon + 1):
        out[:length - dt] |= flags[dt:] & (ids[dt:] == ids[:length - dt])
    return out


# --------------------------------------------------------------------------- evaluation
def episode_metrics(pred_coords: np.ndarray, pred_status: np.ndarray, coords: np.ndarray, status: np.ndarray,
                    gt: dict[str, np.ndarray], history: int, n_walled: int) -> dict[str, float]:
    """All metrics of one held-out episode, keys ``<metric><window>@<h>``, windows :data:`WINDOWS`.

    For each horizon h = 1 … H, over the source frames t with a full history and a target ``t + h``
    inside the episode:

    - ``success``: h-step success rate (MINT_METHOD §5, :func:`mint_rl.metrics.dynamics_success_rate`): per
      object with ≥ 1 keypoint on it at t, the fraction of its keypoints whose prediction for ``t + h`` lies in
      its mask at ``t + h``; averaged over objects, then frames;
    - ``err_px``: distance (frame pixels) between the prediction of a keypoint that was on object o at t and
      o's true centre at ``t + h`` (includes how far the keypoint sits from the centre);
    - ``motion_err_px``: error of the predicted *displacement* against o's true displacement,
      ``‖(x̂_{t+h} − x_t) − (c_{t+h} − c_t)‖``: dynamics error without the keypoint's offset;
    - ``n_pairs``: the number of (t, o) pairs the errors average over;
    - ``status_acc``: fraction of keypoints whose predicted status (p > 0.5) equals the observed one;
    - success, errors and pairs again restricted to **collision windows** (``_coll``: o has a
      :func:`collision_event <collision_events>` in ``[t, t + h]``) and to **border windows** (``_border``: o
      is visible at t and :func:`crossing the border <crossing_border>` in ``[t, t + h]``). Objects that have
      fully left at ``t + h`` have an empty mask and are skipped by the success rate.

    :param pred_coords: ``(T, H, K, 2)`` from :func:`agents.dynamics.predict_sequence`.
    :param pred_status: ``(T, H, K)`` probabilities.
    :param coords: ``(T, K, 2)`` observed keypoints; :param status: ``(T, K)``.
    :param gt: the episode's ground truth with ``masks (T, N, H, W)``.
    :param n_walled: ``n_static + n_moving`` of the scene (see :func:`crossing_border`).
    """
    length, horizon = pred_coords.shape[:2]
    visible = gt["visible"].astype(bool)
    masks = gt["masks"] & visible[:, :, None, None]
    height, width = masks.shape[2:]
    scale = pixels_per_unit((height, width))
    ids = gt["ids"]
    assign = keypoint_assignments(coords, status, masks)
    assign[: history - 1] = INACTIVE  # no prediction without a full history
    events, border = collision_events(gt, height, width), crossing_border(gt, n_walled, height, width)
    rows = np.arange(length)[:, None]
    out: dict[str, float] = {}
    for h in range(1, horizon + 1):
        pred = pred_coords[:, h - 1]
        window = {"": np.ones_like(visible), "_coll": windows_of(events, ids, h),
                  "_border": windows_of(border, ids, h) & visible}
        for suffix, win in window.items():
            on = assign >= 0
            keep = on & win[rows, np.clip(assign, 0, None)]
            src = np.where(keep, assign, INACTIVE)
            out[f"success{suffix}@{h}"] = dynamics_success_rate(pred, masks, src, horizon=h)
            # coordinate errors of keypoints on o at t against o's centre at t + h (same id, still visible)
            t_idx, k_idx = np.nonzero(keep[: length - h])
            o = src[t_idx, k_idx]
            alive = visible[t_idx + h, o] & (ids[t_idx + h, o] == ids[t_idx, o])
            t_idx, k_idx, o = t_idx[alive], k_idx[alive], o[alive]
            if len(t_idx):
                centre_next, centre_now = gt["centres"][t_idx + h, o], gt["centres"][t_idx, o]
                err = np.linalg.norm((pred[t_idx, k_idx] - centre_next) * scale, axis=-1)
                motion = np.linalg.norm(((pred[t_idx, k_idx] - coords[t_idx, k_idx]) - (centre_next - centre_now))
                                        * scale, axis=-1)
                out[f"err_px{suffix}@{h}"], out[f"motion_err_px{suffix}@{h}"] = float(err.mean()), float(motion.mean())
            else:
                out[f"err_px{suffix}@{h}"] = out[f"motion_err_px{suffix}@{h}"] = float("nan")
            out[f"n_pairs{suffix}@{h}"] = float(len(np.unique(np.stack([t_idx, o]), axis=1).T)) if len(t_idx) else 0.0
        src_rows = slice(history - 1, length - h)
        agree = (pred_status[src_rows, h - 1] > 0.5) == (status[history - 1 + h: length] > 0.5)
        out[f"status_acc@{h}"] = float(agree.mean()) if agree.size else float("nan")
    return out


# --------------------------------------------------------------------------- keypoints
def encode_episodes(encoder: torch.nn.Module, frames: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """``(E, T, H, W, 3)`` uint8 → coords ``(E, T, K, 2)`` and status ``(E, T, K)`` float32.

    One ``encoder.encode`` call on ``device`` over all ``E · T`` frames (MINT and the Transporter: eval mode,
    no gradient, in chunks).
    """
    flat = torch.from_numpy(frames.reshape(-1, *frames.shape[2:])).permute(0, 3, 1, 2).contiguous().to(device)
    kp = encoder.encode(flat)
    e, t = frames.shape[:2]
    return (kp.coords.cpu().numpy().reshape(e, t, -1, 2).astype(np.float32),
            kp.status.cpu().numpy().reshape(e, t, -1).astype(np.float32))

