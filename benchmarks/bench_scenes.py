"""Steps per second of the synthetic object scenes, with and without ground-truth masks.

Single process, OpenCV limited to one thread; every (scene, masks) cell is timed once per
repetition, repetitions interleaved so that machine load affects all cells alike, and the
median is reported. Resets at truncation are included in the timing, as in a real rollout.

    python benchmarks/bench_scenes.py --steps 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import gymnasium as gym

import envs


def steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    """Time ``steps`` no-op steps of ``env`` (after an untimed reset)."""
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (median)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels")
    parser.add_argument("--ids", nargs="+", default=list(envs.SCENE_PRESETS), help="scene ids")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first reset")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    cells = [(env_id, masks) for env_id in args.ids for masks in (True, False)]
    made = {
        cell: gym.make(cell[0], height=args.size, width=args.size, return_masks=cell[1]).unwrapped
        for cell in cells
    }
    for env in made.values():  # warm-up
        steps_per_second(env, min(args.steps, 200), args.seed)
    rates: dict[tuple[str, bool], list[float]] = {cell: [] for cell in cells}
    for _ in range(args.repeats):
        for cell in cells:
            rates[cell].append(steps_per_second(made[cell], args.steps, args.seed))

    print(
        f"frames {args.size}x{args.size}, {args.steps} steps x {args.repeats} repeats, "
        "median steps/s (ratio: no masks / masks)"
    )
    print(f"{'scene id':<28} {'objects':>7} {'masks':>10} {'no masks':>10} {'ratio':>6}")
    for env_id in args.ids:
        with_masks = statistics.median(rates[(env_id, True)])
        without = statistics.median(rates[(env_id, False)])
        n = made[(env_id, True)].config.max_objects
        ratio = without / with_masks
        print(f"{env_id:<28} {n:>7} {with_masks:>10.0f} {without:>10.0f} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
