"""Shared test fixtures, and :func:`load_script`: the one way tests reach an experiment script."""

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def kill_ppo_runs_at(monkeypatch: pytest.MonkeyPatch, step: int) -> Callable[[], None]:
    """Make PPO experiment runs raise ``KeyboardInterrupt``, as if the process were killed, at the first rollout
    start at or after env step ``step``, right after ``ResumeCheckpointCallback`` checkpointed there; returns a
    function that undoes it."""
    from agents.callbacks import ResumeCheckpointCallback

    original = ResumeCheckpointCallback._on_rollout_start

    def killed(self) -> None:
        original(self)
        if self.model.num_timesteps >= step:
            raise KeyboardInterrupt

    monkeypatch.setattr(ResumeCheckpointCallback, "_on_rollout_start", killed)
    return lambda: monkeypatch.setattr(ResumeCheckpointCallback, "_on_rollout_start", original)


@functools.cache
def load_script(name: str) -> ModuleType:
    """``experiments/<name>.py`` imported by file location (``importlib.util``), without touching ``sys.path``.

    Tests call only the script's entry point, ``load_script(name).main(argv)`` (or run the file in a
    subprocess); what a script is made of lives in the library and is tested there. The module is loaded once
    per session and registered in ``sys.modules`` as ``script_<name>`` (a top-level name, so pickling and
    dataclasses work without an ``experiments`` package).

    :param name: the script's file name without ``.py``, e.g. ``"object_dynamics"``.
    :raises FileNotFoundError: no such script.
    :raises AssertionError: loading the script changed ``sys.path`` (scripts import the installed package; see
        ``tests/test_script_imports.py``).
    """
    path = EXPERIMENTS / f"{name}.py"
    if not path.is_file():
        scripts = sorted(p.stem for p in EXPERIMENTS.glob("*.py"))
        raise FileNotFoundError(f"no experiment script {path}; the scripts are {scripts}")
    module_name = f"script_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    path_before = list(sys.path)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    assert sys.path == path_before, (f"loading {path} changed sys.path: a script imports the installed package "
                                     "and edits no import path")
    return module


@pytest.fixture(scope="module")
def one_thread():
    """Pin torch and numba (they share the OpenMP runtime) to one thread for a module, then restore them."""
    import numba

    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)
