"""Pretrain a MINT keypoint encoder on frames of any Gymnasium env.

    python experiments/pretrain.py --env MintScenes/Collisions-v0
    python experiments/pretrain.py --env ALE/Pong-v5 --steps 3000
    torchrun --nproc-per-node 2 experiments/pretrain.py --env ALE/Pong-v5 --norm group

Steps, top to bottom: check the flags (a bad one stops here, before any work); then
``envs.pretraining.pretrain_encoder`` (the library function other experiments call too) locks the
output folder, collects frames with a random policy (cached in the output folder), fills a
frame buffer (entropy computed once per frame), trains with ``MintTrainer`` (progress bar,
TensorBoard in ``<out>/tb``, atomic checkpoint ``<out>/encoder.pt`` every
``--checkpoint-every`` steps; rerunning the same command resumes from it), then writes
``config.json``, ``summary.json``, a keypoint-overlay video and a still on held-out frames
(another seed).

The output folder is honest about what it holds:

* one process at a time: ``<out>/.lock`` (``mint_rl.run_lock``) refuses a second process on
  the same ``--out`` while the first lives, and is taken over once it is gone; temporary
  files of writes a killed run left are removed;
* the frame cache ``frames.npz`` records its env, frame count, seed, sub-envs and env
  arguments (``mint_rl.frame_cache``); an ``--out`` made with others is refused, naming the
  difference (use another ``--out``, or delete the cache and the checkpoint trained on it);
* a resume checks the checkpoint's frames and config against this command: another
  architecture is refused; other hyperparameters (lr, batch, loss weights, ...) too, unless
  ``--allow-config-change`` continues the checkpoint with the new ones;
* a rerun that has nothing left to train (the checkpoint is at ``--steps`` already) writes
  nothing and says so.

Under ``torchrun`` each process collects the same frames (same seed) and trains on its
shard of the same global batch with DistributedDataParallel (gloo on CPU, nccl on CUDA);
use ``--norm group`` (or ``none``): BatchNorm statistics would differ per process.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from envs.pretraining import PretrainError, PretrainSettings, pretrain_encoder
from mint_rl.config import ConfigError, config_overrides
from mint_rl.utils import flush_denormals_process_wide, resolve_device


SCENE_STEPS = 2000
"""Default optimiser steps on the object scenes, with the input-size grid (:data:`SCENE_GRID_SCALE`): its curve
(``evaluate_keypoints.py --curve 500 1000 2000 --steps 4000 --mint 'grid_size=[64, 64]'``, one seed,
``results/keypoints/input_grid_curve/``) has MINT's held-out DOP at 2k within 1.7 points of 4k on every family
(at 1k up to 3.9 below). On the half-size grid (``--grid-scale 0.5``) the curve rose to 4k
(``results/keypoints/convergence/``): give ``--steps 4000`` there."""

SCENE_GRID_SCALE = 1.0
"""Default heatmap grid on the object scenes: the input size (64 × 64 for their 64 px frames), not
:class:`~mint_rl.config.MintConfig`'s half. The ablations (``experiments/mint_ablations.py``, one seed,
``results/keypoints/ablations/``) have MINT detecting more objects on the finer grid on every family (+14 to +22 DOP on three, +7 on EnterLeave;
one seed)."""


ALE_KEYPOINTS = {"ALE/Breakout-v5": 32}
"""Default K on ALE ids where the per-object detection study (issue #16) found another K than 16 better across 3
pretraining seeds (MINT, grid 42, 1,500 steps, refined in 5 px, 1,000 held-out frames): on Breakout K = 32 finds the
paddle in 90.7 ± 24.9 % of frames against K = 16's 3.8 ± 16.0 (K = 8: 29.4 ± 124.0;
``results/atari_detection_seeds_s31/``). On Pong and MsPacman no K beat 16 across seeds: they keep it."""
DEFAULT_KEYPOINTS = 16


OWN_FLAGS = {"num_keypoints": "--num-keypoints", "image_size": "--image-size", "hidden_channels": "--hidden-channels",
             "feature_dim": "--feature-dim", "norm": "--norm", "batch_size": "--batch-size",
             "clip_length": "--clip-length", "lr": "--lr", "seed": "--seed", "in_channels": None, "extra": None}
"""MintConfig fields ``--mint`` may not set: those with a flag of their own, or fixed by the env's frames."""


def parse_args(argv: list[str] | None = None) -> PretrainSettings:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="MintScenes/Collisions-v0", help="Gymnasium env id (ALE/* or MintScenes/*)")
    p.add_argument("--out", default=None, help="output folder (default: runs/pretrain/<env>-s<seed>)")
    p.add_argument("--frames", type=int, default=6000, help="frames to collect with a random policy")
    p.add_argument("--num-envs", type=int, default=4, help="parallel sub-environments for collection")
    p.add_argument("--async-envs", action="store_true", help="collect in worker processes")
    p.add_argument("--steps", type=int, default=None,
                   help=f"optimiser steps (default: {SCENE_STEPS} on MintScenes/* ids, where MINT's held-out DOP on the "
                        f"input-size grid is within 2 points of 4k steps (docs/keypoint_quality.md, 'Input-size "
                        f"grid'); 1500 elsewhere)")
    p.add_argument("--num-keypoints", "-k", type=int, default=None,
                   help=f"K (default: {DEFAULT_KEYPOINTS}; "
                        + ", ".join(f"{k} on {env}" for env, k in ALE_KEYPOINTS.items())
                        + ", where the per-object detection study found it better across 3 seeds)")
    p.add_argument("--image-size", type=int, default=None,
                   help="encoder input side (default: the env's frame size; ALE frames are preprocessed to it, "
                        "e.g. 64 for a faster encoder)")
    p.add_argument("--grid-scale", type=float, default=None,
                   help=f"heatmap grid side as a multiple of the input side: 1 the input size, 0.5 half, 1.4 the "
                        f"authors' upsampling (default: {SCENE_GRID_SCALE} on MintScenes/* ids, where it detects more "
                        f"objects than half (docs/keypoint_quality.md, 'Ablations'); 0.5 elsewhere)")
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--feature-dim", type=int, default=8)
    p.add_argument("--norm", choices=["batch", "group", "none"], default="batch")
    p.add_argument("--batch-size", type=int, default=32, help="global batch of clips")
    p.add_argument("--clip-length", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--video-frames", type=int, default=120, help="held-out frames in the overlay video (0: none)")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume a checkpoint made with other hyperparameters (lr, batch, loss weights, ...) and "
                        "continue with this command's (the architecture can never change)")
    p.add_argument("--mint", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="further MintConfig fields, e.g. w_overlap=0 w_status=0 movement_weight=0 (the paper's "
                        "ablation without regularisers), kappa=0.5, entropy_window=5; values are JSON "
                        "(true/false/null, numbers, lists); recorded in the checkpoint's config")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = SCENE_STEPS if args.env.startswith("MintScenes/") else 1500
    if args.num_keypoints is None:
        args.num_keypoints = ALE_KEYPOINTS.get(args.env, DEFAULT_KEYPOINTS)
    if args.grid_scale is None and args.env.startswith("MintScenes/") and not any(
            item.startswith("grid_size=") for item in args.mint):
        args.grid_scale = SCENE_GRID_SCALE
    if args.grid_scale is not None and not args.grid_scale > 0:
        p.error(f"--grid-scale must be > 0, got {args.grid_scale}")
    out_given = args.out is not None
    args.out = args.out or f"runs/pretrain/{args.env.replace('/', '_')}-s{args.seed}"
    overrides, args.mint = args.mint, {}
    settings = PretrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainSettings)})
    check_settings(p, settings, out_given)
    try:
        settings.mint = config_overrides(overrides, settings.config(3, (settings.image_size or 64,) * 2), OWN_FLAGS,
                                         fixed="fixed by the env's frames")
    except ValueError as exc:
        p.error(str(exc))
    if settings.grid_scale is not None and "grid_size" in settings.mint:
        p.error("--grid-scale and --mint grid_size=... both set the heatmap grid; give one")
    return settings


def check_settings(p: argparse.ArgumentParser, s: PretrainSettings, out_given: bool = True) -> None:
    """Refuse a bad flag before any work: argparse's usage and one line naming it, exit status 2."""
    for name in ("frames", "num_envs", "steps", "checkpoint_every"):
        if getattr(s, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(s, name)}")
    if s.video_frames < 0:
        p.error(f"--video-frames must be >= 0, got {s.video_frames}")
    side = s.image_size or 64  # the env's frame size is not known yet: any valid size checks the other fields
    try:
        s.config(3, (side, side))
    except ConfigError as exc:  # "MintConfig.batch_size=0: ..." → "--batch-size=0: ..."
        p.error(re.sub(r"MintConfig\.(\w+)", lambda m: "--" + m.group(1).replace("_", "-"), str(exc)))
    if s.frames < s.num_envs * s.clip_length:
        p.error(f"--frames {s.frames} leaves fewer than --clip-length {s.clip_length} frames to each of the "
                f"--num-envs {s.num_envs} streams; give at least {s.num_envs * s.clip_length}")
    if out_given and any(q.exists() and not q.is_dir() for q in (Path(s.out), *Path(s.out).parents)):
        p.error(f"--out {s.out} is a file (or inside one); give a folder")
    try:
        resolve_device(s.device)
    except ValueError as exc:
        p.error(f"--device: {exc}")


def main(argv: list[str] | None = None) -> Path:
    settings = parse_args(argv)
    try:
        return pretrain_encoder(settings)
    except PretrainError as exc:
        raise SystemExit(str(exc)) from exc
    except ConfigError as exc:  # a --mint value that only the env's frame size rules out
        raise SystemExit(f"--mint {' '.join(f'{k}={v}' for k, v in settings.mint.items())}: {exc}") from exc


if __name__ == "__main__":
    flush_denormals_process_wide()  # before any torch work: its worker threads inherit it (mint_rl.utils)
    main()
