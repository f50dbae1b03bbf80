"""Thirtieth-session probe: with 2 torch threads, does the flush flag reach torch's intra-op worker threads?

    python results/keypoints/denormals_s30/probe_threads.py late    # the library's per-step flag only
    python results/keypoints/denormals_s30/probe_threads.py early   # flush_denormals_process_wide() first

Times 8 training steps (after one warm-up) of the Pong encoder of ``pretrain.py --env ALE/Pong-v5 --steps 600 --out
runs/pretrain/pong_s30`` on one fixed batch of its frames, 2 torch threads.
"""
import statistics
import sys
import time

import numpy as np
import torch

from mint_rl.utils import flush_denormals_process_wide

if sys.argv[1] == "early":
    flush_denormals_process_wide()
torch.set_num_threads(2)
from mint_rl.baselines import load_encoder  # noqa: E402
from mint_rl.frame_cache import load_frames  # noqa: E402
from mint_rl.trainer import MintTrainer  # noqa: E402

enc = load_encoder("runs/pretrain/pong_s30/encoder.pt")
trainer = MintTrainer(enc.config, encoder=enc)
frames, starts, _ = load_frames("runs/pretrain/pong_s30/frames.npz")
clips, entropy = trainer.frame_buffer(frames, starts).sample(32, 3, np.random.default_rng(0))
times = []
for _ in range(9):
    t = time.perf_counter()
    trainer.step(clips, entropy)
    times.append(time.perf_counter() - t)
print(sys.argv[1], f"{statistics.median(times[1:]) * 1e3:.1f} ms per step")
