"""Paired A/B of one MINT training step: two versions of mint_rl, timed step by step in turn.

    python benchmarks/bench_step_ab.py --before HEAD           # a git ref (exported to a temp dir)
    python benchmarks/bench_step_ab.py --before /path/to/old/checkout --reps 21 --sizes 84
    python benchmarks/bench_step_ab.py --encoder ENC.pt --frames FRAMES.npz   # a trained encoder on its frames

On a machine whose speed drifts (shared cores), two runs of ``bench_encoder.py`` minutes apart
do not compare well. Here each version runs in its own long-lived process (its own imports,
one torch thread), and the two take turns, one training step each (the same step as
``bench_encoder.py``: 32 clips × 3 frames, entropy included, K = 16), alternating which goes
first, each followed by the NatureCNN yardstick forward. It prints the medians and the median
of the per-pair ratios before/after.

By default both versions train a fresh encoder (seed 0) on uniform-noise clips, as ``bench_encoder.py`` does. A
trained encoder costs more per step than a fresh one where its soft-argmax temperature has shrunk (denormal floats,
``mint_rl.utils.flush_denormals``): ``--encoder`` starts both versions from that checkpoint (its geometry replaces
``--sizes``) and ``--frames`` (a frame cache, ``mint_rl.frame_cache``) gives the clips, one fixed batch of the
checkpoint's batch size sampled with seed 0 (:func:`trained_setup`; it uses only what every version of mint_rl has
had, so ``--before`` may be any earlier commit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def worker(size: int, encoder: str | None = None, frames_path: str | None = None, threads: int = 1) -> None:
    """Answer ``step`` / ``base`` / ``peak`` on stdin with milliseconds (or MB) on stdout."""
    import torch

    torch.set_num_threads(threads)
    from mint_rl.config import MintConfig
    from mint_rl.trainer import MintTrainer

    torch.manual_seed(0)
    if encoder is None:
        trainer = MintTrainer(MintConfig(num_keypoints=16, image_size=(size, size), hidden_channels=16, batch_size=32))
        clips = torch.randint(0, 256, (32, 3, 3, size, size), dtype=torch.uint8)
    else:
        try:
            trainer, clips = trained_setup(encoder, frames_path)
        except ValueError as exc:  # the parent then says the worker did not start
            print(f"bench_step_ab: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)
    frames = clips[:, 0].contiguous()
    nature = torch.nn.Sequential(  # SB3's NatureCNN body, as in bench_encoder.py
        torch.nn.Conv2d(frames.shape[1], 32, 8, 4), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 4, 2), torch.nn.ReLU(),
        torch.nn.Conv2d(64, 64, 3, 1), torch.nn.ReLU(), torch.nn.Flatten())

    def base() -> None:
        with torch.no_grad():
            nature(frames.float() / 255)

    trainer.step(clips), base()  # warm-up (numba JIT, allocator)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "peak":
            print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), flush=True)
            continue
        if cmd not in ("step", "base"):
            break
        t = time.perf_counter()
        trainer.step(clips) if cmd == "step" else base()
        print(json.dumps(1000 * (time.perf_counter() - t)), flush=True)


def clip_starts(starts: np.ndarray, length: int) -> np.ndarray:
    """``(M, 2)`` (stream, index) of every clip of ``length`` consecutive frames inside one episode, given
    ``starts (S, N)`` (True where a frame begins an episode)."""
    s, n = starts.shape
    if n < length:
        return np.zeros((0, 2), dtype=int)
    # a clip at i is valid when no episode begins at i + 1 … i + length − 1
    # (S, N − length + 1, length − 1): the starts after each candidate's first frame
    inside = np.lib.stride_tricks.sliding_window_view(starts[:, 1:], length - 1, axis=1)
    return np.argwhere(~inside.any(-1))


def trained_setup(encoder: str, frames_path: str) -> tuple[Any, Any]:
    """A ``MintTrainer`` around the checkpoint's encoder and one ``(B, T, C, H, W)`` uint8 batch of its clips, built
    only from what every version of mint_rl has had (a ``MintConfig`` dataclass, ``KeypointEncoder``,
    ``MintTrainer``), so older versions time the same step.

    :param encoder: a MINT checkpoint; its config fields this version lacks must be off (False, None, 0).
    :param frames_path: a frame cache (``frames`` ``(S, N, H, W, C)``, ``starts`` ``(S, N)``); the batch is the
        checkpoint's batch size of clips of its clip length, drawn with seed 0 among the clips inside one episode
        (the step computes their entropy, as in the fresh-encoder case).
    :raises ValueError: a config field this version lacks is set, or no episode holds a whole clip.
    """
    from dataclasses import fields

    import torch

    from mint_rl.config import MintConfig
    from mint_rl.encoder import KeypointEncoder
    from mint_rl.trainer import MintTrainer

    ckpt = torch.load(encoder, map_location="cpu", weights_only=False)
    raw = dict(ckpt["config"])
    known = {f.name for f in fields(MintConfig)}
    unknown = {k: raw.pop(k) for k in list(raw) if k not in known}
    if any(v not in (False, None, 0) for v in unknown.values()):
        raise ValueError(f"this version of mint_rl has no config fields {unknown}, which the checkpoint sets")
    cfg = MintConfig(**raw)
    enc = KeypointEncoder(cfg)
    enc.load_state_dict(ckpt["encoder"])
    with np.load(frames_path) as cache:
        streams, starts = cache["frames"], cache["starts"]
    candidates = clip_starts(starts, cfg.clip_length)
    if not len(candidates):
        raise ValueError(f"{frames_path}: no episode holds {cfg.clip_length} consecutive frames (the checkpoint's "
                         "clip length)")
    picked = candidates[np.random.default_rng(0).integers(len(candidates), size=cfg.batch_size)]
    clips = np.stack([streams[s, i:i + cfg.clip_length] for s, i in picked])
    return MintTrainer(cfg, encoder=enc), torch.from_numpy(clips).permute(0, 1, 4, 2, 3).contiguous()


def source_tree(spec: str, tmp: str) -> Path:
    """A directory holding mint_rl: ``spec`` itself, or the git ref ``spec`` exported into ``tmp``."""
    if Path(spec).is_dir():
        return Path(spec).resolve()
    out = Path(tmp) / "before"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", spec], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def compare(size: int, trees: dict[str, Path], reps: int, trained: list[str] | None = None, threads: int = 1) -> None:
    """Time ``reps`` interleaved pairs of steps at ``size`` (or of the trained encoder: ``trained`` = [checkpoint,
    frame cache], absolute paths) and print the medians and the per-pair speed-up."""
    label = "trained" if trained else f"{size}x{size}"
    procs = {}
    for name, tree in trees.items():
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(tree))
        extra = (["--encoder", trained[0], "--frames", trained[1]] if trained else []) + ["--threads", str(threads)]
        procs[name] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(size), *extra],
                                       cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if procs[name].stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {name} worker ({tree}) did not start")

    def ask(name: str, cmd: str) -> float:
        procs[name].stdin.write(cmd + "\n")
        procs[name].stdin.flush()
        return json.loads(procs[name].stdout.readline())

    times = {(n, c): [] for n in trees for c in ("step", "base")}
    for r in range(reps):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            times[(name, "step")].append(ask(name, "step"))
            times[(name, "base")].append(ask(name, "base"))
    peaks = {name: ask(name, "peak") for name in trees}
    for p in procs.values():
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait()
    for name in trees:
        step, base = times[(name, "step")], times[(name, "base")]
        ratio = statistics.median(s / b for s, b in zip(step, base))
        print(f"{label} {name:<6}  step {statistics.median(step):7.1f} ms (min {min(step):6.1f})  "
              f"NatureCNN fwd {statistics.median(base):5.1f} ms  ratio {ratio:5.1f}  peak RSS {peaks[name]:5.0f} MB")
    gain = [b / a for b, a in zip(times[("before", "step")], times[("after", "step")])]
    q = statistics.quantiles(gain, n=4)
    print(f"{label} speed-up before/after: median of {reps} pairs {statistics.median(gain):.2f}x "
          f"(quartiles {q[0]:.2f}-{q[2]:.2f})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="HEAD", help="a directory holding mint_rl, or a git ref (default HEAD)")
    p.add_argument("--after", default=str(ROOT), help="a directory holding mint_rl (default: this checkout)")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 84])
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--encoder", help="a trained MINT checkpoint both versions start from (with --frames)")
    p.add_argument("--frames", help="the frame cache (frames.npz) the clips of --encoder come from")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads of each version's process (they take turns)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # internal: run one version's worker
    args = p.parse_args()
    if args.worker is not None:
        worker(args.worker, args.encoder, args.frames, args.threads)
        return
    if args.reps < 2:
        p.error(f"--reps {args.reps}: give 2 or more (the speed-up's quartiles need two pairs)")
    if args.threads < 1:
        p.error(f"--threads {args.threads}: give 1 or more")
    if (args.encoder is None) != (args.frames is None):
        p.error("--encoder and --frames go together: a trained checkpoint and the frame cache its clips come from")
    trained = None
    if args.encoder:
        for flag, path in (("--encoder", args.encoder), ("--frames", args.frames)):
            if not Path(path).is_file():
                p.error(f"{flag} {path}: no such file")
        trained = [str(Path(args.encoder).resolve()), str(Path(args.frames).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": source_tree(args.before, tmp), "after": source_tree(args.after, tmp)}
        what = (f"trained encoder {args.encoder} on clips of {args.frames}" if trained
                else "fresh encoder, K=16, 32 clips x 3 frames")
        print(f"MINT training step, {what}, torch threads {args.threads}, {args.reps} interleaved pairs; "
              f"before = {args.before}, after = {args.after}")
        for size in ([0] if trained else args.sizes):
            compare(size, trees, args.reps, trained, args.threads)


if __name__ == "__main__":
    main()
