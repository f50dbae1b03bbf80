"""Probe (s26): how far are the shipped encoders' keypoints from the objects they miss? For every held-out frame
with the object visible: the pixel distance (84 × 84 frame) from the box centre to the nearest ACTIVE keypoint and to
the nearest keypoint of any status; the share of frames within 1, 2, 3 and 5 px, and the undilated-box detection.

    python results/atari_detection_grid/probes/near_miss.py [frames]      # Pong, Breakout, MsPacman, 1 thread
"""
import sys

import numpy as np
import torch

from envs.atari_detection import detection_by_category, encode_frames, record_atari_objects
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
for game in ("Pong", "Breakout", "MsPacman"):
    rec = record_atari_objects(game, n)
    enc = load_encoder(shipped_encoder_path(game.lower())).eval()
    coords, status = encode_frames(enc, rec.frames)
    det = detection_by_category(rec, coords, status)
    h, w = rec.frames.shape[1:3]
    px = lambda xy: (xy + 1) * np.array([w, h]) / 2  # [-1, 1] → pixels (pixel-centre aligned)
    kp, obj = px(coords), px(rec.centres)  # (T, K, 2), (T, N, 2)
    d = np.linalg.norm(kp[:, None] - obj[:, :, None], axis=-1)  # (T, N, K)
    active = status > 0.5
    print(f"\n{game}: {n} frames, active keypoints per frame {active.sum(1).mean():.1f} of {status.shape[1]}")
    for cat in dict.fromkeys(rec.categories.tolist()):
        slots = np.flatnonzero(rec.categories == cat)
        vis = rec.visible[:, slots]
        if not vis.any():
            continue
        d_cat = d[:, slots]
        any_kp = d_cat.min(-1)[vis]
        act_kp = np.where(active[:, None], d_cat, np.inf).min(-1)[vis]
        cells = " ".join(f"≤{r}px {100 * (act_kp <= r).mean():5.1f}/{100 * (any_kp <= r).mean():5.1f}" for r in (1, 2, 3, 5))
        print(f"  {cat:8s} detection {det.categories[cat]['detection']:5.1f} % | active/any keypoint within {cells} "
              f"| median px active {np.median(act_kp):.1f}, any {np.median(any_kp):.1f}")
