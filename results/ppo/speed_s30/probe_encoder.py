"""Thirtieth-session probe: the frozen encoder's forward on one rollout step's frames (4 Catch frames), by op.

    python results/ppo/speed_s30/probe_encoder.py ENCODER.pt
"""
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from mint_rl.baselines import load_encoder

torch.set_num_threads(1)
enc = load_encoder(sys.argv[1]).eval()
cfg = enc.config
h, w = cfg.image_size
frames = torch.randint(0, 256, (4, cfg.in_channels, h, w), dtype=torch.uint8)


def bench(fn, n=400):
    for _ in range(20):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e3


with torch.no_grad():
    print(f"encoder forward, 4 frames {h}x{w}: {bench(lambda: enc(frames)):.3f} ms")
    print(f"  backbone (_hidden): {bench(lambda: enc._hidden(frames)):.3f} ms")
    hid = enc._hidden(frames)
    print(f"  keypoint logits: {bench(lambda: enc._keypoint_logits(hid)):.3f} ms")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(100):
            enc(frames)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))

from mint_rl.keypoints import keypoint_readout  # noqa: E402

with torch.no_grad():
    logits = enc._keypoint_logits(hid)
    print(f"  readout: {bench(lambda: keypoint_readout(logits, enc.temperature)):.3f} ms")
    print(f"  temperature: {bench(lambda: enc.temperature):.3f} ms")
    maps, coords, peaks = keypoint_readout(logits, enc.temperature)
    print(f"  status: {bench(lambda: torch.sigmoid(cfg.status_slope * (peaks - enc.status_threshold))):.3f} ms")
    print(f"  bool(calibrated): {bench(lambda: bool(enc.threshold_calibrated)):.3f} ms")
