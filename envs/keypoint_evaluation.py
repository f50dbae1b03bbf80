"""The data and helpers of the keypoint-quality protocol on the ``MintScenes/*`` families.

What ``experiments/evaluate_keypoints.py`` (MINT vs the Transporter, MINT_METHOD §5) and
``experiments/online_vs_pretrained.py`` (online co-training vs pretraining) share, so that both
score their encoders on the same frames in the same way:

- :data:`SCENES`: short scene name (``"Collisions"``) → env id (``"MintScenes/Collisions-v0"``),
  one per preset of :data:`envs.SCENE_PRESETS`;
- :func:`training_frames`: a passive random-policy stream from env seed ``seed``, cached on disk;
- :func:`held_out_episodes`: episodes with ground truth (masks, visibility, static flags of
  ``info["objects"]``, see :mod:`envs.scenes`) from env seeds :data:`HELD_OUT_SEED` + i, disjoint
  from every training seed (which stay below it), cached on disk;
- :func:`encode`: a keypoint encoder over a whole episode's frames;
- :func:`mean_area`: Ā of a scene family (:func:`envs.scenes.mean_object_area`), cached;
- :func:`format_cell`: a ``mean ± half-width`` table cell of a :func:`mint_rl.metrics.aggregate`
  result;
- :data:`DEFAULT_BUDGET`, :data:`FULL_BUDGET` and :data:`DEFAULT_ENCODER`: the default and the
  larger budget of the evaluation and the encoder both experiments train (K, conv width, clip
  length, learning rate).

Frames are ``(H, W, 3)`` uint8 as the scenes render them (64×64 for every preset). Keypoint
coordinates follow :mod:`mint_rl.coords`: ``(x, y)`` in ``[-1, 1]``, x right, y down,
pixel-centre aligned. The caches live under ``<out>/frames/`` and are written atomically
(a temporary file, then ``os.replace``), so an interrupted run leaves no half-written cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from envs import SCENE_PRESETS  # also registers the MintScenes ids
from envs.collect import collect_frames
from envs.scenes import SceneConfig, mean_object_area

__all__ = ["SCENES", "HELD_OUT_SEED", "DEFAULT_BUDGET", "FULL_BUDGET", "DEFAULT_ENCODER", "training_frames",
           "held_out_episodes", "encode", "mean_area", "format_cell"]

SCENES: dict[str, str] = {env_id.split("/")[1].removesuffix("-v0"): env_id for env_id in SCENE_PRESETS}
"""Short scene name → env id, e.g. ``"EnterLeave"`` → ``"MintScenes/EnterLeave-v0"``."""

HELD_OUT_SEED = 10_000  # held-out episode i uses env seed HELD_OUT_SEED + i; training seeds stay below

DEFAULT_BUDGET: dict[str, int] = dict(seeds=3, steps=500, frames=3000, batch_size=32, eval_episodes=4,
                                      eval_frames=100)
"""The default budget: seeds, optimiser steps, training frames, clips per step, held-out episodes and
frames per held-out episode."""

FULL_BUDGET: dict[str, int] = dict(seeds=5, steps=2000, frames=6000, batch_size=32, eval_episodes=8,
                                   eval_frames=200)
"""The larger budget of the README table (``evaluate_keypoints.py --full``)."""

DEFAULT_ENCODER: dict[str, Any] = dict(clip_length=3, num_keypoints=10, hidden_channels=16, lr=1e-3)
"""The encoder both experiments train by default: frames per clip, K (10: the most objects in a
scene, 8 in Collisions, plus 2), width of the conv stacks and Adam learning rate."""


def training_frames(out: Path, scene: str, seed: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(N, H, W, 3)`` and episode starts ``(N,)`` of one env stream, cached on disk.

    The stream is :func:`envs.collect.collect_frames` of the scene's random (passive,
    ``Discrete(1)``) policy in one env, first reset with ``seed``: callers asking one ``out`` for
    the same ``(scene, seed, num_frames)`` train on the same frames.

    :param out: the experiment's folder; the cache is ``<out>/frames/<scene>-s<seed>-n<num_frames>.npz``.
    :param scene: a short name, a key of :data:`SCENES`.
    :param seed: the env seed; keep it below :data:`HELD_OUT_SEED`.
    :param num_frames: N.
    :return: ``frames (N, H, W, 3)`` uint8 and ``starts (N,)`` bool, True where a frame begins an episode.
    """
    cache = out / "frames" / f"{scene}-s{seed}-n{num_frames}.npz"
    if not cache.is_file():
        frames, starts = collect_frames(SCENES[scene], num_frames, seed=seed, num_envs=1, progress=False)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, frames=frames[0], starts=starts[0])
        os.replace(tmp, cache)
    data = np.load(cache)
    return data["frames"], data["starts"]


def held_out_episodes(out: Path, scene: str, episodes: int, length: int) -> list[dict[str, np.ndarray]]:
    """Held-out episodes with ground truth (env seeds ``HELD_OUT_SEED + i``), cached on disk.

    Episode i resets the scene with env seed ``HELD_OUT_SEED + i`` and steps it ``length − 1``
    times with action 0 (the scenes are passive); the reset frame is the first.

    :param out: the experiment's folder; the cache is ``<out>/frames/<scene>-heldout-e<episodes>-t<length>.npz``.
    :param scene: a short name, a key of :data:`SCENES`.
    :param episodes: number of episodes.
    :param length: T, frames per episode.
    :return: per episode a dict of ``frames (T, H, W, 3)`` uint8, ``masks (T, N, H, W)`` bool (visible
        pixels of each of the N object slots), ``visible (T, N)`` bool and ``static (N,)`` bool (the
        slot holds an object that never moves), N = the scene's ``SceneConfig.max_objects``.
    """
    cache = out / "frames" / f"{scene}-heldout-e{episodes}-t{length}.npz"
    if not cache.is_file():
        env = gym.make(SCENES[scene])
        arrays: dict[str, list[np.ndarray]] = {"frames": [], "masks": [], "visible": [], "static": []}
        for i in range(episodes):
            frame, info = env.reset(seed=HELD_OUT_SEED + i)
            frames, masks, visible, static = [], [], [], []
            for t in range(length):
                if t > 0:
                    frame, _, _, _, info = env.step(0)
                frames.append(frame)
                masks.append(info["objects"]["masks"])
                visible.append(info["objects"]["visible"])
                static.append(info["objects"]["static"])
            arrays["frames"].append(np.stack(frames))
            arrays["masks"].append(np.stack(masks))
            arrays["visible"].append(np.stack(visible))
            arrays["static"].append(np.stack(static).any(axis=0))  # static slots never change
        env.close()
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **{k: np.stack(v) for k, v in arrays.items()})
        os.replace(tmp, cache)
    data = np.load(cache)
    return [{k: data[k][i] for k in data.files} for i in range(episodes)]


def encode(encoder: torch.nn.Module, frames: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint coords ``(T, K, 2)`` and status ``(T, K)`` of frames ``(T, H, W, 3)`` uint8.

    One ``encoder.encode`` call on ``device`` (MINT and the Transporter: eval mode, no gradient, in
    chunks, :func:`mint_rl.keypoints.encode_in_chunks`). Coords are ``(x, y)`` in ``[-1, 1]``, y down,
    pixel-centre aligned; status in ``[0, 1]``, active above ``mint_rl.metrics.ACTIVE_THRESHOLD``.
    """
    kp = encoder.encode(torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().to(device))
    return kp.coords.cpu().numpy(), kp.status.cpu().numpy()


_AREAS: dict[str, float] = {}


def mean_area(scene: str) -> float:
    """Ā of a scene family: mean visible object area in pixels (4 episodes of its preset).

    :func:`envs.scenes.mean_object_area` of the scene's preset, computed once per process.

    :param scene: a short name, a key of :data:`SCENES`.
    """
    if scene not in _AREAS:
        _AREAS[scene] = float(mean_object_area(SceneConfig(**SCENE_PRESETS[SCENES[scene]])))
    return _AREAS[scene]


def format_cell(stats: dict[str, float] | None, fmt: str) -> str:
    """A table cell ``"mean ± half_width"`` of a :func:`mint_rl.metrics.aggregate` result.

    :param stats: a dict with ``mean`` and ``half_width``, or None.
    :param fmt: the format of the mean, e.g. ``"{:.1f}"`` or ``"{:+.1f}"``; the half-width uses it
        without the ``+``.
    :return: ``"–"`` for None or a non-finite mean; the mean alone when the half-width is not
        finite (n = 1).
    """
    if stats is None or not np.isfinite(stats["mean"]):
        return "–"
    cell = fmt.format(stats["mean"])
    if np.isfinite(stats["half_width"]):
        cell += " ± " + fmt.replace("+", "").format(stats["half_width"])
    return cell
