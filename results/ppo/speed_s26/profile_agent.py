"""Probe (s26): where a keypoint-agent PPO chunk spends its time on Catch (e22), torch op profile + cProfile.

    python results/ppo/speed_s26/profile_agent.py ENCODER [steps]
"""
import cProfile
import pstats
import sys
import time

import torch

from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent

torch.set_num_threads(1)
enc, steps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4096
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True)
model, _, cbs, _ = build_agent("mint", exp, 0, enc, None, None)
model.learn(2048, reset_num_timesteps=False, callback=cbs)  # warm-up
pr = cProfile.Profile()
t0 = time.perf_counter()
pr.enable()
model.learn(steps, reset_num_timesteps=False, callback=cbs)
pr.disable()
print(f"{steps} steps in {time.perf_counter() - t0:.1f} s")
st = pstats.Stats(pr)
st.sort_stats("cumulative").print_stats(45)
st.sort_stats("tottime").print_stats(30)
