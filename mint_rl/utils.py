"""Small shared helpers: devices, seeding, flushing denormal floats, comparing recorded settings, atomic text files,
file and weight digests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["atomic_write_text", "denormals_flushed", "differences", "file_sha256", "flush_denormals",
           "flush_denormals_process_wide", "resolve_device", "seed_everything", "weight_checksum", "write_json"]


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` into a usable ``torch.device``.

    Raises ``ValueError`` naming the device when it is malformed or not present here.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a valid torch device (use 'cpu', 'cuda', 'cuda:N' or 'auto')") \
            from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine; use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r} is not supported (use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto')")
    return dev


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a fresh NumPy ``Generator`` for the caller's sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


_SMALLEST_DENORMAL = torch.tensor([1], dtype=torch.int32).view(torch.float32)  # 1.4e-45, set by its bits


def denormals_flushed() -> bool:
    """Whether this thread's CPU flushes denormal floats to zero (``torch.set_flush_denormal``; torch has no getter):
    the smallest denormal times 2 is then 0."""
    return bool((_SMALLEST_DENORMAL * 2.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero on this thread while inside (``torch.set_flush_denormal(True)``); a context
    manager and a decorator.

    Why: a trained MINT encoder's soft-argmax temperature is small (about 0.07–0.12), so ``exp(x − max)`` over a
    heatmap underflows to denormal floats (below 1.2e-38) at many pixels, and x86 CPUs compute on denormals many times
    slower than on normal floats: a training step on a trained encoder took 1.5–1.65× as long with them at 84×84 and
    1.2× at 64×64 (``results/keypoints/denormals_s30/``). Flushing changes only those values, each below 1.2e-38:
    loss terms and gradients agree to float rounding (``tests/test_denormals.py``).

    On exit the flag is switched off again unless it was on before (an enclosing :func:`flush_denormals`, or the
    caller's own ``torch.set_flush_denormal(True)``, stays in force). The flag is per thread: with more than one torch
    CPU thread, intra-op worker threads made before keep their own setting. A CPU without the flag (where
    ``torch.set_flush_denormal`` returns False) runs unchanged; CUDA kernels are not affected; under ``torch.compile``
    tracing it does nothing.
    """
    if torch.compiler.is_compiling() or denormals_flushed() or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def flush_denormals_process_wide() -> bool:
    """Flush denormal floats to zero on this thread from now on, and on every thread it starts later: on Linux a new
    thread inherits its creator's floating-point environment, so torch's intra-op worker threads, made at its first
    parallel operation, flush too. For scripts that train encoders with more than one torch thread, called before
    any torch work (:func:`flush_denormals` alone reaches the calling thread only: a 2-thread training step at
    84×84 on a trained encoder took 142–157 ms with it alone and 104–110 ms with this call first,
    ``results/keypoints/denormals_s30/``). It also reaches numpy and numba code run on those threads afterwards.
    Returns False where the CPU has no such flag."""
    return bool(torch.set_flush_denormal(True))


def differences(recorded: Mapping[str, Any], requested: Mapping[str, Any], keys: Iterable[str] | None = None
                ) -> list[str]:
    """``"name: recorded → requested"`` for every key whose values differ (a missing key reads as None).

    :param keys: the keys to compare (default: those of both mappings, sorted).
    """
    names = sorted(set(recorded) | set(requested)) if keys is None else list(keys)
    return [f"{k}: {recorded.get(k)!r} → {requested.get(k)!r}" for k in names if recorded.get(k) != requested.get(k)]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``<path>.tmp``, then ``os.replace`` it over ``path``: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as indented JSON (NaN allowed), written atomically (:func:`atomic_write_text`)."""
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=True))


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB blocks: the identity of a checkpoint file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_checksum(module: torch.nn.Module) -> float:
    """Sum of every floating-point parameter and buffer of ``module`` (float64): equal initial weights give equal
    sums, so two runs can check they started from the same weights."""
    return float(sum(t.double().sum() for t in module.state_dict().values() if t.is_floating_point()))
