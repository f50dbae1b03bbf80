"""Probe (s26): does label-free refinement (mint_rl.refine: colour mean shift to the centre of the object part under
each keypoint) move the shipped encoders' near-miss keypoints into the objects' undilated boxes?

    python results/atari_detection_grid/probes/refine_detection.py [frames]
"""
import sys

import torch

from envs.atari_detection import detection_by_category, encode_frames, record_atari_objects
from envs.shipped_encoders import shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.refine import refine_keypoints

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
for game in ("Pong", "MsPacman", "Breakout"):
    rec = record_atari_objects(game, n)
    enc = load_encoder(shipped_encoder_path(game.lower())).eval()
    coords, status = encode_frames(enc, rec.frames)
    frames = torch.from_numpy(rec.frames).permute(0, 3, 1, 2).contiguous()
    rows = {"none": detection_by_category(rec, coords, status)}
    for window in (3, 5, 7, 9):
        refined = refine_keypoints(frames, torch.as_tensor(coords), window).numpy()
        rows[f"refine {window}"] = detection_by_category(rec, refined, status)
    cats = list(rows["none"].categories)
    print(f"\n{game} ({n} held-out frames), detection % on undilated boxes; UAK")
    print("| refinement | " + " | ".join(cats) + " | UAK |")
    print("|---|" + "---|" * (len(cats) + 1))
    for name, det in rows.items():
        cells = " | ".join(f"{det.categories[c]['detection']:.1f}" for c in cats)
        print(f"| {name} | {cells} | {det.UAK:.2f} |")
