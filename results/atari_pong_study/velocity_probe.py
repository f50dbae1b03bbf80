"""Probe (s28): can the Pong study's keypoint agent read where each object is *going*? Its observation stacks the
keypoints of 2 consecutive agent steps; here a cross-fitted linear map (mint_rl.readout) reads, from the keypoints of
frames t-1 and t together, each object's position at t and its displacement from t-1 to t, on the 1,000 held-out
frames of the detection tables (4 random-policy videos, folds = videos); the error of the constant guess beside it.
s32: the study's encoder is now the shipped `pong` one (envs/pretrained/pong.pt, seed 1 of
results/atari_detection_pong_3seeds/; made by that script, whose held-out recording this reads), raw, refined in a
5 px window, and refined after the snap in 15 px (what the 2M study's agent gets). The s28 output, on the grid-42
encoder of runs/aod_g42_refine (since lost), is kept in velocity_probe_s28.out.

    python results/atari_pong_study/velocity_probe.py > results/atari_pong_study/velocity_probe.out
"""
import numpy as np
import torch

from envs.atari_detection import AtariRecording, encode_frames
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.readout import linear_readout, readout_errors
from mint_rl.refine import refine_keypoints

torch.set_num_threads(1)
ENCODER = shipped_encoder_path("pong")
rec = AtariRecording.load("runs/aod_pong_3seeds/frames/Pong-heldout-n1000-84x84x3.npz")
encoder = load_encoder(ENCODER)
coords, status = encode_frames(encoder, rec.frames)
size = rec.frames.shape[1:3]
fold = np.zeros(len(rec.frames), np.int64)
for i, video in enumerate(rec.videos()):
    fold[video] = i
pairs = np.flatnonzero(~rec.starts)  # frames t whose frame t-1 is in the same video (frame 0 starts one)
both = rec.visible[pairs] & rec.visible[pairs - 1]
moved = np.where(both[..., None], rec.centres[pairs] - rec.centres[pairs - 1], 0.0)
print(f"{len(pairs)} frame pairs; mean |displacement| per agent step (px, where visible in both):")
scale = np.array([(size[1] - 1) / 2, (size[0] - 1) / 2])  # [-1, 1] units → pixels (pixel-centre aligned)
for s, name in enumerate(rec.categories):
    d = np.linalg.norm(moved[both[:, s], s] * scale, axis=-1)
    print(f"  {name}: {d.mean():.2f} (moving in {np.mean(d > 0.5) * 100:.0f} % of pairs)")
for refine, snap in ((0, 0), (5, 0), (5, 15)):
    c = coords
    if refine:
        frames = torch.from_numpy(rec.frames).permute(0, 3, 1, 2).contiguous()
        c = refine_keypoints(frames, torch.from_numpy(coords), refine, snap=snap).numpy()
    stacked = np.concatenate([c[pairs - 1], c[pairs]], axis=1)     # (P, 2K, 2): what the agent's stack holds
    st = np.concatenate([status[pairs - 1], status[pairs]], axis=1)
    print(f"\nrefine {refine}, snap {snap}: mean error in px, read-out (constant guess)")
    for target, centres, visible in (("position at t", rec.centres[pairs], rec.visible[pairs]),
                                     ("displacement t-1 → t", moved, both)):
        err = {use: readout_errors(linear_readout(stacked, st, centres, visible, fold[pairs], features=use), centres,
                                   size) for use in (True, False)}
        cells = [f"{name} {np.nanmean(err[True][:, s]):.2f} ({np.nanmean(err[False][:, s]):.2f})"
                 for s, name in enumerate(rec.categories)]
        print(f"  {target}: " + "; ".join(cells))
