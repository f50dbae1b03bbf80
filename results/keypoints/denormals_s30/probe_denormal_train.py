"""Thirtieth-session probe: does flushing denormals change the speed of a MINT training step on a *trained* encoder?

    python results/keypoints/denormals_s30/probe_denormal_train.py ENC.pt FRAMES.npz     # the frames it was trained on
    python results/keypoints/denormals_s30/probe_denormal_train.py ENC.pt ALE/Pong-v5    # or 1,200 random-policy ones

A trained encoder's softmax temperature is small (about 0.07 on Catch), so the soft-argmax's exp(x - max) underflows
to denormal floats over most of each map; x86 arithmetic on denormals is slow. Times one training step (the pretraining
batch of clips, entropy cached as in pretraining) alternately with and without torch.set_flush_denormal(True).
"""
import statistics
import sys
import time

import numpy as np
import torch

from mint_rl.baselines import load_encoder
from mint_rl.frame_cache import load_frames
from mint_rl.trainer import MintTrainer

torch.set_num_threads(1)
enc = load_encoder(sys.argv[1])
trainer = MintTrainer(enc.config, encoder=enc)
if sys.argv[2].endswith(".npz"):
    frames, starts, _ = load_frames(sys.argv[2])
else:
    from envs.collect import collect_frames

    h, w = enc.config.image_size
    frames, starts = collect_frames(sys.argv[2], 1200, num_envs=4, progress=False, screen_size=(w, h))
buffer = trainer.frame_buffer(frames, starts)
rng = np.random.default_rng(0)
batch = [buffer.sample(enc.config.batch_size, enc.config.clip_length, rng) for _ in range(4)]
times = {False: [], True: []}
for rep in range(12):
    for ftz in (False, True):
        torch.set_flush_denormal(ftz)
        f, e = batch[rep % 4]
        t0 = time.perf_counter()
        trainer.step(f, e)
        if rep:
            times[ftz].append(time.perf_counter() - t0)
torch.set_flush_denormal(False)
for ftz, v in times.items():
    print(f"flush denormals {ftz}: median {statistics.median(v) * 1e3:.1f} ms per step ({len(v)} steps)")
print(f"temperature now {float(enc.temperature.detach()):.4f}; batch {enc.config.batch_size} clips x "
      f"{enc.config.clip_length} frames, {enc.config.image_size}, K={enc.config.num_keypoints}")
