"""Where the Pong study's runs stand, for committing partial results while it runs: per run, the last logged agent
step and SB3's time/fps (agent steps per second of training since the run's (re)start) from its TensorBoard events
in runs/pong_study, and a copy of each run's evaluations.csv (every held-out evaluation so far) in partial/.

    python results/atari_pong_study/progress.py > results/atari_pong_study/progress.out
"""
import glob
import os
import shutil

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

STUDY = "runs/pong_study/ALE_Pong-v5"
PARTIAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "partial")

for path in sorted(glob.glob(f"{STUDY}/tb/*/events*")):
    events = EventAccumulator(path)
    events.Reload()
    if "time/fps" in events.Tags()["scalars"]:
        last = events.Scalars("time/fps")[-1]
        print(f"{os.path.basename(os.path.dirname(path))}: step {last.step}, time/fps {last.value:.0f}")
for path in sorted(glob.glob(f"{STUDY}/*/seed*/evaluations.csv")):
    agent, seed = path.split(os.sep)[-3:-1]
    os.makedirs(PARTIAL, exist_ok=True)
    shutil.copyfile(path, os.path.join(PARTIAL, f"{agent}-{seed}-evaluations.csv"))
    with open(path) as f:
        rows = f.read().splitlines()[1:]
    last = rows[-1].split(",") if rows else None
    print(f"{agent} {seed}: {len(rows)} evaluations" + (f", last at step {last[3]}: mean return {last[4]}" if last else ""))
