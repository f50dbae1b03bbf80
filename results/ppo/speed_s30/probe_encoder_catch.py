"""Thirtieth-session probe: the frozen encoder's forward on 4 real Catch frames (the main job's encoder and frames).

    python results/ppo/speed_s30/probe_encoder_catch.py ENCODER_DIR     # holding encoder.pt and frames.npz
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mint_rl.baselines import load_encoder
from mint_rl.frame_cache import load_frames

torch.set_num_threads(1)
folder = Path(sys.argv[1])
enc = load_encoder(folder / "encoder.pt").eval()
frames, _, _ = load_frames(folder / "frames.npz")
h, w, c = frames.shape[-3:]
x = torch.from_numpy(np.ascontiguousarray(frames[:, :1].reshape(-1, h, w, c)[:4])).permute(0, 3, 1, 2).contiguous()


def bench(fn, n=400):
    for _ in range(20):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e3


with torch.no_grad():
    forward, backbone = bench(lambda: enc(x)), bench(lambda: enc._hidden(x))
    print(f"encoder forward, 4 Catch frames: {forward:.3f} ms; backbone {backbone:.3f} ms")
