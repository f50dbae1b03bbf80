"""Where a keypoint-agent and a pixel-agent PPO chunk spend their time on Catch (29th session probe).

    python results/ppo/speed_s29/profile_agents.py ENCODER.pt

Builds both agents exactly as benchmarks/bench_ppo.py does, warms each up with one chunk, then runs one more chunk of
each under cProfile (1 torch thread) and prints the top functions by total and cumulative time.
"""
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent

torch.set_num_threads(1)
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8)
codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32) if exp.colour_codes else None
kp, _, kp_cb, _ = build_agent("mint", exp, 0, Path(sys.argv[1]), None, codebook)
px = build_agent("pixels", exp, 0, None, None)[0]
chunk = 2 * exp.n_envs * exp.ppo["n_steps"]
for name, model, cb in (("keypoints", kp, kp_cb), ("pixels", px, [])):
    model.learn(chunk, reset_num_timesteps=False, callback=cb)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    model.learn(chunk, reset_num_timesteps=False, callback=cb)
    prof.disable()
    print(f"\n===== {name}: {chunk / (time.perf_counter() - t0):.0f} env steps/s under the profiler =====")
    st = pstats.Stats(prof)
    st.sort_stats("tottime").print_stats(18)
    st.sort_stats("cumulative").print_stats(40)
