"""DistributedDataParallel pretraining: 2 CPU processes (gloo) equal 1 process with the same global batch."""

import gc

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STEPS = 4


def _setup(size=32):
    from mint_rl.config import MintConfig
    from mint_rl.data import FrameBuffer
    from mint_rl.trainer import make_entropy
    from tests.shapes import moving_shapes

    frames, _, _ = moving_shapes(4, 20, size=size, seed=0)
    # group norm: BatchNorm statistics would differ per process (SyncBatchNorm is CUDA-only)
    cfg = MintConfig(num_keypoints=4, image_size=(size, size), hidden_channels=8, feature_dim=2, batch_size=8,
                     norm="group", seed=3)
    buf = FrameBuffer(80, (3, size, size), cfg.grid_size, make_entropy(cfg))
    for e in range(4):
        buf.add(frames[e], new_episode=True)
    return cfg, buf


def _worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from mint_rl.trainer import MintTrainer

    cfg, buf = _setup()
    trainer = MintTrainer(cfg)
    trainer.fit(buf, STEPS, progress=False)
    if rank == 0:
        torch.save({k: v.clone() for k, v in trainer.encoder.state_dict().items()}, out_file)
    dist.barrier()
    del trainer  # free the DDP reducer before its gloo group (envs.pretraining does the same)
    gc.collect()
    dist.destroy_process_group()


def test_two_processes_match_one_process(tmp_path):
    from mint_rl.trainer import MintTrainer

    torch.set_num_threads(1)
    cfg, buf = _setup()
    single = MintTrainer(cfg)
    single.fit(buf, STEPS, progress=False)

    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    # Same update up to float reduction order. Adam divides by sqrt(v), which turns reduction
    # noise on near-zero gradient entries into up-to-lr steps, so compare the parameters in
    # bulk (relative L2) and the keypoints the two encoders produce, not entry by entry.
    num = sum(float(((v - ddp[n]) ** 2).sum()) for n, v in single.encoder.state_dict().items() if v.is_floating_point())
    den = sum(float((v ** 2).sum()) for v in single.encoder.state_dict().values() if v.is_floating_point())
    assert (num / den) ** 0.5 < 1e-3, (num / den) ** 0.5
    twin = MintTrainer(cfg).encoder
    twin.load_state_dict(ddp)
    frames = buf.frames[:16]
    a, b = single.encoder.encode(frames), twin.encode(frames)
    assert float((a.coords - b.coords).abs().max()) < 2e-3
    assert float((a.status - b.status).abs().max()) < 2e-3
    # and the update is not trivially zero
    fresh = MintTrainer(cfg).encoder.state_dict()
    moved = max(float((fresh[n] - v).abs().max()) for n, v in ddp.items() if v.is_floating_point())
    assert moved > 1e-3
