"""Pretraining throughput with 1 and N DistributedDataParallel processes (gloo on CPU).

    python benchmarks/bench_pretrain_ddp.py                 # 1 vs 2 processes, 64×64 frames
    python benchmarks/bench_pretrain_ddp.py --procs 1 2 4 --device cuda

Every process count trains the same global batch (``--batch-size`` clips of 3 frames) for
``--steps`` optimiser steps on the same generated frames, one torch thread per process, and
the table gives clips/s and the speed-up over one process. The frame buffer and its entropy
are built before timing. Group norm, as DDP on CPU requires (see ``mint_rl.trainer``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _setup(args: argparse.Namespace):
    import gymnasium as gym

    import envs  # noqa: F401
    from mint_rl.config import MintConfig
    from mint_rl.data import FrameBuffer
    from mint_rl.trainer import make_entropy

    env = gym.make("MintScenes/Collisions-v0")
    obs, _ = env.reset(seed=0)
    frames = [obs]
    for _ in range(399):
        obs, *_ = env.step(0)
        frames.append(obs)
    cfg = MintConfig(num_keypoints=16, image_size=obs.shape[:2], norm="group", batch_size=args.batch_size)
    buffer = FrameBuffer(len(frames), (3, *obs.shape[:2]), cfg.grid_size, make_entropy(cfg))
    buffer.add(torch.from_numpy(__import__("numpy").stack(frames)), new_episode=True)
    return cfg, buffer


def _worker(rank: int, world: int, init_file: str, args: argparse.Namespace, result_file: str) -> None:
    torch.set_num_threads(1)
    backend = "nccl" if args.device.startswith("cuda") else "gloo"
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    from mint_rl.trainer import MintTrainer

    cfg, buffer = _setup(args)
    device = f"cuda:{rank}" if args.device.startswith("cuda") else "cpu"
    trainer = MintTrainer(cfg, device=device)
    trainer.fit(buffer, 2, progress=False)  # warm-up (JIT, allocator, DDP buckets)
    dist.barrier()
    start = time.perf_counter()
    trainer.fit(buffer, 2 + args.steps, progress=False)
    dist.barrier()
    elapsed = time.perf_counter() - start
    if rank == 0:
        Path(result_file).write_text(str(elapsed))
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32, help="global batch of clips")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    rows = []
    for n in args.procs:
        with tempfile.TemporaryDirectory() as tmp:
            result = os.path.join(tmp, "t")
            mp.spawn(_worker, args=(n, os.path.join(tmp, "init"), args, result), nprocs=n, join=True)
            elapsed = float(Path(result).read_text())
        rows.append((n, args.steps * args.batch_size / elapsed))
    base = rows[0][1]
    print(f"MINT pretraining, global batch {args.batch_size} clips × 3 frames, 64×64, K=16, group norm, "
          f"{args.steps} steps, device {args.device}")
    print(f"{'processes':>10}{'clips/s':>10}{'speed-up':>10}")
    for n, rate in rows:
        print(f"{n:>10}{rate:>10.1f}{rate / base:>10.2f}")


if __name__ == "__main__":
    main()
