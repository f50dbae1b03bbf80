"""Probe (s26): forward time of the shipped pong encoder (grid 84) and of the same network with grid 42 (a fresh
encoder, same config otherwise) on a batch of 8 frames, 1 torch thread, eval mode, no gradient.

    python results/atari_pong_study_prep/encoder_forward.py
"""
import time

import torch

from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.encoder import KeypointEncoder

torch.set_num_threads(1)
x = torch.randint(0, 255, (8, 3, 84, 84), dtype=torch.uint8)
encs = {"pong (grid 84)": load_encoder(shipped_encoder_path("pong")).eval()}
encs["same network, grid 42"] = KeypointEncoder(encs["pong (grid 84)"].config.replace(grid_size=(42, 42))).eval()
for name, e in encs.items():
    with torch.no_grad():
        for _ in range(3):
            e(x)
        t0 = time.perf_counter()
        for _ in range(20):
            e(x)
    print(f"{name}: {(time.perf_counter() - t0) / 20 * 1000:.1f} ms per forward of 8 frames")
