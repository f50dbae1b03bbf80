"""Stable-Baselines3 callbacks of the PPO experiments.

* :class:`CsvEvalCallback`: evaluation on fixed held-out episodes, each one appended to a CSV at once;
* :class:`KeypointImageCallback`: a frame with its keypoints drawn, to TensorBoard, every N rollouts;
* :class:`ResumeCheckpointCallback`: what a killed run needs to resume mid-way, written atomically;
* :class:`OnlineEncoderCallback`: MINT updates of a co-trained encoder between rollouts.

Example::

    evaluator = CsvEvalCallback(eval_env, run_dir / "evaluations.csv", eval_seed=10_000,
                                row=dict(env="MintTasks/Catch-v0", agent="mint", seed=0),
                                eval_freq=5120, n_envs=4, n_eval_episodes=10)
    checkpointer = ResumeCheckpointCallback(run_dir, evaluator, every=5120, kp_env=None)
    model.learn(100_000, callback=[evaluator, checkpointer])
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.logger import Image
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from agents.run_folders import EVALUATION_FIELDS, read_resume_state
from agents.vec_env import MintKeypointVecEnv
from mint_rl.utils import write_json

__all__ = ["CsvEvalCallback", "KeypointImageCallback", "OnlineEncoderCallback", "ResumeCheckpointCallback"]


class CsvEvalCallback(EvalCallback):
    """``EvalCallback`` on the same held-out episodes every time, each evaluation appended to a CSV at once.

    Before each evaluation the eval env is re-seeded with ``eval_seed``, so every evaluation of every agent
    of a training seed starts from the same env seeds (with sampled actions the episodes then differ by policy);
    sampled evaluation actions leave torch's random stream as it was, so evaluating does not change training. A last evaluation runs at the end of training if the final
    step was not evaluated.

    :param eval_env: the evaluation VecEnv; re-seeded, sub-env i plays its fixed share of the episodes from env
        seed ``eval_seed + i``.
    :param csv_path: CSV the rows are appended to (header written on creation; columns
        :data:`agents.run_folders.EVALUATION_FIELDS`).
    :param eval_seed: env seed of the held-out episodes.
    :param row: constant columns of every row (agent, seed, ...).
    :param eval_freq: env steps between evaluations (converted to callback calls of ``n_envs`` steps).
    :param n_envs: training envs.
    :param n_eval_episodes: episodes per evaluation.
    :param deterministic: act with the policy's most likely action (True) or sample from it (False: what
        rl-baselines3-zoo evaluates Atari agents with, as a deterministic Atari policy can repeat one losing pattern).
    """

    FIELDS = EVALUATION_FIELDS

    def __init__(self, eval_env: VecEnv, csv_path: Path, eval_seed: int, row: dict[str, Any], eval_freq: int,
                 n_envs: int, n_eval_episodes: int, deterministic: bool = True) -> None:
        super().__init__(eval_env, n_eval_episodes=n_eval_episodes, eval_freq=max(eval_freq // n_envs, 1),
                         log_path=str(csv_path.parent), deterministic=deterministic, verbose=0, warn=False)
        self.csv_path, self.eval_seed, self.row, self.n_envs = csv_path, eval_seed, row, n_envs
        self.eval_seconds = 0.0
        self._t_start = 0.0
        self._session_eval_seconds = 0.0
        self._prior_train_seconds = 0.0

    def resume_from(self, step: int, train_seconds: float, eval_seconds: float) -> None:
        """Continue a run resumed at env step ``step`` (a rollout boundary): the evaluation schedule stays
        on multiples of ``eval_freq`` env steps and the clocks go on from the saved seconds."""
        self.n_calls = step // self.n_envs
        self._prior_train_seconds, self.eval_seconds = float(train_seconds), float(eval_seconds)

    def train_seconds(self) -> float:
        """Seconds of training (not evaluation) so far, over all sessions of the run."""
        return self._prior_train_seconds + time.perf_counter() - self._t_start - self._session_eval_seconds

    def _init_callback(self) -> None:
        super()._init_callback()
        self._t_start = time.perf_counter()
        self._session_eval_seconds = 0.0

    def _on_step(self) -> bool:
        if not (self.eval_freq > 0 and self.n_calls % self.eval_freq == 0):
            return True
        self.eval_env.seed(self.eval_seed)
        t0 = time.perf_counter()
        if self.deterministic:
            keep_going = super()._on_step()
        else:  # sampled actions draw from torch's generator, which PPO samples from too: leave its stream as it was
            devices = [self.model.device] if self.model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices, device_type="cuda"):
                keep_going = super()._on_step()
        self.eval_seconds += time.perf_counter() - t0
        self._session_eval_seconds += time.perf_counter() - t0
        returns, lengths = self.evaluations_results[-1], self.evaluations_length[-1]
        train_seconds = self.train_seconds()
        new = not self.csv_path.is_file()
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({**self.row, "step": self.num_timesteps, "mean_return": float(np.mean(returns)),
                             "std_return": float(np.std(returns)), "episodes": len(returns),
                             "mean_length": float(np.mean(lengths)), "train_seconds": round(train_seconds, 2),
                             "train_steps_per_s": round(self.num_timesteps / max(train_seconds, 1e-9), 1)})
        return keep_going

    def _on_training_end(self) -> None:
        self.num_timesteps = self.model.num_timesteps
        if not self.evaluations_timesteps or self.evaluations_timesteps[-1] != self.num_timesteps:
            freq, self.eval_freq = self.eval_freq, 1  # evaluate now
            self._on_step()
            self.eval_freq = freq


class KeypointImageCallback(BaseCallback):
    """Log env 0's current frame with its keypoints drawn (``mint_rl.draw``) to TensorBoard every N rollouts.

    :param keypoint_env: the :class:`~agents.vec_env.MintKeypointVecEnv` whose sub-envs render ``"rgb_array"``
        frames.
    :param every: rollouts between images (the first rollout is always logged).
    """

    def __init__(self, keypoint_env: MintKeypointVecEnv, every: int) -> None:
        super().__init__()
        self.keypoint_env, self.every, self.rollouts = keypoint_env, every, 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        if (self.rollouts - 1) % self.every == 0:
            frame = self.keypoint_env.venv.env_method("render", indices=[0])[0]
            if frame is not None:
                image = self.keypoint_env.draw(frame, 0)
                self.logger.record("keypoints/overlay", Image(image, "HWC"), exclude=("stdout", "log", "json", "csv"))


class ResumeCheckpointCallback(BaseCallback):
    """Save what a killed run needs to resume mid-way, every ``every`` env steps, atomically.

    Saved in ``<run_dir>/resume/`` at the start of a rollout (so the weights have trained on every
    step counted): ``model.zip`` (PPO weights, optimiser, step count), ``encoder.pt`` (a co-trained
    encoder with its optimiser, online runs only), ``auxiliary-<step>.pt`` (an auxiliary head and its
    optimiser, runs with reward prediction only) and ``state.json`` (step, seconds so far), written
    last: a checkpoint counts only once its ``state.json`` names it (:func:`agents.run_folders.read_resume_state`).
    Env episodes and the online frame buffer are not saved; a resumed run starts fresh episodes.

    :param run_dir: the run folder.
    :param evaluator: the run's :class:`CsvEvalCallback` (its clock is saved with the model).
    :param every: env steps between checkpoints.
    :param kp_env: the keypoint VecEnv of keypoint agents (its online trainer is saved), else None.
    :param record: entries every ``state.json`` carries (the sha256 of the encoder the run started with, the
        number of times it was resumed).
    :param auxiliary: an object with ``state_dict()`` trained beside PPO (the run's
        :class:`agents.auxiliary.RewardPredictionCallback`), saved as ``auxiliary-<step>.pt``; None: none.
    """

    def __init__(self, run_dir: Path, evaluator: CsvEvalCallback, every: int,
                 kp_env: MintKeypointVecEnv | None, record: dict[str, Any] | None = None,
                 auxiliary: Any = None) -> None:
        super().__init__()
        self.dir, self.evaluator, self.every, self.kp_env = run_dir / "resume", evaluator, every, kp_env
        self.record = dict(record or {})
        self.auxiliary = auxiliary
        self.last = 0

    def _init_callback(self) -> None:
        self.last = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self.last < self.every:
            return
        self.last = self.model.num_timesteps
        self.dir.mkdir(parents=True, exist_ok=True)
        step = int(self.model.num_timesteps)
        model_name, tmp = f"model-{step}.zip", self.dir / f"model-{step}.tmp.zip"
        self.model.save(tmp)
        os.replace(tmp, self.dir / model_name)
        state = dict(self.record, step=step, model=model_name, train_seconds=self.evaluator.train_seconds(),
                     eval_seconds=self.evaluator.eval_seconds, encoder=None)
        if self.kp_env is not None and self.kp_env.online_trainer is not None:  # the co-trained encoder
            state["encoder"] = self.kp_env.save_encoder(self.dir / f"encoder-{step}.pt").name
        state["auxiliary"] = None
        if self.auxiliary is not None:
            name, tmp = f"auxiliary-{step}.pt", self.dir / f"auxiliary-{step}.tmp.pt"
            torch.save(self.auxiliary.state_dict(), tmp)
            os.replace(tmp, self.dir / name)
            state["auxiliary"] = name
        previous = read_resume_state(self.dir.parent)
        write_json(self.dir / "state.json", state)
        if previous is not None:  # the older files, now unreferenced
            for name in (previous["model"], previous.get("encoder"), previous.get("auxiliary")):
                if name and name not in (state["model"], state["encoder"], state["auxiliary"]):
                    (self.dir / name).unlink(missing_ok=True)


class OnlineEncoderCallback(BaseCallback):
    """Update a co-trained encoder between PPO rollouts, never inside one.

    :param venv: the :class:`~agents.vec_env.MintKeypointVecEnv` (possibly under other wrappers such as
        ``VecFrameStack``) whose encoder is co-trained.
    :param updates_per_rollout: optimiser steps per rollout end (None: the trainer's default).
    :param log_every: record the MINT terms to the SB3 logger every this many rollouts.
    """

    def __init__(self, venv: VecEnv, updates_per_rollout: int | None = None, log_every: int = 1,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        self.keypoint_env = _find_keypoint_env(venv)
        self.updates_per_rollout = updates_per_rollout
        self.log_every = log_every
        self.rollouts = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        terms = self.keypoint_env.update_encoder(self.updates_per_rollout)
        self.rollouts += 1
        if terms and self.rollouts % self.log_every == 0:
            for key in terms[-1]:
                self.logger.record(f"mint/{key}", float(np.mean([t[key] for t in terms])))


def _find_keypoint_env(venv: VecEnv) -> MintKeypointVecEnv:
    env = venv
    while isinstance(env, VecEnvWrapper):
        if isinstance(env, MintKeypointVecEnv):
            return env
        env = env.venv
    raise ValueError("OnlineEncoderCallback needs a VecEnv wrapped by MintKeypointVecEnv")
