"""Where the Pong study's runs stand: per run, the last logged agent step and SB3's time/fps (agent steps per
second of training since the run's (re)start), from its TensorBoard events in runs/pong_study.

    python results/atari_pong_study/progress.py > results/atari_pong_study/progress.out
"""
import glob
import os

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

for path in sorted(glob.glob("runs/pong_study/ALE_Pong-v5/tb/*/events*")):
    events = EventAccumulator(path)
    events.Reload()
    if "time/fps" in events.Tags()["scalars"]:
        last = events.Scalars("time/fps")[-1]
        print(f"{os.path.basename(os.path.dirname(path))}: step {last.step}, time/fps {last.value:.0f}")
