"""Probe (s26): where is the keypoint nearest Pong's enemy paddle (shipped pong encoder, 400 held-out frames)? Its offset
from the box centre, and the frame's colours across the paddle's rows (the RAM box checked against the pixels)."""
import numpy as np, torch
from envs.atari_detection import record_atari_objects, encode_frames
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
torch.set_num_threads(1)
rec = record_atari_objects("Pong", 400)
enc = load_encoder(shipped_encoder_path("pong")).eval()
coords, status = encode_frames(enc, rec.frames)
px = lambda xy: (xy + 1) * 84 / 2 - 0.5
for name in ("enemy", "player"):
    j = list(rec.categories).index(name)
    vis = rec.visible[:, j]
    c = px(rec.centres[vis, j]); k = px(coords[vis]); a = status[vis] > 0.5
    d = np.linalg.norm(k - c[:, None], axis=-1); d[~a] = 1e9; i = d.argmin(1)
    off = k[np.arange(len(i)), i] - c
    print(name, "box centre x range", c[:, 0].min().round(1), c[:, 0].max().round(1), "| nearest active kp offset dx median", np.median(off[:, 0]).round(2), "dy median", np.median(off[:, 1]).round(2), "| |dy|<3:", (abs(off[:, 1]) < 3).mean().round(2), "kp index mode", np.bincount(i).argmax())
    ys, xs = np.nonzero(rec.masks[np.flatnonzero(vis)[0], j]); print("  box cols", sorted(set(xs)), "rows", min(ys), max(ys))
j = list(rec.categories).index("enemy")
t = np.flatnonzero(rec.visible[:, j])[5]
ys, xs = np.nonzero(rec.masks[t, j])
f = rec.frames[t]
print("rows", ys.min(), ys.max())
for x in range(4, 18):
    print(x, f[ys.min():ys.max()+1, x].mean(0).round(0).tolist())
# keypoint 15, the one nearest the enemy paddle most often: how it follows the paddle
k15, c = px(coords[rec.visible[:, j], 15]), px(rec.centres[rec.visible[:, j], j])
off = k15 - c
print("keypoint 15: active", (status[rec.visible[:, j], 15] > 0.5).mean().round(3), "|dy| < 3 px", (abs(off[:, 1]) < 3).mean().round(3),
      "dx median", np.median(off[:, 0]).round(2), "IQR", np.percentile(off[:, 0], [25, 75]).round(2),
      "corr(y)", np.corrcoef(k15[:, 1], c[:, 1])[0, 1].round(3))
