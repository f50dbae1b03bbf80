"""Pretrain a MINT keypoint encoder on frames of any Gymnasium env.

    python experiments/pretrain.py --env MintScenes/Collisions-v0
    python experiments/pretrain.py --env ALE/Pong-v5 --steps 3000
    torchrun --nproc-per-node 2 experiments/pretrain.py --env ALE/Pong-v5 --norm group

Steps, top to bottom: collect frames with a random policy (cached in the output folder),
fill a frame buffer (entropy computed once per frame), train with ``MintTrainer``
(progress bar, TensorBoard in ``<out>/tb``, atomic checkpoint ``<out>/encoder.pt`` every
``--checkpoint-every`` steps; rerunning the same command resumes from it), then write
``config.json``, a keypoint-overlay video and a still on held-out frames (another seed).

Under ``torchrun`` each process collects the same frames (same seed) and trains on its
shard of the same global batch with DistributedDataParallel (gloo on CPU, nccl on CUDA);
use ``--norm group`` (or ``none``): BatchNorm statistics would differ per process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too

from envs.collect import collect_frames  # noqa: E402
from mint_rl.config import MintConfig  # noqa: E402
from mint_rl.data import FrameBuffer  # noqa: E402
from mint_rl.draw import draw_keypoints_batch, write_video  # noqa: E402
from mint_rl.trainer import MintTrainer, is_main_process, make_entropy  # noqa: E402
from mint_rl.utils import resolve_device  # noqa: E402


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
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


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
    out.mkdir(parents=True, exist_ok=True)

    # 1. Frames: collected once, cached (same seed → same frames in every process). ALE frames are preprocessed
    #    at the encoder's size (--image-size); other envs give their own size.
    env_kwargs = {"screen_size": args.image_size} if args.env.startswith("ALE/") and args.image_size else {}
    cache = out / "frames.npz"
    if cache.is_file():
        data = np.load(cache)
        frames, starts = data["frames"], data["starts"]
    else:
        frames, starts = collect_frames(args.env, args.frames, seed=args.seed, num_envs=args.num_envs,
                                        vectorization_mode="async" if args.async_envs else "sync",
                                        progress=not args.no_progress and is_main_process(), **env_kwargs)
        if is_main_process():
            tmp = out / "frames.tmp.npz"
            np.savez_compressed(tmp, frames=frames, starts=starts)
            os.replace(tmp, cache)
    height, width, channels = frames.shape[-3:]
    side = args.image_size or height
    if (height, width) != (side, side):
        raise SystemExit(f"--image-size {side} differs from the env's frames {height}x{width} (in {cache} or from "
                         f"{args.env}); only ALE frames are resized when collected, other envs must give frames of "
                         "the encoder's size (or use another --out than a cache of other frames)")

    # 2. Config, buffer (entropy computed once per frame), trainer (resumes if a checkpoint exists).
    config = MintConfig(num_keypoints=args.num_keypoints, in_channels=channels, image_size=(height, width),
                        hidden_channels=args.hidden_channels, feature_dim=args.feature_dim, norm=args.norm,
                        batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr, seed=args.seed)
    buffer = FrameBuffer(frames.shape[0] * frames.shape[1], (channels, height, width), config.grid_size,
                         make_entropy(config))
    for stream, stream_starts in zip(frames, starts):
        buffer.add_stream(stream, stream_starts)
    trainer = MintTrainer(config, device=device, log_dir=str(out / "tb"), checkpoint_path=out / "encoder.pt")
    if trainer.maybe_resume() and is_main_process():
        print(f"resumed from {out / 'encoder.pt'} at step {trainer.step_count}")
    extra = {"env_id": args.env, "frames": int(frames.shape[0] * frames.shape[1]), "collect_seed": args.seed}
    t0 = time.time()
    history = trainer.fit(buffer, args.steps, checkpoint_every=args.checkpoint_every,
                          progress=not args.no_progress, extra_state=extra)
    elapsed = time.time() - t0
    trainer.close()

    # 3. Outputs (rank 0): config, summary, overlay video and still on held-out frames.
    if is_main_process():
        (out / "config.json").write_text(config.to_json())
        summary = {"env_id": args.env, "steps": trainer.step_count, "train_seconds": elapsed,
                   "world_size": trainer.world_size, "final_terms": history[-1] if history else None}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
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
        print(f"encoder: {out / 'encoder.pt'}  ({trainer.step_count} steps, {elapsed:.0f}s this run)")
        if history:
            print("final: " + ", ".join(f"{k}={v:.3f}" for k, v in history[-1].items()))
    if dist.is_initialized():
        dist.destroy_process_group()
    return out / "encoder.pt"


if __name__ == "__main__":
    main()
