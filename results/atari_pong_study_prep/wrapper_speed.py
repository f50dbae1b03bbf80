"""Probe (s26): env steps per second of 8 Pong envs (DummyVecEnv) raw, and under MintKeypointVecEnv with the shipped
pong encoder (grid 84), its keypoints as they are and refined in a 3 px window; interleaved chunks, 1 torch thread.

    python results/atari_pong_study_prep/wrapper_speed.py
"""
import time

import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.vec_env import MintKeypointVecEnv
from envs.atari import make_atari_env
from envs.keypoint_observation import ObservationOptions

torch.set_num_threads(1)
make = lambda: DummyVecEnv([lambda: make_atari_env("ALE/Pong-v5", rgb=True)] * 8)
venvs = {"raw": make(), "keypoints": MintKeypointVecEnv(make(), "pong"),
         "keypoints, refined 3": MintKeypointVecEnv(make(), "pong", options=ObservationOptions(refine_window=3))}
rng = np.random.default_rng(0)
for v in venvs.values():
    v.seed(0); v.reset()
speed = {name: [] for name in venvs}
for rnd in range(4):
    for name, v in venvs.items():
        t0 = time.perf_counter()
        for _ in range(100):
            v.step(rng.integers(0, 6, size=8))
        if rnd:
            speed[name].append(800 / (time.perf_counter() - t0))
for name, s in speed.items():
    print(f"{name}: {np.median(s):.0f} env steps/s (median of {len(s)} chunks of 800)")
