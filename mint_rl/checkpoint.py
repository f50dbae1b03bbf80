"""Checkpoints: atomic save, validated load.

A checkpoint is one ``torch.save`` file holding a dict::

    {"format": "mint-rl-checkpoint", "version": 1, "config": MintConfig.to_dict(),
     "encoder": state_dict, "encoder_type": "mint" | "transporter", "step": int, ...anything else the caller adds
     (optimizer state, RNG states, trainer extras)}

``save_checkpoint`` writes to a temporary file in the target directory, flushes it to
disk, then ``os.replace``-s it over the final name, so a run killed mid-write never leaves
a truncated checkpoint under the real name. ``load_checkpoint`` checks the format, the
version and (optionally) that the stored config matches an expected one, and raises
:class:`CheckpointError` naming what is wrong. :func:`mint_rl.baselines.load_encoder` rebuilds
the encoder a checkpoint holds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from mint_rl.config import ConfigError, MintConfig

__all__ = ["CheckpointError", "FORMAT", "VERSION", "atomic_torch_save", "save_checkpoint", "load_checkpoint"]

FORMAT = "mint-rl-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, of another format/version, or does not fit."""


def _refuse_directory(path: Path, what: str) -> None:
    """Raise :class:`IsADirectoryError` when ``path`` is an existing directory (a file path was meant).

    :param what: what the path was for, e.g. ``"save_checkpoint"``, for the message.
    """
    if path.is_dir():
        raise IsADirectoryError(f"{what}: {path} is a directory; give a file path inside it, such as "
                                f"{path / 'encoder.pt'}")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (plus format and version) to ``path``.

    :param path: the checkpoint file (not a directory), e.g. ``runs/pong/encoder.pt``.
    :param payload: must hold ``"config"`` (a dict from :meth:`MintConfig.to_dict`).
    :return: the final path.
    :raises IsADirectoryError: when ``path`` is an existing directory.
    """
    path = Path(path)
    _refuse_directory(path, "save_checkpoint")
    if "config" not in payload:
        raise ValueError("a checkpoint payload needs a 'config' entry (MintConfig.to_dict())")
    return atomic_torch_save({"format": FORMAT, "version": VERSION, **payload}, path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``: readers
    see the old file or the new one, never a truncated one. Creates parent folders.

    :param path: the file to write (not a directory).
    :raises IsADirectoryError: when ``path`` is an existing directory.
    """
    path = Path(path)
    _refuse_directory(path, "atomic_torch_save")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, expected_config: MintConfig | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint.

    :param expected_config: if given, the stored config must agree with it on every
        architecture field (:attr:`MintConfig.ARCHITECTURE_FIELDS`); the mismatches are named.
    :return: the payload dict, with ``"config"`` turned into a :class:`MintConfig`.
    """
    path = Path(path)
    if path.is_dir():
        pts = sorted(p.name for p in path.glob("*.pt"))
        raise CheckpointError(f"checkpoint {path} is a directory; give the checkpoint file inside it, such as "
                              f"{path / (pts[0] if pts else 'encoder.pt')}"
                              + (f" (it holds: {', '.join(pts[:5])})" if pts else " (it holds no .pt file)"))
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # truncated zip, pickle garbage, ...
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a mint-rl checkpoint): "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a mint-rl checkpoint (no '{FORMAT}' format tag)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {data.get('version')!r}; this mint-rl "
                              f"reads version {VERSION}")
    try:
        config = MintConfig.from_dict(data["config"])
    except (ConfigError, TypeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {exc}") from exc
    if expected_config is not None:
        diff = config.architecture_mismatch(expected_config)
        if diff:
            raise CheckpointError(f"checkpoint {path} was made with an incompatible config "
                                  f"(checkpoint vs expected): {'; '.join(diff)}")
    data["config"] = config
    return data
