"""Probe (s32, #16 item 2): do keypoints that sit on the background *beside* a small object find it when they first
snap to the nearest non-background pixel in a wider window, before the usual colour mean shift?

The overlay stills (results/atari_stills_s32/) show four keypoints of the shipped Pong encoder ringing the enemy
paddle a few pixels off it, none on it; mint_rl.refine leaves a keypoint on the background where it is. Variant
"snap S" (``mint_rl.refine.refine_keypoints(..., snap=S)``): a keypoint whose colour is the background's moves to the
nearest pixel (Euclidean distance, ties: the first in row-major order; a first version of this probe used the
Chebyshev distance, which sends it to an object's corner) of its S × S window whose colour differs from the
background's by more than the tolerance in some channel, then the usual refinement (5 px window) runs from there. The snap window is chosen on a validation
recording (env seeds 20000+) and reported on the held-out one (10000+, the detection tables' frames).
Encoders: the 3 pretraining seeds of Pong (base setting), Breakout (K 32) and MsPacman (base), from runs/.

    python results/atari_refine_snap_s32/probe.py > results/atari_refine_snap_s32/probe.out   # minutes, one core
"""
import numpy as np
import torch

from envs.atari_detection import detection_by_category, encode_frames, record_atari_objects
from mint_rl.baselines import load_encoder
from mint_rl.refine import refine_keypoints

torch.set_num_threads(1)
ENCODERS = {
    "Pong": "runs/aod_pong_3seeds/encoders/Pong/mint-k16-g42-mce100-seed{}-s1500/encoder.pt",
    "Breakout": "runs/aod_seeds_s31_breakout-k32/encoders/Breakout/mint-k32-g42-mce100-seed{}-s1500/encoder.pt",
    "MsPacman": "runs/aod_mspacman_3seeds/encoders/MsPacman/mint-k16-g42-mce100-seed{}-s1500/encoder.pt",
}


def scores(recording, encoder, variant):
    coords, status = encode_frames(encoder, recording.frames)
    frames = torch.from_numpy(np.ascontiguousarray(recording.frames)).permute(0, 3, 1, 2).contiguous()
    c = torch.from_numpy(coords)
    if variant != "raw":
        c = refine_keypoints(frames, c, 5, snap=int(variant[4:]) if variant.startswith("snap") else 0)
    det = detection_by_category(recording, c.numpy(), status)
    out = {k: v["detection"] for k, v in det.categories.items() if v["objects"] > 0}
    out["UAK"] = det.UAK
    return out


VARIANTS = ["raw", "refine5", "snap7", "snap9", "snap11", "snap15"]
for game, pattern in ENCODERS.items():
    encoders = [load_encoder(pattern.format(s), device="cpu").eval() for s in range(3)]
    for split, seed in (("validation", 20_000), ("held-out", 10_000)):
        rec = record_atari_objects(game, 1000, seed=seed)
        print(f"\n{game}, {split} recording (env seeds {seed}+), detection % per pretraining seed (mean), UAK")
        for variant in VARIANTS:
            rows = [scores(rec, e, variant) for e in encoders]
            cells = [f"{k} " + "/".join(f"{r[k]:.0f}" for r in rows) + f" ({np.mean([r[k] for r in rows]):.1f})"
                     for k in rows[0]]
            print(f"  {variant:8s} " + "; ".join(cells), flush=True)
