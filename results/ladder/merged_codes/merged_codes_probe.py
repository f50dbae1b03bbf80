"""Throw-away probe (issue 13, eighteenth session): what does learning the *meaning* of a colour cost the MINT agent?

The ladder found, on the true object centres, that a keypoint carrying the good/bad flag learns Catch sooner than one
carrying its colour (37.7k against 45.3k env steps to 5.52, twelfth session). The MINT default gives each keypoint
the one-hot code of its colour among 8 (black, the 5 good colours, red, white): what the agent learns about one good
colour does not carry over to the other four. This probe runs the main job's keypoint agent unchanged, except that
the 5 codes whose colour is one of Catch's good colours are merged into one (an oracle: it uses the env's palette,
``envs.tasks.GOOD_COLOURS``): the one-hot block keeps its width, and every good keypoint carries the same code. So
the keypoints carry exactly what MINT finds, with the flag's meaning given.

MODE ``equal`` (no oracle) instead keeps the 8 codes and sets the columns of the extractor's first layer that read
them to zero after SB3 initialises the policy: every code starts with the same embedding, and the agent learns
which codes differ (a learned counterpart of the merge: what it learns about one good colour starts out shared).

Usage (from the project root; RUNS is the ``--out`` of the main job whose colour codebook is reused)::

    python results/ladder/merged_codes/merged_codes_probe.py SEED ENCODER RUNS OUT [merged|equal]
    python results/ladder/merged_codes/merged_codes_probe.py 0 runs/pretrain_catch_s1/encoder.pt runs/catch_s17 \
        runs/merged_codes/seed0

Writes ``OUT/evaluations.csv`` (the main job's format); ``--summary OUT_1 OUT_2 ...`` instead prints, for finished
runs, the final return and the env steps to 5.26 and 5.52 (trailing 3-evaluation mean, ``agents.report``).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from agents.callbacks import CsvEvalCallback
from agents.experiment_encoders import colour_codebook, pretraining_frames
from agents.experiment_settings import PPOExperiment, eval_seed
from agents.ppo_experiment import build_agent
from agents.report import steps_to_threshold
from agents.run_folders import env_slug
from envs.tasks import GOOD_COLOURS

CODE_COLUMNS = slice(3, None)  # rows (x, y, status, one-hot code of n colours): F = 0, no glimpses


def merge_matrix(codebook: np.ndarray) -> np.ndarray:
    """``(n, n)`` 0/1 matrix sending every code whose centroid is nearest to a good colour to the first of them."""
    palette = np.asarray(GOOD_COLOURS, np.float64).reshape(-1, 3) / (255.0 if np.max(GOOD_COLOURS) > 1 else 1.0)
    centroids = np.asarray(codebook, np.float64)
    centroids = centroids / 255.0 if centroids.max() > 1 else centroids
    good = [c for c in range(len(centroids)) if np.min(np.abs(palette - centroids[c]).max(1)) < 0.1]
    if len(good) != len(palette):
        raise SystemExit(f"expected one code per good colour ({len(palette)}), found {good} in {codebook}")
    merge = np.eye(len(centroids))
    for c in good[1:]:
        merge[c] = 0.0
        merge[c, good[0]] = 1.0
    return merge.astype(np.float32)


class MergedCodes(VecEnvWrapper):
    """Keypoint rows with their one-hot code sent through ``merge`` (the observation space is unchanged)."""

    def __init__(self, venv: VecEnv, merge: np.ndarray) -> None:
        super().__init__(venv)
        self.merge = merge

    def _map(self, obs: np.ndarray) -> np.ndarray:
        obs = obs.copy()
        obs[..., CODE_COLUMNS] = obs[..., CODE_COLUMNS] @ self.merge
        return obs

    def reset(self) -> np.ndarray:
        return self._map(self.venv.reset())

    def step_wait(self):  # noqa: ANN201 (SB3's VecEnvStepReturn)
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                info["terminal_observation"] = self._map(info["terminal_observation"])
        return self._map(obs), rewards, dones, infos


def main(seed: int, encoder: str, runs: str, out: str, mode: str = "merged") -> None:
    if mode not in ("merged", "equal"):
        raise SystemExit(f"MODE must be merged or equal, got {mode!r}")
    torch.set_num_threads(1)
    exp = PPOExperiment(env="MintTasks/Catch-v0", agents=["mint"], seeds=seed + 1, timesteps=100_000,
                        encoder=encoder, out=runs, no_progress=True)
    codebook = colour_codebook(exp.encoder_file, pretraining_frames(exp, Path(runs) / env_slug(exp.env) / "encoders"),
                               exp)
    merge = merge_matrix(codebook)
    model, eval_env, callbacks, _ = build_agent("mint", exp, seed, exp.encoder_file, None, codebook)
    n = merge.shape[0]
    if model.observation_space.shape[-1] != 3 + n:
        raise SystemExit(f"rows of {model.observation_space.shape[-1]} columns; this probe expects (x, y, status, "
                         f"{n} codes)")
    if mode == "merged":
        model.env.venv = MergedCodes(model.env.venv, merge)  # below the frame stack, as the keypoint VecEnv is
        eval_env.venv = MergedCodes(eval_env.venv, merge)
    else:
        first = model.policy.features_extractor.point[0]  # Linear over (x, y, status, codes) of one frame
        if not model.policy.share_features_extractor or first.in_features != 3 + n:
            raise SystemExit("equal: expects one shared extractor whose first layer reads (x, y, status, codes)")
        with torch.no_grad():
            first.weight[:, CODE_COLUMNS] = 0.0
    Path(out).mkdir(parents=True, exist_ok=True)
    evaluator = CsvEvalCallback(eval_env, Path(out) / "evaluations.csv", eval_seed(seed),
                                dict(env=exp.env, agent=f"{exp.label('mint')}-{'merged-good' if mode == 'merged' else 'equal'}-codes", seed=seed),
                                exp.eval_freq, exp.n_envs, exp.eval_episodes, deterministic=exp.deterministic_eval)
    model.learn(exp.timesteps, callback=[evaluator, *callbacks])


def summary(outs: list[str]) -> None:
    for out in outs:
        rows = list(csv.DictReader(open(Path(out) / "evaluations.csv")))
        steps = np.array([int(r["step"]) for r in rows])
        returns = np.array([float(r["mean_return"]) for r in rows])
        reach = {t: steps_to_threshold(steps, returns, t) for t in (5.26, 5.52)}
        print(f"{out}: seed {rows[0]['seed']}, {len(rows)} evaluations, last step {steps[-1]}, final "
              f"{returns[-1]:.1f}, returns {' '.join(f'{r:.1f}' for r in returns)}; reaches 5.26 at "
              f"{reach[5.26]:.0f}, 5.52 at {reach[5.52]:.0f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--summary":
        summary(sys.argv[2:])
    elif len(sys.argv) in (5, 6):
        main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], *sys.argv[5:])
    else:
        raise SystemExit(__doc__)
