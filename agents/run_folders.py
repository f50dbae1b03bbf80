"""Run folders of PPO experiments: their layout, the evaluation CSV and mid-way resume bookkeeping.

An experiment writes one folder per env, ``<out>/<env slug>/`` (:func:`env_slug`)::

    .lock                 one process at a time (mint_rl.run_lock)
    encoders/             pretrained encoders and their frames (agents.experiment_encoders)
    random.json           the random policy's return per seed (agents.ppo_experiment.random_returns)
    evaluations.csv, summary.json, table.md, learning_curves.png      the report (agents.report)
    tb/                   TensorBoard, one run per (label, seed)

and in it one folder per training run (agent, seed), ``<env_dir>/<label>/seed<s>/`` (:func:`run_folder`)::

    settings.json       what the run was started with (a resume needs the same)
    evaluations.csv     one row per evaluation (:data:`EVALUATION_FIELDS`), appended as it happens
    resume/             the last mid-way checkpoint (:class:`agents.callbacks.ResumeCheckpointCallback`):
        state.json      step, clocks, file names, the sha256 of the encoder the run started with
        model-<step>.zip, encoder-<step>.pt
    model.zip, agent.json, encoder.pt, colour_codes.npy     the saved agent (:mod:`agents.saved_agent`)
    done.json           written last: the run is finished (``resume/`` is removed then)

Example::

    state = read_resume_state(run_folder(env_dir, "ground_truth", 0))
    if state is not None:
        print(f"resumes at step {state['step']}")
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from mint_rl.utils import file_sha256

__all__ = ["EVALUATION_FIELDS", "ResumeEncoderChanged", "check_resume_encoder", "env_slug", "keep_evaluations_until",
           "read_resume_state", "resume_state", "run_folder"]

EVALUATION_FIELDS = ("env", "agent", "seed", "step", "mean_return", "std_return", "episodes", "mean_length",
                     "train_seconds", "train_steps_per_s")
"""Columns of ``evaluations.csv``, per run and for a whole env folder."""


class ResumeEncoderChanged(RuntimeError):
    """An interrupted keypoint run would resume on another encoder file than the one it started with."""


def env_slug(env_id: str) -> str:
    """The folder name of an env's runs: ``ALE/Pong-v5`` → ``ALE_Pong-v5``."""
    return env_id.replace("/", "_")


def run_folder(env_dir: Path, label: str, seed: int) -> Path:
    """The folder of one run: ``<env_dir>/<label>/seed<seed>``."""
    return env_dir / label / f"seed{seed}"


def read_resume_state(run_dir: Path) -> dict[str, Any] | None:
    """The run's last mid-way checkpoint (``resume/state.json``) if it and its files exist, else None."""
    path = run_dir / "resume" / "state.json"
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    files = [state["model"]] + [state[k] for k in ("encoder", "auxiliary") if state.get(k)]
    return state if all((path.parent / f).is_file() for f in files) else None


def resume_state(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The run's last mid-way checkpoint if the run was started with ``settings``, else None (it starts over)."""
    state, recorded = read_resume_state(run_dir), run_dir / "settings.json"
    if state is None or not recorded.is_file() or json.loads(recorded.read_text()) != settings:
        return None
    return state


def check_resume_encoder(run_dir: Path, settings: dict[str, Any], encoder_path: Path | None) -> None:
    """Refuse to resume an interrupted run on another encoder file than the one it started with (its sha256 is in
    ``resume/state.json``): its policy was trained on that encoder's keypoints.

    :raises ResumeEncoderChanged: the file's sha256 differs from the recorded one.
    """
    state = resume_state(run_dir, settings)
    recorded = state.get("encoder_sha256") if state else None
    if recorded is None or encoder_path is None:
        return
    digest = file_sha256(encoder_path)
    if digest != recorded:
        raise ResumeEncoderChanged(
            f"{run_dir} cannot resume: its encoder {encoder_path} now has sha256 {digest[:12]}…, but the run started "
            f"with {recorded[:12]}… and its policy reads that encoder's keypoints. Restore that encoder, or delete "
            f"{run_dir} to start the run over.")


def keep_evaluations_until(csv_path: Path, step: int) -> None:
    """Drop the CSV rows of evaluations after ``step`` (made after the checkpoint a run resumes from); atomic."""
    if not csv_path.is_file():
        return
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EVALUATION_FIELDS)
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)
    os.replace(tmp, csv_path)
