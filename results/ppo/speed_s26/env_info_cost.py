"""Probe (s26): what info["objects"] costs a DummyVecEnv of 4 Catch envs (masks on/off), env steps per second."""
import time

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401

for masks in (True, False, True, False):
    venv = DummyVecEnv([lambda: Monitor(gym.make("MintTasks/Catch-v0", return_masks=masks))] * 4)
    venv.seed(0); venv.reset()
    acts = np.random.default_rng(0).integers(0, 3, size=(1000, 4))
    t0 = time.perf_counter()
    for a in acts:
        venv.step(a)
    print(f"return_masks={masks}: {4000 / (time.perf_counter() - t0):.0f} env steps/s")
