"""Thirtieth-session probe: gradients of one MINT loss with and without flushing denormals (main job's Catch encoder).

    python results/keypoints/denormals_s30/probe_exactness.py   # after python experiments/ppo_keypoints.py

Four batches; per batch the loss terms that differ (none) and the largest relative gradient difference, then per
parameter for the last batch (its gradient norm and the relative difference). Run on the code before the change
(8aa8e76), where the forward does not set the flag itself.
"""
import numpy as np
import torch

from mint_rl.baselines import load_encoder
from mint_rl.frame_cache import load_frames
from mint_rl.losses import MintLoss
torch.set_num_threads(1)
enc = load_encoder('runs/ppo_keypoints/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt').train()
from mint_rl.trainer import MintTrainer
frames, starts, _ = load_frames('runs/ppo_keypoints/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/frames.npz')
tr = MintTrainer(enc.config, encoder=enc); buf = tr.frame_buffer(frames, starts); rng = np.random.default_rng(0)
loss = MintLoss(enc.config)
for trial in range(4):
    f, e = buf.sample(32, 3, rng)
    out = {}
    for ftz in (False, True):
        torch.set_flush_denormal(ftz)
        enc.zero_grad()
        kp = enc(f.flatten(0, 1)).reshape_batch(32, 3)
        o = loss(kp, e); o.total.backward()
        out[ftz] = (dict(o.terms), [p.grad.clone() for p in enc.parameters() if p.grad is not None])
    torch.set_flush_denormal(False)
    ta, ga = out[False]; tb, gb = out[True]
    dt = {k: abs(ta[k]-tb[k]) for k in ta if abs(ta[k]-tb[k]) > 0}
    rel = max(((a-b).norm()/a.norm().clamp_min(1e-30)).item() for a, b in zip(ga, gb))
    print(trial, 'term diffs', dt, 'max rel grad diff', rel)
names = [n for n, p in enc.named_parameters() if p.grad is not None]
for n, a, b in zip(names, ga, gb):
    print(n, f"{a.norm().item():.3e}", f"{((a-b).norm()/a.norm().clamp_min(1e-30)).item():.2e}")
