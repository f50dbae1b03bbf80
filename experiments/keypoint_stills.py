"""Keypoint-overlay still of a trained encoder on held-out frames of an env, from any point of an episode.

    python experiments/keypoint_stills.py --encoder runs/atari_study/ALE_MsPacman-v5/encoders/mint-k16-F0-f4000-s1000/encoder.pt \\
        --env ALE/MsPacman-v5 --skip 300 --out docs/img/atari_mspacman_keypoints.png
    python experiments/keypoint_stills.py --encoder pong --env ALE/Pong-v5 --refine 5 --out pong.png   # a shipped encoder

Top to bottom: load the encoder (a checkpoint of any registered type, ``mint_rl.baselines.load_encoder``, or a
shipped encoder's name, ``envs.shipped_encoders``), play one random-policy episode of ``--env`` (env seed
``--seed``, held out from the pretraining seed 0) for ``--skip + --frames`` frames at the encoder's input size,
encode the last ``--frames`` of them (refined in a ``--refine`` px window, ``mint_rl.refine``, as a keypoint agent
given ``--refine`` and ``--refine-snap`` gets them), draw the keypoints (filled = active, hollow = inactive, colour = keypoint identity;
``mint_rl.draw``) and write ``--panels`` evenly spaced frames side by side as one PNG.

On an Atari game with a RAM object reader (``envs.atari_objects.SUPPORTED_GAMES``) each visible object's
ground-truth box is outlined too (``--no-boxes``: not), green where an active keypoint lies inside it and red where
none does, labelled with its category, and the share of the encoded frames in which each category was hit is printed
(``envs.atari_detection.object_hits``: the detection of ``atari_objects_detection.py`` on these frames).
``pretrain.py`` writes a still from the start of an episode; games with a long intro (MsPacman) need ``--skip``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from envs.atari_detection import object_hits, record_atari_objects
from envs.atari_objects import SUPPORTED_GAMES, game_layout
from envs.collect import collect_frames
from envs.shipped_encoders import is_encoder_name, shipped_encoder_path
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import CheckpointError
from mint_rl.draw import HIT_COLOR, MISS_COLOR, draw_keypoints_batch, draw_mask_boxes
from mint_rl.refine import check_refine_window, refine_keypoints



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", required=True,
                   help="encoder checkpoint (encoder.pt), or a shipped encoder's name (pong, breakout, mspacman)")
    p.add_argument("--env", required=True, help="Gymnasium env id the encoder was trained on (ALE/*, MintScenes/*)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--skip", type=int, default=0, help="frames played before the ones shown (default %(default)s)")
    p.add_argument("--frames", type=int, default=60, help="frames encoded after the skip (default %(default)s)")
    p.add_argument("--panels", type=int, default=4, help="frames shown side by side (default %(default)s)")
    p.add_argument("--seed", type=int, default=10_000, help="env seed of the episode (default %(default)s)")
    p.add_argument("--scale", type=int, default=4, help="upscaling of the frames (default %(default)s)")
    p.add_argument("--refine", type=int, default=0,
                   help="refine the keypoints in a window of this many px (odd, >= 3; 0: off, the default)")
    p.add_argument("--refine-snap", type=int, default=0, metavar="WINDOW",
                   help="with --refine: background keypoints first snap to the nearest non-background pixel of a "
                        "WINDOW x WINDOW square (odd, >= 3; 0: off, the default)")
    p.add_argument("--boxes", action=argparse.BooleanOptionalAction, default=None,
                   help="outline the ground-truth object boxes (default: on for Atari games with a RAM reader)")
    args = p.parse_args(argv)
    if args.skip < 0 or args.frames < 1 or not 1 <= args.panels <= args.frames or args.scale < 1:
        p.error("need --skip >= 0, --frames >= 1, 1 <= --panels <= --frames, --scale >= 1")
    if args.refine < 0 or args.refine == 1 or (args.refine and args.refine % 2 == 0):
        p.error(f"--refine must be 0 (off) or an odd window of at least 3 px, got {args.refine}")
    if args.refine_snap and (not args.refine or args.refine_snap < 3 or args.refine_snap % 2 == 0):
        p.error(f"--refine-snap must be 0 (off) or an odd window of at least 3 px with --refine, got {args.refine_snap}")
    supported = args.env.startswith("ALE/") and _has_reader(args.env)
    if args.boxes and not supported:
        p.error(f"--boxes needs an Atari game with a RAM object reader, got --env {args.env}; supported: "
                + ", ".join(f"ALE/{g}-v5" for g in SUPPORTED_GAMES))
    args.boxes = supported if args.boxes is None else args.boxes
    return args


def _has_reader(env_id: str) -> bool:
    try:
        game_layout(env_id)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    try:
        path = shipped_encoder_path(args.encoder) if is_encoder_name(args.encoder) else args.encoder
        encoder = load_encoder(path, device="cpu").eval()
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"--encoder: {exc}") from exc
    h, w = encoder.config.image_size
    for flag, window, name in (("--refine", args.refine, "refinement window"),
                               ("--refine-snap", args.refine_snap, "snap window")):
        try:
            if window:
                check_refine_window(window, h, w, name)
        except ValueError as exc:
            raise SystemExit(f"{flag}: {exc}") from exc
    recording = None
    if args.env.startswith("ALE/") and _has_reader(args.env):  # the same frames with boxes or without
        recording = record_atari_objects(args.env, args.skip + args.frames, frame_size=(h, w),
                                         rgb=encoder.config.in_channels == 3, seed=args.seed, num_streams=1)
        clip = recording.frames[args.skip:]
    else:
        env_kwargs = {"screen_size": (h, w)} if args.env.startswith("ALE/") else {}
        frames, _ = collect_frames(args.env, args.skip + args.frames, seed=args.seed, num_envs=1, progress=False,
                                   **env_kwargs)
        clip = frames[0, args.skip:]
    if clip.shape[1:3] != (h, w):
        raise SystemExit(f"{args.env} gives {clip.shape[1]}×{clip.shape[2]} frames, the encoder takes {h}×{w}")
    x = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
    with torch.no_grad():
        kp = encoder.encode(x)
        coords = kp.coords.float().clamp(-1.0, 1.0)  # as the keypoint wrappers give them to an agent
        if args.refine:
            coords = refine_keypoints(x.contiguous(), coords, args.refine, snap=args.refine_snap)
    coords, status = coords.numpy(), kp.status.numpy()
    overlays = draw_keypoints_batch(clip, coords, status, scale=args.scale)
    picks = np.linspace(0, len(overlays) - 1, args.panels).astype(int)
    panels = list(overlays[picks])
    if args.boxes:
        shown = slice(args.skip, None)
        masks, visible = recording.masks[shown], recording.visible[shown]
        hits = object_hits(recording, np.concatenate([np.zeros((args.skip, *coords.shape[1:])), coords]),
                           np.concatenate([np.zeros((args.skip, status.shape[1])), status]))[shown]
        labels = [str(c) for c in recording.categories]
        for i, t in enumerate(picks):
            colours = np.array([HIT_COLOR if hit else MISS_COLOR for hit in hits[t]], np.uint8)
            panels[i] = draw_mask_boxes(panels[i], masks[t] & visible[t][:, None, None], colours, args.scale, labels)
        for name in dict.fromkeys(labels):
            slots = recording.categories == name
            seen = int(visible[:, slots].sum())
            print(f"{name}: an active keypoint inside its box in {100.0 * hits[:, slots].sum() / seen:.0f} % of {seen} "
                  "visible object-frames" if seen else f"{name}: not visible in these frames")
    import cv2

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(panels, axis=1), cv2.COLOR_RGB2BGR))
    print(f"wrote {out} ({args.panels} of frames {args.skip}–{args.skip + args.frames - 1}, seed {args.seed})")
    return out


if __name__ == "__main__":
    main()
