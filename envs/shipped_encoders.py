"""MINT encoders shipped with the package, loadable by name.

The files live in ``envs/pretrained/`` (package data: ``<name>.pt`` plus ``index.json``), so a user can try
keypoints on a studied Atari game without pretraining::

    from envs.atari import make_atari_env
    from envs.wrappers import MintKeypointWrapper

    env = MintKeypointWrapper(make_atari_env("ALE/Pong-v5"), "pong")   # a shipped encoder, by name
    print(shipped_encoders()["pong"]["detection"])                      # what it finds, per object category

A name is a game's short name in lower case (``pong``, ``breakout``, ``mspacman``); any string without a
path separator or a file suffix that is not an existing file is read as one (:func:`is_encoder_name`). Each
index entry records the env id the encoder was pretrained on, its setting, the sha256 of the file, the
command that made it and its per-object detection rates on held-out frames
(``experiments/atari_objects_detection.py``, the same undilated boxes as the README's detection table). Those rates
are for keypoints post-processed as the entry's ``setting`` says (``refine``: the refinement window, ``snap``: the
snap window): a wrapper gives raw keypoints unless given the same, e.g. for ``pong``
``MintKeypointWrapper(env, "pong", options=ObservationOptions(refine_window=5, refine_snap=15))`` or
``ppo_keypoints.py --encoder pong --refine 5 --refine-snap 15``.

The files are made by ``experiments/atari_objects_detection.py ... --ship`` (:func:`ship_encoder`): the
checkpoint of a finished detection run, stripped to weights and config (no optimiser state); the file is
written atomically, then its index entry (with the file's sha256), so an index entry never names a file
that is not complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from mint_rl.baselines import load_encoder, save_encoder
from mint_rl.utils import write_json

__all__ = ["PRETRAINED_DIR", "shipped_encoders", "is_encoder_name", "shipped_encoder_path", "ship_encoder"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Where the shipped encoders and their ``index.json`` are (package data)."""


def shipped_encoders(folder: str | os.PathLike = PRETRAINED_DIR) -> dict[str, dict[str, Any]]:
    """The shipped encoders: name → index entry (``file``, ``env_id``, ``setting``, ``sha256``, ``command``,
    ``detection`` per category); empty when none is shipped."""
    index = Path(folder) / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}


def is_encoder_name(encoder: Any) -> bool:
    """True for a string that names a shipped encoder rather than a file: no path separator, no suffix, and
    not an existing file (a folder of that name does not count: an encoder is a file)."""
    if not isinstance(encoder, str) or not encoder or os.path.isfile(encoder):
        return False
    return "/" not in encoder and os.sep not in encoder and "." not in encoder


def shipped_encoder_path(name: str, folder: str | os.PathLike = PRETRAINED_DIR) -> Path:
    """The checkpoint file of shipped encoder ``name`` (case-insensitive).

    :raises ValueError: an unknown name, listing the shipped ones.
    """
    shipped = shipped_encoders(folder)
    entry = shipped.get(name.lower())
    if entry is None:
        listed = ", ".join(sorted(shipped)) or "none"
        raise ValueError(f"no shipped encoder named {name!r} (shipped: {listed}); give one of those names or the "
                         "path of a checkpoint (experiments/pretrain.py writes one)")
    return Path(folder) / entry["file"]


def ship_encoder(checkpoint: str | os.PathLike, name: str, env_id: str, setting: Mapping[str, Any],
                 detection: Sequence[Mapping[str, Any]], command: str,
                 folder: str | os.PathLike = PRETRAINED_DIR) -> Path:
    """Write ``checkpoint``'s encoder as shipped encoder ``name`` (weights and config only) and its index entry.

    :param checkpoint: a finished MINT checkpoint (a trainer's, with or without optimiser state).
    :param name: lower-case short name (a game's, e.g. ``pong``).
    :param env_id: the env the encoder was pretrained on.
    :param setting: what it was trained with (K, grid, steps, frames, ...).
    :param detection: its rows of the detection table (category, detection, DOP, TOP, UAK, ...).
    :param command: the command that made it.
    :return: the written file.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f"a shipped encoder's name must be lower case letters, digits, '_' or '-' (a game's short "
                         f"name, e.g. 'pong'); got {name!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder(checkpoint)
    from mint_rl.checkpoint import load_checkpoint

    path = save_encoder(folder / f"{name}.pt", encoder, step=int(load_checkpoint(checkpoint).get("step", 0)))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # readable as any installed file (the atomic write creates it private)
    index = shipped_encoders(folder)
    index[name] = {"file": path.name, "env_id": env_id, "setting": dict(setting),
                   "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "command": command,
                   "detection": [dict(row) for row in detection]}
    write_json(folder / "index.json", dict(sorted(index.items())))
    return path
