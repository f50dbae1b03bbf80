"""Frame caches that remember where their frames came from.

A cache is one ``.npz`` file: ``frames (E, N, H, W, C)`` uint8 (E streams), ``starts (E, N)``
bool (True where a frame begins an episode) and ``source``, a JSON record of how the frames
were made, written together with them (one atomic ``os.replace``)::

    source = frame_source("ALE/Pong-v5", 6000, seed=0, num_envs=4, env_kwargs={"screen_size": 64})
    save_frames(out / "frames.npz", frames, starts, source)
    frames, starts, recorded = load_frames(out / "frames.npz")
    problems = source_mismatch(recorded, source)   # [] when the cache holds the requested frames

A record made by :func:`frame_source` describes random-policy frames (env id, frame count,
seed, sub-envs, env keyword arguments); frames prepared otherwise (e.g. the training episodes
of an experiment) are recorded with :func:`given_frames_source`, which names their env, count
and origin: a reader checks env and count against those, and cannot check how they were made.
A cache without a record (written before records existed) cannot be checked at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mint_rl.utils import differences

__all__ = ["frame_source", "given_frames_source", "load_frames", "save_frames", "source_mismatch"]

ALWAYS_COMPARED = ("env_id", "frames")
COLLECTION_FIELDS = ("seed", "num_envs", "env_kwargs")  # compared for random-policy frames only


def frame_source(env_id: str, frames: int, seed: int, num_envs: int,
                 env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record of ``frames`` random-policy frames of ``env_id`` collected from env seed ``seed`` in
    ``num_envs`` sub-envs built with ``env_kwargs``."""
    return {"env_id": env_id, "frames": int(frames), "seed": int(seed), "num_envs": int(num_envs),
            "env_kwargs": dict(sorted((env_kwargs or {}).items()))}


def given_frames_source(env_id: str, frames: int, given_by: str) -> dict[str, Any]:
    """The record of ``frames`` frames of ``env_id`` prepared by a caller (``given_by`` says how)."""
    return {"env_id": env_id, "frames": int(frames), "given_by": given_by}


def save_frames(path: str | os.PathLike, frames: np.ndarray, starts: np.ndarray, source: dict[str, Any]) -> Path:
    """Write a cache atomically (``<stem>.tmp.npz`` then ``os.replace``); creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, frames=frames, starts=starts, source=np.array(json.dumps(source)))
    os.replace(tmp, path)
    return path


def load_frames(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, Any] | None]:
    """``(frames, starts, source)`` of a cache; ``source`` is None for a cache written without a record."""
    with np.load(path) as data:
        source = json.loads(str(data["source"])) if "source" in data.files else None
        return data["frames"], data["starts"], source


def source_mismatch(recorded: dict[str, Any] | None, requested: dict[str, Any]) -> list[str]:
    """What makes a cache's frames not the requested ones: ``"name: cached → requested"`` per difference,
    or one line when the cache has no record; ``[]`` when it holds the requested frames (for frames given by a
    caller: of the requested env and count)."""
    if recorded is None:
        return ["the cache has no record of its env and collection (written by an older mint-rl)"]
    keys = ALWAYS_COMPARED + (() if "given_by" in recorded else COLLECTION_FIELDS)
    return differences(recorded, requested, keys)
