"""Throughput of the local entropy (MINT_METHOD §1): ours vs the numpy reference vs skimage.

Frames/s on batches of RGB frames (gradient background, flat shapes, noise:
``mint_rl.entropy_reference.scene_frames``) at 64×64 and 84×84, window 3×3:

* ours, ``backend="numba"`` and ``backend="torch"``, local-contrast preprocessing included;
* the numpy reference ``mint_rl.entropy_reference.reference_local_entropy`` (dense one-hot
  histograms; the one ``tests/test_entropy.py`` checks against), same work, timed on a subset
  of the batch because it is slow;
* ``skimage.filters.rank.entropy`` with a 3×3 footprint on the grey versions of the same
  frames, one frame at a time (one channel, no preprocessing: a third of the samples).

Repetitions of the methods are interleaved (machine speed drifts) and medians reported;
every method runs once before timing (numba JIT, caches). Example::

    python benchmarks/bench_entropy.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numba
import numpy as np
import torch

from mint_rl.entropy import local_entropy
from mint_rl.entropy_reference import reference_local_entropy, scene_frames


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="frames per batch (default 64)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 84], help="square frame sizes (default 64 84)")
    parser.add_argument("--window", type=int, default=3, help="odd window size R (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions, median reported (default 5)")
    parser.add_argument("--ref-frames", type=int, default=4, help="frames timed for the numpy reference (default 4)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's default)")
    parser.add_argument("--skip-torch", action="store_true", help="skip the torch backend (slow on CPU)")
    return parser.parse_args()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    from skimage.filters.rank import entropy as sk_entropy

    footprint = np.ones((args.window, args.window), dtype=bool)
    rows: dict[str, dict[int, float]] = {}
    for size in args.sizes:
        frames_np = scene_frames(args.batch, 3, size, size, seed=size)
        frames = torch.from_numpy(frames_np)
        # ITU-R 601 luma, as skimage.color.rgb2gray, rounded back to uint8
        grey = np.round(np.tensordot(np.array([0.2125, 0.7154, 0.0721]), frames_np, axes=([0], [1])))
        grey = grey.astype(np.uint8)
        ref_frames = frames_np[: args.ref_frames]

        methods: dict[str, tuple[Callable[[], object], int]] = {
            "ours numba (RGB, contrast)": (lambda: local_entropy(frames, args.window, backend="numba"), args.batch),
            "ours torch (RGB, contrast)": (lambda: local_entropy(frames, args.window, backend="torch"), args.batch),
            "numpy reference (RGB, contrast)": (
                lambda: reference_local_entropy(ref_frames, args.window, preprocess=True),
                len(ref_frames),
            ),
            "skimage rank.entropy (grey)": (lambda: [sk_entropy(g, footprint) for g in grey], args.batch),
        }
        if args.skip_torch:
            del methods["ours torch (RGB, contrast)"]
        for fn, _ in methods.values():  # warm-up: JIT compilation, allocator, caches
            fn()
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.repeats):
            for name, (fn, _) in methods.items():
                times[name].append(timed(fn))
        for name, (_, n_frames) in methods.items():
            rows.setdefault(name, {})[size] = n_frames / statistics.median(times[name])

    sk = "skimage rank.entropy (grey)"
    ratio_row = {size: rows["ours numba (RGB, contrast)"][size] / rows[sk][size] for size in args.sizes}

    print(
        f"local entropy, window {args.window}x{args.window}, batch {args.batch}, "
        f"median of {args.repeats} interleaved repeats, numba threads {numba.get_num_threads()}, "
        f"torch threads {torch.get_num_threads()}"
    )
    header = f"{'method':<36}" + "".join(f"{f'{s}x{s} frames/s':>18}" for s in args.sizes)
    print(header)
    print("-" * len(header))
    for name, by_size in rows.items():
        print(f"{name:<36}" + "".join(f"{by_size[s]:>18,.0f}" for s in args.sizes))
    print(f"{'ratio ours numba / skimage':<36}" + "".join(f"{ratio_row[s]:>18.1f}" for s in args.sizes))
    print(
        f"(numpy reference timed on {args.ref_frames} frames per repeat; skimage does one grey "
        "channel without preprocessing, a third of our samples)"
    )


if __name__ == "__main__":
    main()
