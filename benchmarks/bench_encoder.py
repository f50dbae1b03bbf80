"""Encoder benchmark: one MINT training step and encoder inference, time and peak memory.

    python benchmarks/bench_encoder.py                 # 64×64 and 84×84, CPU
    python benchmarks/bench_encoder.py --device cuda

Each case runs in its own subprocess so its peak resident memory (CPU) is its own; on
CUDA the peak is ``torch.cuda.max_memory_allocated``. The training step includes the
entropy of the clip frames (computed as in online co-training; offline pretraining caches
it in the frame buffer), the encoder forward/backward and the loss. Times are medians of
interleaved repetitions (this machine's speed drifts). A baseline row times a plain
NatureCNN forward on the same batch in the same process, so runs on different machines
compare as ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_case(kind: str, size: int, batch: int, device: str, reps: int, k: int, hidden: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from mint_rl.config import MintConfig
    from mint_rl.trainer import MintTrainer

    torch.manual_seed(0)
    dev = torch.device(device)
    cfg = MintConfig(num_keypoints=k, image_size=(size, size), hidden_channels=hidden, batch_size=batch)
    trainer = MintTrainer(cfg, device=dev)
    clips = torch.randint(0, 256, (batch, 3, 3, size, size), dtype=torch.uint8)
    frames = clips[:, 0].contiguous()
    nature = torch.nn.Sequential(  # SB3's NatureCNN body, as a fixed yardstick
        torch.nn.Conv2d(3, 32, 8, 4), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 4, 2), torch.nn.ReLU(),
        torch.nn.Conv2d(64, 64, 3, 1), torch.nn.ReLU(), torch.nn.Flatten()).to(dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def work():
        if kind == "train_step":
            trainer.step(clips)
        else:
            trainer.encoder.encode(frames.to(dev))

    def base():
        with torch.no_grad():
            nature(frames.to(dev).float() / 255)

    work(), base()  # warm-up (numba JIT, allocator)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, base_times = [], []
    for _ in range(reps):
        sync(); t = time.perf_counter(); work(); sync(); times.append(time.perf_counter() - t)
        sync(); t = time.perf_counter(); base(); sync(); base_times.append(time.perf_counter() - t)
    times.sort(), base_times.sort()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"ms": 1000 * times[len(times) // 2], "base_ms": 1000 * base_times[len(base_times) // 2],
            "peak_mb": peak, "rss_before_mb": before / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 84])
    p.add_argument("--num-keypoints", "-k", type=int, default=16)
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = p.parse_args()
    if args.case:
        kind, size, batch = args.case.split(":")
        print(json.dumps(run_case(kind, int(size), int(batch), args.device, args.reps, args.num_keypoints,
                                  args.hidden_channels, args.threads)))
        return
    cases = [("train_step", s, 32) for s in args.sizes] + [("inference", s, b) for s in args.sizes for b in (1, 64)]
    print(f"MINT encoder, K={args.num_keypoints}, hidden={args.hidden_channels}, device={args.device}, "
          f"torch threads {args.threads}, "
          f"median of {args.reps} interleaved repetitions")
    print(f"{'case':<28}{'ms':>10}{'frames/s':>12}{'NatureCNN fwd ms':>18}{'ratio':>8}{'peak MB':>10}")
    for kind, size, batch in cases:
        out = subprocess.run([sys.executable, __file__, "--case", f"{kind}:{size}:{batch}", "--device", args.device,
                              "--reps", str(args.reps), "-k", str(args.num_keypoints),
                              "--hidden-channels", str(args.hidden_channels), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        frames = batch * (3 if kind == "train_step" else 1)
        label = f"{kind} {size}x{size} b{batch}" + (" x3 frames" if kind == "train_step" else "")
        print(f"{label:<28}{r['ms']:>10.1f}{1000 * frames / r['ms']:>12.0f}{r['base_ms']:>18.1f}"
              f"{r['ms'] / r['base_ms']:>8.1f}{r['peak_mb']:>10.0f}")


if __name__ == "__main__":
    main()
