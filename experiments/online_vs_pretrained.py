"""Online co-training vs pretraining of a MINT encoder: keypoint quality at the same number of steps.

    python experiments/online_vs_pretrained.py                  # default budget (~10 min on one busy CPU core)
    python experiments/online_vs_pretrained.py --env MintScenes/Bouncing-v0 --seeds 5 --steps 1000

The question: does an encoder co-trained online by ``MintKeypointWrapper(online=True)``
reach keypoint metrics (DOP, TOP) within 10 % of an encoder pretrained offline with the
same number of gradient steps? For every seed ``s`` (0 .. ``--seeds`` − 1), two arms:

* **pretrained**: ``--frames`` frames of a random policy from env seed ``s`` (collected and
  cached by ``envs.keypoint_evaluation.training_frames``), a ``FrameBuffer`` of all of them, then
  ``MintTrainer.fit`` for ``--steps`` optimiser steps (resumable checkpoint).
* **online**: ``MintKeypointWrapper(gym.make(env), None, options=ObservationOptions(config=...),
  online=OnlineOptions(buffer_size=B, update_every=U, updates_per_round=M))`` stepped with random actions from
  env seed ``s`` (``reset()`` again after each episode end), until its encoder has done
  exactly ``--steps`` optimiser steps (the last round is shortened if ``--steps`` is not a
  multiple of M). The default U = frames × M / steps makes the online run step the env
  about ``--frames`` times, so both arms draw on the same frames.

Both arms use the same ``MintConfig`` as ``evaluate_keypoints``' default (64×64 RGB, K = 10,
conv width 16, BatchNorm, no features, batch 32 clips of 3 frames, Adam lr 1e-3) with
``seed = s``. Built with the same seed, the two encoders start from the same weights (the
initial-weight checksums are stored) and, the scene's random policy being passive, they
see the same frame stream (its hash is compared and stored): the only difference is
*when* each frame becomes available for training and which clips are sampled.

Both encoders are then scored on the same held-out episodes as ``evaluate_keypoints.py``
(``envs.keypoint_evaluation.held_out_episodes``: env seeds 10000, 10001, ..., disjoint from
the training seeds) with
``mint_rl.metrics.video_metrics`` (DOP, TOP, UAK, RAK, ...), episode metrics → mean per
seed → mean ± 95 % Student-t interval over seeds (``mint_rl.metrics.summarize``).
The relative difference online / pretrained − 1 is given two ways: of the means over seeds,
and per seed (paired: same seed, frames, initial weights and held-out episodes) with its
95 % interval. "Within 10 %" (``--tolerance``) for DOP and TOP (higher is better) means the
online encoder is at most 10 % worse: relative difference >= −0.10; the stricter reading
asks the lower end of the paired 95 % interval to be >= −0.10 too.

Outputs: ``--out`` (default ``runs/online_vs_pretrained``, git-ignored) holds the frame
caches and, per run, ``<arm>/seed<s>/encoder.pt`` and ``metrics.json`` (every held-out
episode's metrics); ``--results`` (default ``results/online``) the small files
``results.csv`` (one row per arm/seed/metric), ``summary.json`` and ``table.md``, rewritten
after every run (``agents.online_report``). Resuming: a finished (arm, seed) is skipped when
the command runs again; an interrupted pretrained run resumes from its checkpoint, an
interrupted online run starts that seed's online run again (the env cannot be restored
mid-episode). A folder written with another budget is refused (use another ``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.online_report import ARMS, seed_value, write_online_results
from envs.frame_hash import FrameHash
from envs.keypoint_evaluation import (  # also registers the MintScenes ids
    DEFAULT_BUDGET, DEFAULT_ENCODER, HELD_OUT_SEED, SCENES, encode, held_out_episodes, mean_area, training_frames)
from envs.wrappers import MintKeypointWrapper, ObservationOptions
from mint_rl.config import MintConfig
from mint_rl.metrics import video_metrics
from mint_rl.online import OnlineOptions
from mint_rl.trainer import MintTrainer
from mint_rl.utils import flush_denormals_process_wide, resolve_device, weight_checksum, write_json

DEFAULTS = argparse.Namespace(**DEFAULT_BUDGET, **DEFAULT_ENCODER)  # evaluate_keypoints' default budget and geometry


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DEFAULTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="MintScenes/Collisions-v0",
                   help=f"scene env id (ground truth needed): one of {', '.join(SCENES.values())}")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds 0..n-1 (default 3)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps of each arm (default {d.steps})")
    p.add_argument("--frames", type=int, default=d.frames,
                   help=f"pretrained: random-policy frames collected (default {d.frames})")
    p.add_argument("--updates-per-round", type=int, default=50, help="online: optimiser steps per round M (default 50)")
    p.add_argument("--update-every", type=int, default=None,
                   help="online: env steps between rounds U (default: frames × M / steps, rounded, so the online run "
                        "steps the env about --frames times)")
    p.add_argument("--buffer-size", type=int, default=10_000,
                   help="online: frames kept in the wrapper's bounded buffer (default 10000)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"clips per step (default {d.batch_size})")
    p.add_argument("--clip-length", type=int, default=d.clip_length, help=f"frames per clip (default {d.clip_length})")
    p.add_argument("--num-keypoints", "-k", type=int, default=d.num_keypoints, help=f"K (default {d.num_keypoints})")
    p.add_argument("--hidden-channels", type=int, default=d.hidden_channels,
                   help=f"conv width (default {d.hidden_channels})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes,
                   help=f"held-out episodes (default {d.eval_episodes})")
    p.add_argument("--eval-frames", type=int, default=d.eval_frames,
                   help=f"frames per held-out episode (default {d.eval_frames})")
    p.add_argument("--tolerance", type=float, default=0.10,
                   help="allowed relative shortfall of the online encoder on DOP and TOP (default 0.10)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="pretrained: checkpoint every this many steps")
    p.add_argument("--out", default="runs/online_vs_pretrained", help="work folder (caches, checkpoints, per-run metrics)")
    p.add_argument("--results", default="results/online", help="folder of the small result files (csv, json, md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    args = p.parse_args(argv)
    if args.env not in SCENES.values():
        p.error(f"--env must be a scene env with ground truth, one of {list(SCENES.values())}; got {args.env!r}")
    args.scene = args.env.split("/")[1].removesuffix("-v0")
    if not 1 <= args.seeds <= HELD_OUT_SEED:
        p.error(f"--seeds must be in [1, {HELD_OUT_SEED}] so training seeds stay disjoint from held-out seeds")
    for name in ("steps", "frames", "updates_per_round", "buffer_size", "batch_size", "eval_episodes",
                 "num_keypoints", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.clip_length < 2 or args.frames < args.clip_length or args.eval_frames < 2:
        p.error("--clip-length must be >= 2, --frames >= --clip-length and --eval-frames >= 2")
    if args.update_every is None:
        args.update_every = max(1, round(args.frames * args.updates_per_round / args.steps))
    if args.update_every < 1:
        p.error("--update-every must be >= 1")
    if not 0 < args.tolerance < 1:
        p.error("--tolerance must be in (0, 1)")
    return args


def make_config(args: argparse.Namespace, seed: int) -> MintConfig:
    """evaluate_keypoints' MintConfig (64×64 RGB, K keypoints, conv width, no features), seeded."""
    return MintConfig(num_keypoints=args.num_keypoints, image_size=(64, 64), hidden_channels=args.hidden_channels,
                      feature_dim=0, batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr, seed=seed)


def budgets(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """What each arm's results depend on; a finished run with another budget is refused."""
    common = {k: getattr(args, k) for k in ("env", "steps", "batch_size", "clip_length", "num_keypoints",
                                            "hidden_channels", "lr", "eval_episodes", "eval_frames")}
    return {"pretrained": dict(common, frames=args.frames),
            "online": dict(common, update_every=args.update_every, updates_per_round=args.updates_per_round,
                           buffer_size=args.buffer_size)}


# --------------------------------------------------------------------------- 2. the two arms and their evaluation
def train_pretrained(args: argparse.Namespace, seed: int, run_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """Random-policy frames → FrameBuffer → MintTrainer.fit for --steps steps (resumes)."""
    config = make_config(args, seed)
    t0 = time.time()
    frames, starts = training_frames(Path(args.out), args.scene, seed, args.frames)
    collect_seconds = time.time() - t0
    if frames.shape[1:] != (64, 64, 3):
        raise SystemExit(f"{args.env} renders {frames.shape[1:]} frames; this experiment needs 64×64 RGB")
    trainer = MintTrainer(config, device=device, checkpoint_path=run_dir / "encoder.pt")
    init = weight_checksum(trainer.encoder)
    trainer.maybe_resume()
    resumed_from = trainer.step_count
    buffer = trainer.frame_buffer(frames[None], starts[None])
    t0 = time.time()
    history = trainer.fit(buffer, args.steps, checkpoint_every=args.checkpoint_every, progress=not args.no_progress)
    info = {"collect_seconds": collect_seconds, "train_seconds": time.time() - t0, "resumed_from_step": resumed_from,
            "optimizer_steps": trainer.step_count, "frames": len(frames),
            "init_checksum": init, "frames_sha1": hashlib.sha1(np.ascontiguousarray(frames).tobytes()).hexdigest(),
            "final_loss": float(np.mean([h["loss/total"] for h in history[-20:]])) if history else None}
    trainer.close()
    return trainer.encoder, info


def train_online(args: argparse.Namespace, seed: int, run_dir: Path, device: torch.device,
                 pretrain_frames: np.ndarray) -> tuple[torch.nn.Module, dict]:
    """Step the co-training wrapper with random actions until its encoder has done --steps steps."""
    from tqdm.auto import tqdm

    config = make_config(args, seed)
    hashed = FrameHash(gym.make(args.env), prefix=len(pretrain_frames))
    env = MintKeypointWrapper(hashed, None, options=ObservationOptions(config=config, device=device),
                              online=OnlineOptions(buffer_size=args.buffer_size, update_every=args.update_every,
                                                   updates_per_round=args.updates_per_round))
    online = env.online_trainer
    init = weight_checksum(env.encoder)
    rounds_needed = math.ceil(args.steps / args.updates_per_round)
    max_env_steps = 2 * (args.update_every * rounds_needed + args.clip_length) + 100  # a guard, never reached
    bar = tqdm(total=args.steps, desc="online co-training", unit="step", disable=args.no_progress, dynamic_ncols=True)
    t0 = time.time()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    episodes = 1
    while online.trainer.step_count < args.steps:
        online.updates_per_round = min(args.updates_per_round, args.steps - online.trainer.step_count)
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if online.trainer.step_count > bar.n:
            bar.update(online.trainer.step_count - bar.n)
            if online.last_terms:
                bar.set_postfix(loss=f"{online.last_terms[-1]['loss/total']:.3f}", env_steps=online.env_steps)
        if terminated or truncated:
            env.reset()
            episodes += 1
        if online.env_steps > max_env_steps:
            raise RuntimeError(f"the online encoder did only {online.trainer.step_count} of {args.steps} steps in "
                               f"{online.env_steps} env steps")
    bar.close()
    seconds = time.time() - t0
    online.updates_per_round = args.updates_per_round
    env.save_online_state(run_dir / "encoder.pt", include_buffer=False)
    n = hashed.count
    info = {"train_seconds": seconds, "resumed_from_step": 0, "optimizer_steps": online.trainer.step_count,
            "env_steps": online.env_steps, "frames": online.env_steps + episodes, "episodes": episodes,
            "rounds": online.rounds, "buffer_frames": len(online.buffers[0]), "init_checksum": init,
            "frames_compared": n,
            "same_frames_as_pretrained": hashed.digest() == hashlib.sha1(
                np.ascontiguousarray(pretrain_frames[:n]).tobytes()).hexdigest(),
            "final_loss": float(np.mean([h["loss/total"] for h in online.last_terms])) if online.last_terms else None}
    encoder = env.encoder
    env.close()
    return encoder, info


def evaluate(args: argparse.Namespace, encoder: torch.nn.Module, device: torch.device) -> list[dict[str, float]]:
    """video_metrics of the encoder on every held-out episode (evaluate_keypoints' episodes)."""
    results = []
    for ep in held_out_episodes(Path(args.out), args.scene, args.eval_episodes, args.eval_frames):
        coords, status = encode(encoder, ep["frames"], device)
        results.append(video_metrics(coords, status, ep["masks"], ep["visible"], mean_area(args.scene),
                                     static=ep["static"]))
    return results


# --------------------------------------------------------------------------- 3. the experiment
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    b = budgets(args)
    online_env_steps = args.update_every * math.ceil(args.steps / args.updates_per_round)
    print(f"{args.env}: {args.seeds} seed(s), {args.steps} steps × {args.batch_size} clips per arm; pretrained on "
          f"{args.frames} frames; online: {args.updates_per_round} steps every {args.update_every} env steps "
          f"(≈ {online_env_steps} env steps), buffer {args.buffer_size}; held-out {args.eval_episodes} × "
          f"{args.eval_frames} frames; device {device}, {args.threads} thread(s); out {out}, results {args.results}",
          flush=True)
    from tqdm.auto import tqdm

    combos = [(seed, arm) for seed in range(args.seeds) for arm in ARMS]
    bar = tqdm(combos, desc="runs", unit="run", disable=args.no_progress, dynamic_ncols=True)
    ran, skipped = [], []
    for seed, arm in bar:
        bar.set_postfix_str(f"{arm} seed {seed}")
        run_dir = out / arm / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        metrics_path = run_dir / "metrics.json"
        if metrics_path.is_file():
            previous = json.loads(metrics_path.read_text())
            if previous["budget"] != b[arm]:
                raise SystemExit(f"{metrics_path} was written with another budget {previous['budget']}; this command "
                                 f"asks for {b[arm]}. Use another --out (or delete that folder).")
            skipped.append((arm, seed))
            continue
        if arm == "pretrained":
            encoder, info = train_pretrained(args, seed, run_dir, device)
        else:
            frames, _ = training_frames(out, args.scene, seed, args.frames)
            encoder, info = train_online(args, seed, run_dir, device, frames)
        t0 = time.time()
        episodes = evaluate(args, encoder, device)
        info["eval_seconds"] = time.time() - t0
        write_json(metrics_path, {"arm": arm, "env": args.env, "seed": seed, "budget": b[arm],
                                  "config": make_config(args, seed).to_dict(),
                                  "held_out_env_seeds": [HELD_OUT_SEED + i for i in range(len(episodes))],
                                  "run": info, "metric_names": list(episodes[0]), "episodes": episodes})
        ran.append((arm, seed))
        if args.no_progress:
            m = {k: seed_value({"episodes": episodes}, k) for k in ("DOP", "TOP", "UAK", "RAK")}
            print(f"{arm:10s} seed {seed}: {info['optimizer_steps']} steps, {info['frames']} frames, "
                  f"train {info['train_seconds']:.0f}s, " + ", ".join(f"{k}={v:.2f}" for k, v in m.items()), flush=True)
        write_online_results(out, Path(args.results), b, args.seeds, args.tolerance,
                             time.time() - t_start)  # results as they arrive
    bar.close()
    # Report: results.csv, summary.json and table.md over every finished run (agents.online_report).
    report = write_online_results(out, Path(args.results), b, args.seeds, args.tolerance, time.time() - t_start)
    wall = time.time() - t_start
    print()
    print(report["table"])
    print(f"\nwall time of this invocation: {wall:.0f} s ({len(ran)} run(s), {len(skipped)} skipped as finished); "
          f"results in {args.results}/results.csv, summary.json, table.md")
    report.update(wall_seconds=wall, ran=ran, skipped=skipped, out=out)
    return report


if __name__ == "__main__":
    flush_denormals_process_wide()  # before any torch work: its worker threads inherit it (mint_rl.utils)
    main()
