"""Probe (#16, thirty-third session): how large the shipped Pong encoder's feature-head outputs are against its
coordinates, on 200 held-out random-policy frames (env seeds 20000+). The MINT losses never train the feature head,
so these are fixed random projections of the frame that the keypoint rows carried (8 per keypoint) until
--no-encoder-features.

    python results/atari_ladder/feature_scale.py > results/atari_ladder/feature_scale.out
"""

import numpy as np
import torch

from envs.atari_detection import record_atari_objects
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder

torch.set_num_threads(1)
encoder = load_encoder(shipped_encoder_path("pong")).eval()
rec = record_atari_objects("Pong", 200, frame_size=tuple(encoder.config.image_size), seed=20_000)
with torch.no_grad():
    kp = encoder(torch.from_numpy(rec.frames).permute(0, 3, 1, 2))
features, coords = kp.features.numpy(), kp.coords.numpy()
print(f"frames {len(features)}, K {features.shape[1]}, F {features.shape[2]}")
print(f"features: mean |value| {np.abs(features).mean():.3f}, max |value| {np.abs(features).max():.2f}, "
      f"std over frames (mean over keypoint x feature) {features.std(0).mean():.3f}")
print(f"coordinates: std over frames (mean over keypoint x axis) {coords.std(0).mean():.3f}")
