"""Training curves from TensorBoard runs: SB3's rollout/ep_rew_mean (mean return of the last 100 training episodes)
every 50k env steps, and the last training speed. Probe helper for the thirty-third session's Pong runs.

    python results/atari_ladder/train_curve.py runs/atari_ladder/ALE_Pong-v5/tb/*
"""

import glob
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EVERY = 50_000
for run in sys.argv[1:]:
    returns: dict[int, float] = {}
    fps: dict[int, float] = {}
    for path in sorted(glob.glob(f"{run}/events*")):  # a resumed run appends a new event file
        acc = EventAccumulator(path, size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for tag, into in (("rollout/ep_rew_mean", returns), ("time/fps", fps)):
            if tag in tags:
                into.update((e.step, e.value) for e in acc.Scalars(tag))
    steps = sorted(returns)
    print(f"{run.rstrip('/').split('/')[-1]}: last step {steps[-1] if steps else None}, "
          f"env steps/s {fps[max(fps)] if fps else None}")
    if steps:
        print("   " + " ".join(f"{t // 1000}k:{returns[max(s for s in steps if s <= t)]:.1f}"
                               for t in range(EVERY, steps[-1] + 1, EVERY)))
