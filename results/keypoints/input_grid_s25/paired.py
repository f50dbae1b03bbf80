"""Paired comparison (twenty-fifth session): MINT on the input-size heatmap grid against the README table's
Transporter and half-grid MINT, same seeds (same frames, initial draws and held-out episodes), 500 steps.

    python experiments/evaluate_keypoints.py --encoders mint --mint 'grid_size=[64, 64]' --scenes <S> \
        --out runs/kq_input_grid --video-frames 0 --threads 1 --no-progress      # two processes, two scenes each
    python results/keypoints/input_grid_s25/paired.py runs/kq_input_grid/results.csv > results/keypoints/input_grid_s25/paired.md

Mean ± 95 % t-interval half-width over the seeds; paired differences per seed, then the same interval.
"""
import csv
import sys
from collections import defaultdict

import numpy as np
from scipy import stats


def load(path, rename=None):
    out = defaultdict(dict)  # (encoder, scene, metric) -> {seed: value}
    for row in csv.DictReader(open(path)):
        enc = rename or row["encoder"]
        out[(enc, row["scene"], row["metric"])][int(row["seed"])] = float(row["value"])
    return out


def ci(values):
    v = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.1f} ± {half:.1f}"


data = load("results/keypoints/results.csv")
data.update(load(sys.argv[1], rename="mint_input_grid"))
print("| scene | metric | MINT, half grid (table) | MINT, input grid | Transporter | input grid − Transporter, paired |"
      " input grid − half grid, paired |")
print("|---|---|---|---|---|---|---|")
for scene in ("Bouncing", "Collisions", "EnterLeave", "Cluttered"):
    for metric in ("DOP", "TOP", "UAK"):
        cols = [data.get((enc, scene, metric), {}) for enc in ("mint", "mint_input_grid", "transporter")]
        if not cols[1]:
            continue
        seeds = sorted(set(cols[0]) & set(cols[1]) & set(cols[2]))
        cells = [ci([c[s] for s in seeds]) for c in cols]
        d_t = ci([cols[1][s] - cols[2][s] for s in seeds])
        d_m = ci([cols[1][s] - cols[0][s] for s in seeds])
        print(f"| {scene} | {metric} | {' | '.join(cells)} | {d_t} | {d_m} |")
print(f"\nn = {len(seeds)} seeds ({', '.join(map(str, seeds))}), 500 optimiser steps, 3,000 frames, 4 held-out episodes × 100 frames")
