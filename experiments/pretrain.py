"""Pretrain a MINT keypoint encoder on frames of any Gymnasium env.

    python experiments/pretrain.py --env MintScenes/Collisions-v0
    python experiments/pretrain.py --env ALE/Pong-v5 --steps 3000
    torchrun --nproc-per-node 2 experiments/pretrain.py --env ALE/Pong-v5 --norm group

Steps, top to bottom: check the flags (a bad one stops here, before any work); lock the
output folder; collect frames with a random policy (cached in the output folder), fill a
frame buffer (entropy computed once per frame), train with ``MintTrainer`` (progress bar,
TensorBoard in ``<out>/tb``, atomic checkpoint ``<out>/encoder.pt`` every
``--checkpoint-every`` steps; rerunning the same command resumes from it), then write
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
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too

from envs.collect import collect_frames  # noqa: E402
from mint_rl.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from mint_rl.config import ConfigError, MintConfig  # noqa: E402
from mint_rl.data import FrameBuffer  # noqa: E402
from mint_rl.draw import draw_keypoints_batch, write_video  # noqa: E402
from mint_rl.frame_cache import frame_source, load_frames, save_frames, source_mismatch  # noqa: E402
from mint_rl.run_lock import locked_run_folder  # noqa: E402
from mint_rl.trainer import MintTrainer, is_main_process, make_entropy  # noqa: E402
from mint_rl.utils import atomic_write_text, differences, resolve_device  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="MintScenes/Collisions-v0", help="Gymnasium env id (ALE/* or MintScenes/*)")
    p.add_argument("--out", default=None, help="output folder (default: runs/pretrain/<env>-s<seed>)")
    p.add_argument("--frames", type=int, default=6000, help="frames to collect with a random policy")
    p.add_argument("--num-envs", type=int, default=4, help="parallel sub-environments for collection")
    p.add_argument("--async-envs", action="store_true", help="collect in worker processes")
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps")
    p.add_argument("--num-keypoints", "-k", type=int, default=16)
    p.add_argument("--image-size", type=int, default=None,
                   help="encoder input side (default: the env's frame size; ALE frames are preprocessed to it, "
                        "e.g. 64 for a faster encoder)")
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
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a bad flag before any work: argparse's usage and one line naming it, exit status 2."""
    for name in ("frames", "num_envs", "steps", "checkpoint_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.video_frames < 0:
        p.error(f"--video-frames must be >= 0, got {args.video_frames}")
    side = args.image_size or 64  # the env's frame size is not known yet: any valid size checks the other fields
    try:
        requested_config(args, 3, (side, side))
    except ConfigError as exc:  # "MintConfig.batch_size=0: ..." → "--batch-size=0: ..."
        p.error(re.sub(r"MintConfig\.(\w+)", lambda m: "--" + m.group(1).replace("_", "-"), str(exc)))
    if args.frames < args.num_envs * args.clip_length:
        p.error(f"--frames {args.frames} leaves fewer than --clip-length {args.clip_length} frames to each of the "
                f"--num-envs {args.num_envs} streams; give at least {args.num_envs * args.clip_length}")
    if args.out and any(q.exists() and not q.is_dir() for q in (Path(args.out), *Path(args.out).parents)):
        p.error(f"--out {args.out} is a file (or inside one); give a folder")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        p.error(f"--device: {exc}")


def requested_config(args: argparse.Namespace, channels: int, size: tuple[int, int]) -> MintConfig:
    """The encoder config the flags ask for, on frames of ``channels`` channels and ``size`` (H, W)."""
    return MintConfig(num_keypoints=args.num_keypoints, in_channels=channels, image_size=size,
                      hidden_channels=args.hidden_channels, feature_dim=args.feature_dim, norm=args.norm,
                      batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr, seed=args.seed)


def read_checkpoint(path: Path) -> dict | None:
    """The checkpoint a rerun resumes from (None if there is none); ``SystemExit`` if it cannot be read."""
    if not path.is_file():
        return None
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        raise SystemExit(f"cannot resume: {exc}. Use another --out, or delete {path} to start over.") from exc


def check_checkpoint_frames(checkpoint: dict, path: Path, source: dict) -> None:
    """``SystemExit`` when the checkpoint was trained on other frames than this command asks for."""
    extra = checkpoint.get("extra", {})
    recorded = extra.get("frame_source")
    problems = (source_mismatch(recorded, source) if recorded  # older checkpoints record the env id only
                else differences({"env_id": extra.get("env_id")}, source, ["env_id"]))
    if problems:
        raise SystemExit(f"{path} was trained on other frames than this command asks for ({'; '.join(problems)}; "
                         "checkpoint → this command). Rerun with the flags it was made with, or use another --out.")


def check_config_changes(recorded: MintConfig, requested: MintConfig, path: Path, allow: bool) -> list[str]:
    """The hyperparameters a resume changes (``"name: checkpoint → this command"``). ``SystemExit`` when it would
    change the architecture, or anything at all without ``--allow-config-change``."""
    old, new = recorded.to_dict(), requested.to_dict()
    architecture = differences(old, new, MintConfig.ARCHITECTURE_FIELDS)
    if architecture:
        raise SystemExit(f"{path} holds another architecture ({'; '.join(architecture)}; checkpoint → this "
                         "command): it cannot be resumed with these flags. Use another --out.")
    changes = differences(old, new, [k for k in old if k not in MintConfig.ARCHITECTURE_FIELDS and k != "extra"])
    if changes and not allow:
        raise SystemExit(f"{path} was trained with other hyperparameters ({'; '.join(changes)}; checkpoint → this "
                         "command). Rerun with the checkpoint's values, pass --allow-config-change to continue it "
                         "with the new ones, or use another --out.")
    return changes


def cached_or_collected_frames(args: argparse.Namespace, cache: Path, source: dict, env_kwargs: dict
                               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(frames, starts, record)``: the cache's frames when its record matches ``source`` (``SystemExit`` naming
    the difference when not), else new frames collected with a random policy and cached (rank 0)."""
    if cache.is_file():
        frames, starts, recorded = load_frames(cache)
        problems = source_mismatch(recorded, source)
        if problems:
            raise SystemExit(f"--out {cache.parent}: {cache.name} holds other frames than this command asks for "
                             f"({'; '.join(problems)}; cache → this command). Rerun with the flags that made it, use "
                             f"another --out, or delete {cache} (and the encoder.pt trained on it) to start over.")
        if recorded.get("given_by") and is_main_process():
            print(f"training on the {recorded['frames']} frames given in {cache} ({recorded['given_by']})")
        return frames, starts, recorded
    frames, starts = collect_frames(args.env, args.frames, seed=args.seed, num_envs=args.num_envs,
                                    vectorization_mode="async" if args.async_envs else "sync",
                                    progress=not args.no_progress and is_main_process(), **env_kwargs)
    if is_main_process():
        save_frames(cache, frames, starts, source)
    return frames, starts, source


def nothing_to_train(out: Path, step: int, steps: int) -> Path:
    """A rerun whose checkpoint is at ``--steps`` already: say so, write nothing; the checkpoint's path."""
    if is_main_process():
        print(f"nothing to train: the checkpoint in {out} is at step {step} and --steps is {steps}; no file was "
              "written (give a larger --steps to train on)")
    if dist.is_initialized():
        dist.destroy_process_group()
    return out / "encoder.pt"


def setup_distributed(device: torch.device) -> None:
    if "LOCAL_RANK" in os.environ and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    setup_distributed(device)
    out = Path(args.out or f"runs/pretrain/{args.env.replace('/', '_')}-s{args.seed}")
    with locked_run_folder(out):  # one process per folder; temporary files a killed run left are removed
        checkpoint_path = out / "encoder.pt"
        checkpoint = read_checkpoint(checkpoint_path)

        # 1. Frames: collected once, cached with their record (same seed → same frames in every process). ALE
        #    frames are preprocessed at the encoder's size (--image-size); other envs give their own size.
        env_kwargs = {"screen_size": args.image_size} if args.env.startswith("ALE/") and args.image_size else {}
        source = frame_source(args.env, args.frames, args.seed, args.num_envs, env_kwargs)
        if checkpoint is not None:
            check_checkpoint_frames(checkpoint, checkpoint_path, source)
        cache = out / "frames.npz"
        frames, starts, source = cached_or_collected_frames(args, cache, source, env_kwargs)
        height, width, channels = frames.shape[-3:]
        side = args.image_size or height
        if (height, width) != (side, side):
            raise SystemExit(f"--image-size {side} differs from the env's frames {height}x{width} (in {cache} or "
                             f"from {args.env}); only ALE frames are resized when collected, other envs must give "
                             "frames of the encoder's size (or use another --out than a cache of other frames)")

        # 2. Config, buffer (entropy computed once per frame), trainer (resumes if a checkpoint exists, with the
        #    same config, or with new hyperparameters under --allow-config-change).
        config = requested_config(args, channels, (height, width))
        changes = (check_config_changes(checkpoint["config"], config, checkpoint_path, args.allow_config_change)
                   if checkpoint is not None else [])
        if checkpoint is not None and checkpoint["step"] >= args.steps:
            return nothing_to_train(out, checkpoint["step"], args.steps)
        buffer = FrameBuffer(frames.shape[0] * frames.shape[1], (channels, height, width), config.grid_size,
                             make_entropy(config))
        for stream, stream_starts in zip(frames, starts):
            buffer.add_stream(stream, stream_starts)
        trainer = MintTrainer(config, device=device, log_dir=str(out / "tb"), checkpoint_path=checkpoint_path)
        resumed = trainer.maybe_resume()
        start = trainer.step_count
        if resumed:
            for group in trainer.optimizer.param_groups:  # the restored optimiser keeps the checkpoint's values
                group.update(lr=config.lr, weight_decay=config.weight_decay)
            if is_main_process():
                print(f"resumed from {checkpoint_path} at step {start}"
                      + (f" with changed hyperparameters: {'; '.join(changes)}" if changes else ""))
        extra = {"frame_source": source, "env_id": args.env, "frames": int(frames.shape[0] * frames.shape[1]),
                 "collect_seed": args.seed}
        t0 = time.time()
        history = trainer.fit(buffer, args.steps, checkpoint_every=args.checkpoint_every,
                              progress=not args.no_progress, extra_state=extra)
        elapsed = time.time() - t0
        trainer.close()

        # 3. Outputs (rank 0): config, summary, overlay video and still on held-out frames.
        if is_main_process():
            atomic_write_text(out / "config.json", config.to_json())
            summary = {"env_id": args.env, "steps": trainer.step_count, "resumed_from_step": start or None,
                       "steps_this_run": trainer.step_count - start, "train_seconds": elapsed,
                       "config_changes_at_resume": changes, "frame_source": source,
                       "world_size": trainer.world_size, "final_terms": history[-1] if history else None}
            atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
            if args.video_frames > 0:
                held_out, _ = collect_frames(args.env, args.video_frames, seed=args.seed + 10_000, num_envs=1,
                                             progress=False, **env_kwargs)
                clip = held_out[0]
                kp = trainer.encoder.encode(torch.from_numpy(clip).permute(0, 3, 1, 2).to(device))
                overlays = draw_keypoints_batch(clip if channels == 3 else np.repeat(clip, 3, -1),
                                                kp.coords.cpu().numpy(), kp.status.cpu().numpy(), scale=4)
                write_video(list(overlays), out / "keypoints.mp4", fps=15)
                import cv2

                still = overlays[np.linspace(len(overlays) // 3, len(overlays) - 1, 4).astype(int)]
                cv2.imwrite(str(out / "keypoints.png"), cv2.cvtColor(np.concatenate(list(still), axis=1),
                                                                     cv2.COLOR_RGB2BGR))
            print(f"encoder: {checkpoint_path}  ({trainer.step_count} steps, {trainer.step_count - start} in "
                  f"{elapsed:.0f}s this run)")
            if history:
                print("final: " + ", ".join(f"{k}={v:.3f}" for k, v in history[-1].items()))
    if dist.is_initialized():
        dist.destroy_process_group()
    return checkpoint_path


if __name__ == "__main__":
    main()
