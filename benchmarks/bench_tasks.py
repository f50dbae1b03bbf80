"""Speed of the object tasks, and how well PPO learns them from ground-truth positions.

Two measurements, both single process with torch and OpenCV on one thread:

* ``speed``: environment steps per second of each task, with and without the ground-truth
  masks, random actions, resets at truncation included (median of interleaved repeats).
* ``ppo``: for each seed, ``PPO("MlpPolicy")`` trained for ``--ppo-steps`` env steps on
  ``GroundTruthObservation(task)``, then the trained policy (deterministic) and a uniform
  random policy are evaluated with ``evaluate_policy`` on held-out episode seeds
  (``10_000 + 100 * seed + i``, never used in training).

    python benchmarks/bench_tasks.py speed --steps 5000
    python benchmarks/bench_tasks.py ppo --ppo-steps 30000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

import envs
from agents.ppo_experiment import RandomPolicy
from envs.tasks import GroundTruthObservation

TASK_IDS = list(envs.TASK_PRESETS)

# PPO settings that learn both tasks from ground truth in ~30k steps (measured with this file)
PPO_KWARGS: dict[str, Any] = dict(
    n_steps=128, batch_size=64, n_epochs=10, learning_rate=1e-3, gamma=0.95, ent_coef=0.01
)
N_ENVS = 4




def steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    """Time ``steps`` random steps of ``env`` (after an untimed reset)."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def bench_speed(args: argparse.Namespace) -> None:
    cells = [(env_id, masks) for env_id in args.ids for masks in (True, False)]
    made = {cell: gym.make(cell[0], return_masks=cell[1]).unwrapped for cell in cells}
    for env in made.values():  # warm-up
        steps_per_second(env, min(args.steps, 200), args.seed)
    rates: dict[tuple[str, bool], list[float]] = {cell: [] for cell in cells}
    for _ in range(args.repeats):
        for cell, env in made.items():
            rates[cell].append(steps_per_second(env, args.steps, args.seed))
    print(f"{'task':<24} {'masks':>5} {'steps/s':>9}")
    for (env_id, masks), values in rates.items():
        print(f"{env_id:<24} {str(masks):>5} {statistics.median(values):>9.0f}")


def evaluate(policy: Any, env_id: str, seed: int, episodes: int) -> tuple[float, float]:
    """Mean and std return over ``episodes`` held-out episodes (seeds ``10_000 + 100 seed + i``)."""
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: Monitor(GroundTruthObservation(gym.make(env_id)))])
    env.seed(10_000 + 100 * seed)
    mean, std = evaluate_policy(policy, env, n_eval_episodes=episodes, deterministic=True)
    env.close()
    return float(mean), float(std)


def bench_ppo(args: argparse.Namespace) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    print(f"{'task':<22} {'seed':>4} {'random':>13} {'PPO (GT)':>13} {'steps':>6} {'wall s':>6}")
    for env_id in args.ids:
        for seed in args.seeds:
            train_env = make_vec_env(
                env_id, n_envs=N_ENVS, seed=seed, wrapper_class=GroundTruthObservation
            )
            model = PPO("MlpPolicy", train_env, seed=seed, verbose=0, **PPO_KWARGS)
            start = time.perf_counter()
            model.learn(args.ppo_steps)
            wall = time.perf_counter() - start
            random_policy = RandomPolicy(train_env.action_space, seed)
            r_mean, r_std = evaluate(random_policy, env_id, seed, args.episodes)
            p_mean, p_std = evaluate(model, env_id, seed, args.episodes)
            print(
                f"{env_id:<22} {seed:>4} {r_mean:>6.2f} ± {r_std:<4.2f} {p_mean:>6.2f} ± {p_std:<4.2f} "
                f"{args.ppo_steps:>6} {wall:>6.0f}",
                flush=True,
            )
            train_env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("speed", "ppo"), help="what to measure")
    parser.add_argument("--ids", nargs="+", default=TASK_IDS, help="task ids")
    parser.add_argument("--steps", type=int, default=5000, help="steps per timed speed run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved speed repetitions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speed runs")
    parser.add_argument("--ppo-steps", type=int, default=30_000, help="PPO training env steps")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="PPO seeds")
    parser.add_argument("--episodes", type=int, default=30, help="evaluation episodes")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    bench_speed(args) if args.what == "speed" else bench_ppo(args)


if __name__ == "__main__":
    main()
