"""Where the Pong study's runs stand, for committing partial results while it runs: per run, the last logged agent
step and SB3's time/fps (agent steps per second of training since the run's (re)start) from its TensorBoard events
in the study's run folders (runs/pong_study_2m: run.sh and run_ff_lr.sh; runs/pong_study_map: run_map.sh;
runs/pong_study_pixels: run_pixels.sh), a copy of
each run's evaluations.csv (every held-out evaluation so far) in partial/, and each seed's runs read at the training
seconds of its finished keypoint run (equal training time), from the copies in partial/ (which outlive the run
folders).

    python results/atari_pong_study/progress.py > results/atari_pong_study/progress.out
"""
import csv
import glob
import os
import shutil

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.report import return_at_seconds

STUDIES = ("runs/pong_study_2m/ALE_Pong-v5", "runs/pong_study_map/ALE_Pong-v5", "runs/pong_study_pixels/ALE_Pong-v5")
PARTIAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "partial")
TIMESTEPS = 2_000_000

for study in STUDIES:
    for path in sorted(glob.glob(f"{study}/tb/*/events*")):
        events = EventAccumulator(path)
        events.Reload()
        if "time/fps" in events.Tags()["scalars"]:
            last = events.Scalars("time/fps")[-1]
            print(f"{os.path.basename(os.path.dirname(path))}: step {last.step}, time/fps {last.value:.0f}")
    for path in sorted(glob.glob(f"{study}/*/seed*/evaluations.csv")):
        agent, seed = path.split(os.sep)[-3:-1]
        os.makedirs(PARTIAL, exist_ok=True)
        shutil.copyfile(path, os.path.join(PARTIAL, f"{agent}-{seed}-evaluations.csv"))
for path in sorted(glob.glob(f"{PARTIAL}/*-evaluations.csv")):  # every run so far, its folder kept or not
    with open(path) as f:
        rows = f.read().splitlines()[1:]
    last = rows[-1].split(",") if rows else None
    agent, seed = os.path.basename(path)[:-len("-evaluations.csv")].rsplit("-", 1)
    print(f"{agent} {seed}: {len(rows)} evaluations" + (f", last at step {last[3]}: mean return {last[4]}" if last else ""))


# Equal training time, per seed: every run read at the training seconds of the keypoint agent's finished run
# (agents.report.return_at_seconds; nan: that run has not trained that long yet, or its first evaluation came later).
def curve(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["train_seconds"]) for r in rows]), np.array([float(r["mean_return"]) for r in rows]),
            np.array([int(r["step"]) for r in rows]))


for path in sorted(glob.glob(f"{PARTIAL}/mint-*-seed*-evaluations.csv")):
    mint, seed = os.path.basename(path)[:-len("-evaluations.csv")].rsplit("-", 1)
    t_mint, r_mint, s_mint = curve(path)
    if s_mint[-1] < TIMESTEPS:
        continue  # not finished
    cells = [f"{mint} {r_mint[-1]:.1f}"]
    for agent in ("pixels", "objects"):
        ref = f"{PARTIAL}/{agent}-{seed}-evaluations.csv"
        if os.path.isfile(ref):
            t, r, steps = curve(ref)
            finished = steps[-1] >= TIMESTEPS  # keeps its final
            at = return_at_seconds(t, r, t_mint[-1]) if finished or t[-1] >= t_mint[-1] else float("nan")
            cells.append(f"{agent} {at:.1f} (at step {np.interp(t_mint[-1], t, steps):.0f}{', finished' if finished else ''})" if np.isfinite(at)
                         else f"{agent} not there yet ({t[-1]:.0f} s)")
    print(f"{seed} at {mint}'s {t_mint[-1]:.0f} training seconds: " + ", ".join(cells))
