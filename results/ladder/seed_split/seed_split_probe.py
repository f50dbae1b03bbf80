"""Throw-away probe (issue 13, seventeenth session; rewritten in the eighteenth, committed here because
``../shared/probes/`` does not persist between sessions): is a slow seed its initial weights, its sampling streams or
its training episodes?

It trains one (keypoint agent, seed) of the main job exactly as ``experiments/ppo_keypoints.py`` does (the default
settings, 100k env steps, the same training-env seeds, held-out episodes, encoder and colour codes), except for one
random stream, chosen by MODE:

``torch``  the torch RNG is reseeded with INIT_SEED right after the model is built and the whole policy (extractor,
           policy and value heads) is re-initialised from it, SB3's way (orthogonal, gains sqrt 2 / 0.01 / 1); the
           reward-prediction head is built later from the same stream, and PPO's action sampling follows it;
``numpy``  numpy's global RNG (PPO's minibatch order) and the reward-prediction replay's generator reseeded with
           INIT_SEED; torch kept;
``envs``   training env i reseeded with INIT_SEED + i; torch, numpy and the held-out episodes kept;
``none``   nothing changed: must reproduce the main job's run of that seed (a check of this probe).

Usage (from the project root; RUNS is the ``--out`` of the main job whose colour codebook is reused)::

    python results/ladder/seed_split/seed_split_probe.py SEED INIT_SEED ENCODER RUNS OUT [torch|numpy|envs|none]
    python results/ladder/seed_split/seed_split_probe.py 2 102 runs/pretrain_catch_s1/encoder.pt runs/catch_s17 \
        runs/seedsplit_102 torch

Writes ``OUT/evaluations.csv`` (one row per held-out evaluation, the main job's format).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.auxiliary import RewardPredictionCallback
from agents.callbacks import CsvEvalCallback
from agents.experiment_encoders import colour_codebook, pretraining_frames
from agents.experiment_settings import PPOExperiment, eval_seed
from agents.ppo_experiment import build_agent
from agents.run_folders import env_slug

MODES = ("torch", "numpy", "envs", "none")


def reinitialise(policy: ActorCriticPolicy) -> None:
    """SB3's initialisation of an actor-critic policy, drawn again from the current torch stream."""
    gains = {policy.features_extractor: np.sqrt(2), policy.mlp_extractor: np.sqrt(2), policy.action_net: 0.01,
             policy.value_net: 1.0}
    for module in policy.features_extractor.modules():  # the extractor's own layers first (their defaults)
        if hasattr(module, "reset_parameters") and module is not policy.features_extractor:
            module.reset_parameters()
    for module, gain in gains.items():
        module.apply(functools.partial(policy.init_weights, gain=gain))
    policy.optimizer = policy.optimizer_class(policy.parameters(), lr=policy.optimizer.param_groups[0]["lr"],
                                              **policy.optimizer_kwargs)


def main(seed: int, init_seed: int, encoder: str, runs: str, out: str, mode: str = "torch") -> None:
    if mode not in MODES:
        raise SystemExit(f"MODE must be one of {MODES}, got {mode!r}")
    torch.set_num_threads(1)
    exp = PPOExperiment(env="MintTasks/Catch-v0", agents=["mint"], seeds=seed + 1, timesteps=100_000,
                        encoder=encoder, out=runs, no_progress=True)
    encoders_dir = Path(runs) / env_slug(exp.env) / "encoders"
    codebook = colour_codebook(exp.encoder_file, pretraining_frames(exp, encoders_dir), exp)
    model, eval_env, callbacks, _ = build_agent("mint", exp, seed, exp.encoder_file, None, codebook)
    if mode == "torch":
        torch.manual_seed(init_seed)
        reinitialise(model.policy)
    elif mode == "numpy":
        np.random.seed(init_seed)
        for callback in callbacks:
            if isinstance(callback, RewardPredictionCallback):
                callback.rng = np.random.default_rng(init_seed)
    elif mode == "envs":
        model.get_env().seed(init_seed)  # VecEnv.seed: sub-env i gets init_seed + i at the reset learn() makes
    Path(out).mkdir(parents=True, exist_ok=True)
    evaluator = CsvEvalCallback(eval_env, Path(out) / "evaluations.csv", eval_seed(seed),
                                dict(env=exp.env, agent=f"{exp.label('mint')}-{mode}{init_seed}", seed=seed),
                                exp.eval_freq, exp.n_envs, exp.eval_episodes, deterministic=exp.deterministic_eval)
    model.learn(exp.timesteps, callback=[evaluator, *callbacks])
    print(f"seed {seed}, {mode} {init_seed}: returns", " ".join(f"{np.mean(r):.1f}" for r in
                                                             evaluator.evaluations_results))


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        raise SystemExit(__doc__)
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], *sys.argv[6:])
