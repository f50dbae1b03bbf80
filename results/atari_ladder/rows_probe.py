"""Probe (#16, thirty-third session): what each of the shipped Pong encoder's 16 keypoint rows shows, frame by frame,
as the Pong study's keypoint agent reads them (refined in 5 px after a 15 px snap): the share of frames it is active,
on each object (box dilated by 1 px) or on the background, and how far it moves between frames on the background.

    python results/atari_ladder/rows_probe.py > results/atari_ladder/rows_probe.out
"""

import numpy as np
import torch

from envs.atari_detection import dilate_masks, encode_frames, record_atari_objects
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.coords import pixels_per_unit
from mint_rl.metrics import keypoint_assignments
from mint_rl.refine import refine_keypoints

torch.set_num_threads(1)
encoder = load_encoder(shipped_encoder_path("pong"), device="cpu").eval()
rec = record_atari_objects("Pong", 1000, frame_size=tuple(encoder.config.image_size), seed=20_000)
coords, status = encode_frames(encoder, rec.frames)
frames = torch.from_numpy(rec.frames).permute(0, 3, 1, 2).contiguous()
coords = refine_keypoints(frames, torch.from_numpy(coords), 5, snap=15).numpy()
masks = dilate_masks(rec.masks & rec.visible[:, :, None, None], 1)
assign = keypoint_assignments(coords, status, masks)  # (T, K): slot, -1 background, -2 inactive
t, k = assign.shape
new = np.concatenate([[True], rec.starts[1:]])  # no displacement across a video start
step_px = np.linalg.norm(np.diff(coords, axis=0) * pixels_per_unit(rec.frames.shape[1:3]), axis=-1)  # (T-1, K)
print(f"Pong, shipped encoder `pong`, snapped (15) and refined (5); {t} held-out random-policy frames (env seeds "
      "20000+); % of frames per row; 'bg move' = mean displacement (px) between consecutive frames while on the "
      "background in both")
print("| row | active % | player % | enemy % | ball % | background % | bg move px | mean x, y (px) |")
print("|---|---|---|---|---|---|---|---|")
for r in range(k):
    a = assign[:, r]
    both_bg = (a[1:] == -1) & (a[:-1] == -1) & ~new[1:]
    move = step_px[:, r][both_bg].mean() if both_bg.any() else float("nan")
    xy = (coords[:, r] + 1) / 2 * np.array(rec.frames.shape[2:0:-1])
    print(f"| {r} | {100 * (status[:, r] > 0.5).mean():.0f} | " + " | ".join(f"{100 * (a == j).mean():.0f}" for j in range(3))
          + f" | {100 * (a == -1).mean():.0f} | {move:.2f} | {xy[:, 0].mean():.0f}, {xy[:, 1].mean():.0f} |")
ball = assign == 2
print(f"\nframes with the ball visible: {rec.visible[:, 2].mean() * 100:.0f} %; ball on some row: "
      f"{100 * ball.any(1)[rec.visible[:, 2]].mean():.0f} %; distinct rows that hold it: {np.unique(np.nonzero(ball)[1]).tolist()}")
holder = np.where(ball.any(1), ball.argmax(1), -1)
keep = (holder[1:] >= 0) & (holder[:-1] >= 0) & ~new[1:]
print(f"the row holding the ball changes between consecutive frames in {100 * (holder[1:] != holder[:-1])[keep].mean():.0f} % "
      "of frame pairs where it is held in both")
