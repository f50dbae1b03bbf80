"""Probe (twenty-fifth session): where a MINT training step's time goes on the 32, 64 and 90 heatmap grids.

    python results/keypoints/grid_cost_s25/profile_grid.py [--grids 32 64 90] [--reps 5]

K = 10, 64 px input, 32 clips × 3 frames (the ablations' setting), 1 thread; torch.profiler's top ops by self CPU
time, and the median step time. Entropy is included (computed from the clip, as bench_encoder.py does).
"""
import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from mint_rl.config import MintConfig
from mint_rl.trainer import MintTrainer

p = argparse.ArgumentParser()
p.add_argument("--grids", type=int, nargs="+", default=[32, 64, 90])
p.add_argument("--reps", type=int, default=5)
p.add_argument("--top", type=int, default=14)
args = p.parse_args()
torch.set_num_threads(1)
for g in args.grids:
    torch.manual_seed(0)
    cfg = MintConfig(num_keypoints=10, image_size=(64, 64), feature_dim=0, grid_size=(g, g), batch_size=32)
    trainer = MintTrainer(cfg, device=torch.device("cpu"))
    clips = torch.randint(0, 256, (32, 3, 3, 64, 64), dtype=torch.uint8)
    trainer.step(clips)
    times = []
    for _ in range(args.reps):
        t = time.perf_counter(); trainer.step(clips); times.append(time.perf_counter() - t)
    times.sort()
    print(f"\n## grid {g}x{g}: median step {1000 * times[len(times) // 2]:.0f} ms")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.step(clips)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
