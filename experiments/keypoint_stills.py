"""Keypoint-overlay still of a trained encoder on held-out frames of an env, from any point of an episode.

    python experiments/keypoint_stills.py --encoder runs/atari_study/ALE_MsPacman-v5/encoders/mint-k16-F0-f4000-s1000/encoder.pt \\
        --env ALE/MsPacman-v5 --skip 300 --out docs/img/atari_mspacman_keypoints.png

Top to bottom: load the encoder (any registered type, ``mint_rl.baselines.load_encoder``), play one
random-policy episode of ``--env`` (env seed ``--seed``, held out from the pretraining seed 0) for
``--skip + --frames`` frames at the encoder's input size, encode the last ``--frames`` of them, draw the
keypoints (filled = active, hollow = inactive, colour = keypoint identity; ``mint_rl.draw``) and write
``--panels`` evenly spaced frames side by side as one PNG. ``pretrain.py`` writes such a still from the
start of an episode; games with a long intro (MsPacman) need ``--skip`` to show play.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from envs.collect import collect_frames
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import CheckpointError
from mint_rl.draw import draw_keypoints_batch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", required=True, help="encoder checkpoint (encoder.pt)")
    p.add_argument("--env", required=True, help="Gymnasium env id the encoder was trained on (ALE/*, MintScenes/*)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--skip", type=int, default=0, help="frames played before the ones shown (default %(default)s)")
    p.add_argument("--frames", type=int, default=60, help="frames encoded after the skip (default %(default)s)")
    p.add_argument("--panels", type=int, default=4, help="frames shown side by side (default %(default)s)")
    p.add_argument("--seed", type=int, default=10_000, help="env seed of the episode (default %(default)s)")
    p.add_argument("--scale", type=int, default=4, help="upscaling of the frames (default %(default)s)")
    args = p.parse_args(argv)
    if args.skip < 0 or args.frames < 1 or not 1 <= args.panels <= args.frames or args.scale < 1:
        p.error("need --skip >= 0, --frames >= 1, 1 <= --panels <= --frames, --scale >= 1")
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    try:
        encoder = load_encoder(args.encoder, device="cpu").eval()
    except (CheckpointError, FileNotFoundError) as exc:
        raise SystemExit(f"--encoder: {exc}") from exc
    h, w = encoder.config.image_size
    env_kwargs = {"screen_size": (h, w)} if args.env.startswith("ALE/") else {}
    frames, _ = collect_frames(args.env, args.skip + args.frames, seed=args.seed, num_envs=1, progress=False,
                               **env_kwargs)
    clip = frames[0, args.skip:]
    if clip.shape[1:3] != (h, w):
        raise SystemExit(f"{args.env} gives {clip.shape[1]}×{clip.shape[2]} frames, the encoder takes {h}×{w}")
    with torch.no_grad():
        kp = encoder.encode(torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2))
    overlays = draw_keypoints_batch(clip, kp.coords.numpy(), kp.status.numpy(), scale=args.scale)
    picks = np.linspace(0, len(overlays) - 1, args.panels).astype(int)
    import cv2

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(list(overlays[picks]), axis=1), cv2.COLOR_RGB2BGR))
    print(f"wrote {out} ({args.panels} of frames {args.skip}–{args.skip + args.frames - 1}, seed {args.seed})")
    return out


if __name__ == "__main__":
    main()
