"""Keypoint quality of MINT vs the Transporter on the synthetic object scenes (MINT_METHOD §5).

    python experiments/evaluate_keypoints.py                      # default budget (~20-30 min, 2 CPU cores)
    python experiments/evaluate_keypoints.py --full --device auto # the README budget (GPU advised)
    python experiments/evaluate_keypoints.py --scenes EnterLeave --encoders mint --seeds 1 --steps 50

Top to bottom, for every scene family, seed and encoder:

1. Training frames: a random (here: passive, ``Discrete(1)``) policy plays the scene from env
   seed ``seed``; the frames are cached in ``<out>/frames/`` and BOTH encoders train on the
   same frames, with the same optimiser steps, batch of clips and learning rate.
2. Training: ``MintTrainer`` or ``TransporterTrainer`` with one ``MintConfig`` (same K, input
   size, heatmap grid, Gaussian width, width of the conv stacks); TensorBoard and a resumable
   checkpoint in ``<out>/<encoder>/<scene>/seed<s>/``.
3. Held-out evaluation: ``--eval-episodes`` episodes with env seeds 10000, 10001, ... (disjoint
   from every training seed), with ground-truth masks, visibility and static flags from
   ``info["objects"]``. Per episode: ``mint_rl.metrics.video_metrics`` (DOP, TOP, UAK, RAK,
   DOP on static / moving objects, Hungarian keypoint-centre distance, identity switches)
   with Ā = ``envs.scenes.mean_object_area`` of the scene, plus the enter/leave analysis
   (``mint_rl.metrics.enter_leave_metrics``):
   share of active keypoints on visible objects, DOP over frames 0-5 after an object
   becomes visible, and what the keypoints that were on an object do in the first frame
   after it has left (switched off / left on the background).
   Object centres for the distance and identity metrics are the centroids of the visible
   masks (an entering object's centre of mass can lie outside the frame).
4. Results (``agents.keypoint_quality_report``): the episode metrics are averaged per seed,
   then over seeds with ``mint_rl.metrics.summarize`` (mean ± 95 % Student-t interval, n seeds). Written as they
   arrive: ``<out>/results.csv`` (one row per encoder/scene/seed/metric), ``summary.json``,
   ``table.md``, ``metrics.png``; per encoder and scene (first seed) a keypoint-overlay video
   ``videos/<encoder>_<scene>.mp4`` and an entropy / coverage figure
   ``figures/<encoder>_<scene>.png``.

Convergence (``--curve 500 1000 2000 4000 --steps 8000``): each run is also evaluated on the same held-out
episodes at those earlier optimiser steps, on the way to ``--steps`` (one training run, not one per budget);
``curve.csv``, ``curve.md`` and ``convergence.png`` give DOP and TOP against steps
(``agents.keypoint_quality_report.write_curve_results``). An evaluation at a curve step is kept in the run's
``curve.json`` as soon as it is made, so an interrupted run resumes without repeating it.

Resuming: a finished (encoder, scene, seed) leaves ``metrics.json`` in its folder and is
skipped when the command runs again (``--reevaluate`` evaluates it again from its checkpoint
instead, without training); an interrupted one resumes from its checkpoint. A folder
written with another budget is refused (use another ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.keypoint_quality_report import run_folder, write_curve_results, write_keypoint_quality_results
from envs.keypoint_evaluation import (  # also registers the MintScenes ids
    DEFAULT_BUDGET, DEFAULT_ENCODER, FULL_BUDGET, HELD_OUT_SEED, SCENES, encode, held_out_episodes, mean_area,
    training_frames)
from mint_rl.baselines import ENCODER_TYPES, build_trainer
from mint_rl.checkpoint import load_checkpoint
from mint_rl.config import MintConfig, config_overrides
from mint_rl.draw import draw_keypoints_batch, entropy_figure, write_video
from mint_rl.keypoints import gaussian_maps, information_patches
from mint_rl.metrics import enter_leave_metrics, video_metrics
from mint_rl.trainer import make_entropy
from mint_rl.utils import flush_denormals_process_wide, resolve_device, write_json


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=list(SCENES), metavar="SCENE",
                   help=f"scene families, short names or ids (default: all of {', '.join(SCENES)})")
    p.add_argument("--encoders", nargs="+", default=list(ENCODER_TYPES), choices=ENCODER_TYPES)
    p.add_argument("--seeds", type=int, default=None,
                   help=f"number of seeds 0..n-1 (default {DEFAULT_BUDGET['seeds']}, --full {FULL_BUDGET['seeds']})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"optimiser steps per run (default {DEFAULT_BUDGET['steps']}, --full {FULL_BUDGET['steps']})")
    p.add_argument("--frames", type=int, default=None,
                   help=f"training frames per scene and seed (default {DEFAULT_BUDGET['frames']}, "
                        f"--full {FULL_BUDGET['frames']})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"clips per step (default {DEFAULT_BUDGET['batch_size']}, --full {FULL_BUDGET['batch_size']})")
    p.add_argument("--clip-length", type=int, default=DEFAULT_ENCODER["clip_length"],
                   help="frames per clip (the Transporter uses 2 of them)")
    p.add_argument("--num-keypoints", "-k", type=int, default=DEFAULT_ENCODER["num_keypoints"],
                   help="K, the same for both encoders (10: the most objects in a scene, 8 in Collisions, plus 2)")
    p.add_argument("--hidden-channels", type=int, default=DEFAULT_ENCODER["hidden_channels"],
                   help="width of both encoders' conv stacks")
    p.add_argument("--lr", type=float, default=DEFAULT_ENCODER["lr"])
    p.add_argument("--eval-episodes", type=int, default=None,
                   help=f"held-out episodes per scene (default {DEFAULT_BUDGET['eval_episodes']}, "
                        f"--full {FULL_BUDGET['eval_episodes']})")
    p.add_argument("--eval-frames", type=int, default=None,
                   help=f"frames per held-out episode (default {DEFAULT_BUDGET['eval_frames']}, "
                        f"--full {FULL_BUDGET['eval_frames']})")
    p.add_argument("--curve", type=int, nargs="+", default=[], metavar="STEP",
                   help="also evaluate each run at these earlier optimiser steps (each below --steps), for DOP and "
                        "TOP against training steps (curve.csv, curve.md, convergence.png)")
    p.add_argument("--mint", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="MintConfig fields of the MINT encoder (not the Transporter's) for an ablation, e.g. "
                        "w_overlap=0 w_status=0 movement_weight=0, kappa=0.5, entropy_window=5, "
                        "learn_temperature=false, grid_size=[64,64]; values are JSON (true/false/null, numbers, "
                        "lists); recorded in the budget, so a folder holds one variant")
    p.add_argument("--full", action="store_true",
                   help="the larger budget of the README table (flags given explicitly still win)")
    p.add_argument("--video-frames", type=int, default=100, help="frames in each overlay video (0: no videos)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: on a busy shared CPU, 2 threads ran a MINT step 7x slower)")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--out", default="runs/evaluate_keypoints", help="output folder")
    p.add_argument("--export", default=None,
                   help="also copy the small result files (csv, json, table, PNG figures) to this folder")
    p.add_argument("--reevaluate", action="store_true",
                   help="evaluate finished runs again from their checkpoints (after a change to the metrics); "
                        "training time and loss are kept from their metrics.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    args = p.parse_args(argv)
    for key, value in (FULL_BUDGET if args.full else DEFAULT_BUDGET).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = [s for s in args.scenes if s not in SCENES and s not in SCENES.values()]
    if unknown:
        p.error(f"unknown scene(s) {unknown}; choose from {list(SCENES)} or their ids {list(SCENES.values())}")
    args.scenes = [s if s in SCENES else s.split("/")[1].removesuffix("-v0") for s in args.scenes]
    if not 1 <= args.seeds <= HELD_OUT_SEED:
        p.error(f"--seeds must be in [1, {HELD_OUT_SEED}] so training seeds stay disjoint from held-out seeds")
    for name in ("steps", "frames", "batch_size", "eval_episodes", "num_keypoints"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.eval_frames < 2 or args.frames < args.clip_length:
        p.error("--eval-frames must be >= 2 and --frames >= --clip-length")
    bad = [s for s in args.curve if not 1 <= s < args.steps]
    if bad:
        p.error(f"--curve steps {bad} are outside [1, --steps − 1 = {args.steps - 1}]: the curve's last point is "
                f"--steps itself")
    args.curve = sorted(set(args.curve))
    try:
        args.mint = config_overrides(args.mint, base_config(args), OWN_FLAGS, fixed="fixed by the scenes")
    except ValueError as exc:
        p.error(str(exc))
    return args


OWN_FLAGS = {"num_keypoints": "--num-keypoints", "batch_size": "--batch-size", "clip_length": "--clip-length",
             "lr": "--lr", "hidden_channels": "--hidden-channels", "seed": "--seeds", "image_size": None,
             "in_channels": None, "feature_dim": None, "extra": None}
"""MintConfig fields ``--mint`` may not set: the comparison's own flags, or fixed by the scenes."""


def base_config(args: argparse.Namespace) -> MintConfig:
    """One geometry for both encoders: K keypoints on the 32×32 heatmap grid of 64×64 frames, Gaussian std 0.067
    of the grid width (MINT's patch ≈ one object of these scenes)."""
    return MintConfig(num_keypoints=args.num_keypoints, image_size=(64, 64), hidden_channels=args.hidden_channels,
                      feature_dim=0, batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr)


def evaluate_held_out(encoder: torch.nn.Module, episodes: list[dict[str, np.ndarray]], scene: str,
                      device: torch.device) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """Per held-out episode: the video and enter/leave metrics; and the keypoints (``coords<i>``, ``status<i>``)."""
    results, keypoints = [], {}
    for i, ep in enumerate(episodes):
        coords, status = encode(encoder, ep["frames"], device)
        metrics = video_metrics(coords, status, ep["masks"], ep["visible"], mean_area(scene), static=ep["static"])
        metrics.update(enter_leave_metrics(coords, status, ep["masks"], ep["visible"]))
        results.append(metrics)
        keypoints[f"coords{i}"], keypoints[f"status{i}"] = coords, status
    return results, keypoints


# --------------------------------------------------------------------------- 2. the experiment
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    base = base_config(args)
    budget = {k: getattr(args, k) for k in ("steps", "frames", "batch_size", "clip_length", "num_keypoints",
                                            "hidden_channels", "lr", "eval_episodes", "eval_frames")}
    if args.mint:  # an ablation variant of MINT (absent otherwise, so folders of the plain method stay valid)
        budget["mint"] = {k: list(v) if isinstance(v, tuple) else v for k, v in args.mint.items()}
    print(f"budget per run: {args.steps} steps × {args.batch_size} clips of {args.clip_length} frames from "
          f"{args.frames} frames; K = {args.num_keypoints}; {args.seeds} seed(s); held-out: {args.eval_episodes} "
          f"episodes × {args.eval_frames} frames; device {device}, {args.threads} thread(s); out {out}"
          + (f"; MINT variant {args.mint}" if args.mint else ""))

    combos = [(scene, seed, encoder) for scene in args.scenes for seed in range(args.seeds) for encoder in args.encoders]
    from tqdm.auto import tqdm

    for scene, seed, encoder in combos:  # before any work: a finished run cannot get curve steps it lacks
        metrics_path = run_folder(out, encoder, scene, seed) / "metrics.json"
        if metrics_path.is_file():
            missing = [step for step in args.curve
                       if str(step) not in json.loads(metrics_path.read_text()).get("curve", {})]
            if missing:
                raise SystemExit(f"{metrics_path} finished without the --curve evaluations at steps {missing}, which "
                                 f"cannot be made after training. Use another --out (or delete that folder).")
        elif (metrics_path.parent / "encoder.pt").is_file():  # interrupted: the same config? trained past a step?
            checkpoint = load_checkpoint(metrics_path.parent / "encoder.pt")
            stored = checkpoint["config"].to_dict()
            wanted = base.replace(seed=seed, **(args.mint if encoder == "mint" else {})).to_dict()
            differ = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
            if differ:
                raise SystemExit(f"{metrics_path.parent} holds an interrupted run with another config (field: "
                                 f"(stored, asked)) {differ}. Use another --out (or delete that folder).")
            if not args.curve:
                continue
            step = int(checkpoint.get("step", 0))
            path = metrics_path.parent / "curve.json"
            made = json.loads(path.read_text()) if path.is_file() else {}
            skipped = [s for s in args.curve if s < step and str(s) not in made]
            if skipped:
                raise SystemExit(f"{metrics_path.parent} was trained to step {step} without the --curve evaluation "
                                 f"at steps {skipped}. Use another --out (or delete that folder).")
    bar = tqdm(combos, desc="runs", unit="run", disable=args.no_progress, dynamic_ncols=True)
    for scene, seed, encoder in bar:
        bar.set_postfix_str(f"{encoder} {scene} seed {seed}")
        run_dir = run_folder(out, encoder, scene, seed)
        metrics_path = run_dir / "metrics.json"
        previous = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        if previous is not None:
            if previous["budget"] != budget:
                raise SystemExit(f"{metrics_path} was written with another budget {previous['budget']}; this command "
                                 f"asks for {budget}. Use another --out (or delete that folder).")
            if not args.reevaluate:
                continue  # finished earlier: skip

        # 1. Frames: the same stream for both encoders (cached); the trainer's buffer computes MINT's entropy once
        #    per frame (the Transporter needs none).
        config = base.replace(seed=seed, **(args.mint if encoder == "mint" else {}))
        frames, starts = training_frames(out, scene, seed, args.frames)

        # 2. Training (resumes from the run's checkpoint if one exists).
        trainer = build_trainer(encoder, config, device=device, log_dir=run_dir / "tb",
                                checkpoint_path=run_dir / "encoder.pt")
        trainer.maybe_resume()
        resumed_from_step = trainer.step_count
        buffer = trainer.frame_buffer(frames[None], starts[None])
        episodes = held_out_episodes(out, scene, args.eval_episodes, args.eval_frames)
        # Training to each --curve step in turn (evaluated there, kept in curve.json), then to --steps.
        curve_path = run_dir / "curve.json"
        curve = json.loads(curve_path.read_text()) if curve_path.is_file() else {}
        if previous is not None:
            curve = previous.get("curve", {})
        stale = [step for step in curve if int(step) > resumed_from_step]
        if stale:  # evaluations of weights that are gone (the checkpoint is older than they are): made again
            print(f"{run_dir}: the checkpoint is at step {resumed_from_step}, so the curve evaluations at steps "
                  f"{stale} are of other weights; making them again", flush=True)
            curve = {step: value for step, value in curve.items() if int(step) <= resumed_from_step}
        history, train_seconds = [], 0.0
        for target in [*args.curve, args.steps]:
            t0 = time.time()
            history += trainer.fit(buffer, target, checkpoint_every=args.checkpoint_every,
                                   progress=not args.no_progress,
                                   extra_state={"scene": SCENES[scene], "frames": len(frames), "collect_seed": seed})
            train_seconds += time.time() - t0
            if target == args.steps or str(target) in curve:
                continue
            if trainer.step_count != target:
                raise SystemExit(f"{run_dir} was trained to step {trainer.step_count} without the --curve evaluation "
                                 f"at step {target}. Use another --out (or delete that folder).")
            curve[str(target)] = evaluate_held_out(trainer.encoder, episodes, scene, device)[0]
            write_json(curve_path, curve)

        # 3. Held-out evaluation.
        t0 = time.time()
        results, keypoints = evaluate_held_out(trainer.encoder, episodes, scene, device)
        np.savez_compressed(run_dir / "keypoints.npz", **keypoints)
        per_metric = {k: float(np.nanmean([r[k] for r in results])) if any(np.isfinite(r[k]) for r in results)
                      else float("nan") for k in results[0]}
        if trainer.writer is not None:
            for key, value in per_metric.items():
                if np.isfinite(value):
                    trainer.writer.add_scalar(f"eval/{key}", value, trainer.step_count)
            trainer.writer.flush()
        trainer.close()

        # Videos and entropy figure of the first seed, first held-out episode.
        if seed == 0:
            ep = episodes[0]
            coords, status = keypoints["coords0"], keypoints["status0"]
            if args.video_frames > 0:
                n = min(args.video_frames, len(ep["frames"]))
                overlays = draw_keypoints_batch(ep["frames"][:n], coords[:n], status[:n], scale=4)
                write_video(list(overlays), out / "videos" / f"{encoder}_{scene}.mp4", fps=10)
            idx = np.linspace(0, len(ep["frames"]) - 1, 4).round().astype(int)
            shown = torch.from_numpy(ep["frames"][idx]).permute(0, 3, 1, 2).contiguous()
            entropy = make_entropy(config)(shown)
            patches = information_patches(gaussian_maps(torch.from_numpy(coords[idx]), config.grid_size,
                                                        config.gaussian_std_px), config.patch_lambda, config.patch_eta)
            fig_path = out / "figures" / f"{encoder}_{scene}.png"
            entropy_figure(ep["frames"][idx], entropy, patches, coords[idx], status[idx], path=fig_path)
        eval_seconds = time.time() - t0

        final_loss = float(np.mean([h["loss/total"] for h in history[-20:]])) if history else None
        if previous is not None:  # re-evaluated: training happened in the earlier invocation
            train_seconds, final_loss = previous["train_seconds"], previous["final_loss"]
            resumed_from_step = previous["resumed_from_step"]
        write_json(metrics_path, {"encoder": encoder, "scene": SCENES[scene], "seed": seed, "budget": budget,
                                  "config": config.to_dict(), "held_out_env_seeds": [HELD_OUT_SEED + i for i in range(len(episodes))],
                                  "mean_object_area": mean_area(scene), "train_seconds": train_seconds,
                                  "eval_seconds": eval_seconds, "final_loss": final_loss,
                                  "resumed_from_step": resumed_from_step,
                                  "metric_names": list(results[0]), "episodes": results,
                                  **({"curve": dict(sorted(curve.items(), key=lambda kv: int(kv[0])))} if curve
                                     else {})})  # every curve step made, also those this command did not ask for
        if args.no_progress:
            print(f"{encoder:11s} {scene:10s} seed {seed}: train {train_seconds:.0f}s, eval {eval_seconds:.0f}s, "
                  + ", ".join(f"{k}={per_metric[k]:.2f}" for k in ("DOP", "TOP", "UAK", "RAK")), flush=True)
        write_keypoint_quality_results(out, args.scenes, args.encoders, args.seeds, budget, time.time() - t_start,
                                       figure=False)  # results as they arrive
        if args.curve:
            write_curve_results(out, args.scenes, args.encoders, args.seeds)

    bar.close()
    # 4. Report: tables, paired differences and the figure over every finished run (agents.keypoint_quality_report).
    report = write_keypoint_quality_results(out, args.scenes, args.encoders, args.seeds, budget, time.time() - t_start)
    if args.curve:
        report["curve"] = write_curve_results(out, args.scenes, args.encoders, args.seeds)
        print("\n" + report["curve"]["table"])
    wall = time.time() - t_start
    print()
    print(report["table"])
    print(f"\nwall time of this invocation: {wall:.0f} s; results in {out}/results.csv, summary.json, table.md")
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for name in ("results.csv", "summary.json", "table.md", "metrics.png", "curve.csv", "curve.md",
                     "convergence.png"):
            if (out / name).is_file():
                shutil.copy2(out / name, export / name)
        for encoder in args.encoders:  # one entropy figure per encoder: EnterLeave if evaluated
            scene = "EnterLeave" if "EnterLeave" in args.scenes else args.scenes[0]
            fig = out / "figures" / f"{encoder}_{scene}.png"
            if fig.is_file():
                shutil.copy2(fig, export / f"entropy_{encoder}_{scene}.png")
        print(f"exported small result files to {export}")
    report["wall_seconds"] = wall
    report["out"] = out
    return report


if __name__ == "__main__":
    flush_denormals_process_wide()  # before any torch work: its worker threads inherit it (mint_rl.utils)
    main()
