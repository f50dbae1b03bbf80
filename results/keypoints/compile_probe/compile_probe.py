"""Throw-away probe (issue 14, eighteenth session): does ``torch.compile`` make the MINT training step faster on CPU?

Two :class:`~mint_rl.trainer.MintTrainer` with the same seed (K = 16, hidden 16, 32 clips of 3 frames, one torch
thread), one eager and one with part of its step compiled, take turns on the same 4 random clip batches, so both see
the same machine load; prints the compile time, the median step time of each and the median ratio of 12 pairs, and
how far the compiled trainer's loss and parameters drift from the eager one's.

    python results/keypoints/compile_probe/compile_probe.py SIZE PART     # PART: backbone | encoder | loss | both

``backbone`` compiles ``encoder.backbone`` (the conv stack), ``encoder`` the whole encoder module, ``loss`` the MINT
loss, ``both`` the encoder and the loss (default inductor backend, ``dynamic=False``).
"""

import statistics
import sys
import time

import torch

from mint_rl.config import MintConfig
from mint_rl.trainer import MintTrainer

torch.set_num_threads(1)
size = int(sys.argv[1]) if len(sys.argv) > 1 else 84
part = sys.argv[2] if len(sys.argv) > 2 else "backbone"
cfg = MintConfig(num_keypoints=16, image_size=(size, size), hidden_channels=16, batch_size=32)
torch.manual_seed(0)
eager = MintTrainer(cfg, device="cpu")
torch.manual_seed(0)
compiled = MintTrainer(cfg, device="cpu")
g = torch.Generator().manual_seed(1)
clips = [torch.randint(0, 256, (32, 3, 3, size, size), dtype=torch.uint8, generator=g) for _ in range(4)]
entropy = [eager.compute_entropy(c) for c in clips]
t0 = time.perf_counter()
if part == "backbone":
    compiled.encoder.backbone = torch.compile(compiled.encoder.backbone, dynamic=False)
if part in ("encoder", "both"):
    compiled._model = torch.compile(compiled.encoder, dynamic=False)
if part in ("loss", "both"):
    compiled.loss_fn = torch.compile(compiled.loss_fn, dynamic=False)
a, b = eager.step(clips[0], entropy[0]), compiled.step(clips[0], entropy[0])
print(f"{size}x{size}, compiled part: {part}; compile + first step {time.perf_counter() - t0:.0f} s; first loss "
      f"eager {a['loss/total']:.6f} compiled {b['loss/total']:.6f}", flush=True)
times_a, times_b = [], []
for i in range(12):
    t = time.perf_counter(); a = eager.step(clips[i % 4], entropy[i % 4]); times_a.append(time.perf_counter() - t)
    t = time.perf_counter(); b = compiled.step(clips[i % 4], entropy[i % 4]); times_b.append(time.perf_counter() - t)
ratio = statistics.median(x / y for x, y in zip(times_a, times_b))
print(f"step eager {statistics.median(times_a) * 1e3:.1f} ms, compiled {statistics.median(times_b) * 1e3:.1f} ms; "
      f"speed-up (median of 12 pairs) {ratio:.2f}x")
print(f"after 13 steps: loss eager {a['loss/total']:.6f} compiled {b['loss/total']:.6f}; largest parameter "
      f"difference {max(float((p - q).abs().max()) for p, q in zip(eager.encoder.parameters(), compiled.encoder.parameters())):.2e}")
