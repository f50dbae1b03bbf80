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
   with Ā = ``envs.scenes.mean_object_area`` of the scene, plus the enter/leave analysis:
   share of active keypoints on visible objects, DOP over frames 0-5 after an object
   becomes visible, and what the keypoints that were on an object do in the first frame
   after it has left (switched off / left on the background).
   Object centres for the distance and identity metrics are the centroids of the visible
   masks (an entering object's centre of mass can lie outside the frame).
4. Results: the episode metrics are averaged per seed, then over seeds with
   ``mint_rl.metrics.summarize`` (mean ± 95 % Student-t interval, n seeds). Written as they
   arrive: ``<out>/results.csv`` (one row per encoder/scene/seed/metric), ``summary.json``,
   ``table.md``, ``metrics.png``; per encoder and scene (first seed) a keypoint-overlay video
   ``videos/<encoder>_<scene>.mp4`` and an entropy / coverage figure
   ``figures/<encoder>_<scene>.png``.

Resuming: a finished (encoder, scene, seed) leaves ``metrics.json`` in its folder and is
skipped when the command runs again (``--reevaluate`` evaluates it again from its checkpoint
instead, without training); an interrupted one resumes from its checkpoint. A folder
written with another budget is refused (use another ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too

from envs.keypoint_evaluation import (  # noqa: E402  (also registers the MintScenes ids)
    DEFAULT_BUDGET, DEFAULT_ENCODER, FULL_BUDGET, HELD_OUT_SEED, SCENES, encode, format_cell, held_out_episodes,
    mean_area, training_frames)
from mint_rl.baselines.transporter import TransporterTrainer  # noqa: E402
from mint_rl.config import MintConfig  # noqa: E402
from mint_rl.data import FrameBuffer  # noqa: E402
from mint_rl.draw import draw_keypoints_batch, entropy_figure, write_video  # noqa: E402
from mint_rl.keypoints import gaussian_maps, information_patches  # noqa: E402
from mint_rl.metrics import (  # noqa: E402
    ACTIVE_THRESHOLD, BACKGROUND, aggregate, keypoint_assignments, summarize, video_metrics)
from mint_rl.trainer import MintTrainer, make_entropy  # noqa: E402
from mint_rl.utils import resolve_device, write_json  # noqa: E402

TRAINERS = {"mint": MintTrainer, "transporter": TransporterTrainer}
ENTER_WINDOW = 6  # enter analysis: frames 0 .. ENTER_WINDOW - 1 after an object becomes visible
LEAVE_WINDOW = 6  # leave analysis: keypoints on the object in its last LEAVE_WINDOW frames before it left

# (key, column title, format) of the printed tables; ↑ higher is better, ↓ lower is better.
MAIN_COLUMNS = [("DOP", "DOP % ↑", "{:.1f}"), ("TOP", "TOP % ↑", "{:.1f}"), ("UAK", "UAK ↓", "{:.2f}"),
                ("RAK", "RAK ↓", "{:.2f}"), ("DOP_static", "DOP static ↑", "{:.1f}"),
                ("DOP_moving", "DOP moving ↑", "{:.1f}"), ("match_dist_px", "match dist px ↓", "{:.2f}"),
                ("id_switches", "id switches ↓", "{:.1f}")]
ENTER_LEAVE_COLUMNS = [("active_pct", "active kp %", "{:.1f}"), ("on_object_pct", "active kp on objects % ↑", "{:.1f}"),
                       ("DOP", "DOP % ↑", "{:.1f}"), ("DOP_enter", f"DOP 0-{ENTER_WINDOW - 1} after enter % ↑", "{:.1f}"),
                       ("leave_off_pct", "kp off after leave % ↑", "{:.1f}"),
                       ("leave_bg_pct", "kp on background after leave % ↓", "{:.1f}"),
                       ("leave_other_pct", "kp on another object after leave %", "{:.1f}")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=list(SCENES), metavar="SCENE",
                   help=f"scene families, short names or ids (default: all of {', '.join(SCENES)})")
    p.add_argument("--encoders", nargs="+", default=list(TRAINERS), choices=list(TRAINERS))
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
    return args


# --------------------------------------------------------------------------- metrics
def enter_leave_metrics(coords: np.ndarray, status: np.ndarray, masks: np.ndarray, visible: np.ndarray
                        ) -> dict[str, float]:
    """How keypoints behave as objects enter and leave the frame (one episode).

    - ``active_pct``: mean % of the K keypoints that are active;
    - ``on_object_pct``: per frame, % of the active keypoints that lie on a visible object
      (mean over frames with an active keypoint);
    - ``DOP_enter``: % of (entry, frame) pairs, over the frames 0 .. ENTER_WINDOW − 1 after an
      object becomes visible (while it stays visible), where it has ≥ 1 keypoint on it;
      objects visible in the first frame do not count as entering;
    - ``leave_off_pct`` / ``leave_bg_pct`` / ``leave_other_pct``: for an object that leaves
      (visible at t − 1, not at t), take the keypoints on it in the last of its frames
      t − LEAVE_WINDOW .. t − 1 where it had any (an object leaving is a sliver for its last
      frames, often with no keypoint on it); of those, % that are inactive / active on the
      background / on another object at frame t. Objects with no keypoint in those frames
      give no event.

    Each is ``nan`` where it has no event (e.g. no object enters).
    """
    masks = masks & visible[:, :, None, None]
    assign = keypoint_assignments(coords, status, masks)  # (T, K)
    active = status > ACTIVE_THRESHOLD
    length, n = visible.shape
    n_active = active.sum(axis=1)
    on_object = (assign >= 0).sum(axis=1)
    detected = (assign[:, :, None] == np.arange(n)).any(axis=1)  # (T, N)
    enter_hits, leave_off, leave_bg, leave_other = [], [], [], []
    for t in range(1, length):
        for o in np.flatnonzero(visible[t] & ~visible[t - 1]):  # o enters at t
            for dt in range(ENTER_WINDOW):
                if t + dt >= length or not visible[t + dt, o]:
                    break
                enter_hits.append(detected[t + dt, o])
        for o in np.flatnonzero(visible[t - 1] & ~visible[t]):  # o has left at t
            last = t - 1  # walk back through its last visible frames to one with a keypoint on it
            while last > t - 1 - LEAVE_WINDOW and last >= 0 and visible[last, o] and not detected[last, o]:
                last -= 1
            if last <= t - 1 - LEAVE_WINDOW or last < 0 or not detected[last, o]:
                continue
            for k in np.flatnonzero(assign[last] == o):
                leave_off.append(not active[t, k])
                leave_bg.append(assign[t, k] == BACKGROUND)
                leave_other.append(assign[t, k] >= 0)

    def pct(values: list) -> float:
        return 100.0 * float(np.mean(values)) if values else float("nan")

    keep = n_active > 0
    return {
        "active_pct": 100.0 * float(active.mean()),
        "on_object_pct": 100.0 * float(np.mean(on_object[keep] / n_active[keep])) if keep.any() else float("nan"),
        "DOP_enter": pct(enter_hits),
        "leave_off_pct": pct(leave_off),
        "leave_bg_pct": pct(leave_bg),
        "leave_other_pct": pct(leave_other),
    }


# --------------------------------------------------------------------------- outputs
def collect_results(out: Path, args: argparse.Namespace) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every finished run of this command's encoders, scenes and seeds: (encoder, scene, seed) → metrics.json."""
    done = {}
    for encoder in args.encoders:
        for scene in args.scenes:
            for seed in range(args.seeds):
                path = out / encoder / scene / f"seed{seed}" / "metrics.json"
                if path.is_file():
                    done[(encoder, scene, seed)] = json.loads(path.read_text())
    return done


def markdown_table(summary: dict[str, Any], scenes: list[str], encoders: list[str],
                   columns: list[tuple[str, str, str]]) -> str:
    lines = ["| scene | encoder | n | " + " | ".join(c[1] for c in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for scene in scenes:
        for encoder in encoders:
            stats = summary.get(scene, {}).get(encoder)
            if stats is None:
                continue
            n = int(max(s["n"] for s in stats.values()))
            cells = [format_cell(stats.get(key), fmt) for key, _, fmt in columns]
            lines.append(f"| {scene} | {encoder} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PAIRED_NOTE = ("Paired difference MINT − Transporter (per seed: same training frames and held-out episodes; "
               "mean ± 95% t-interval over n seeds; > 0 favours MINT for ↑ metrics, < 0 for ↓ metrics):")
PAIRED_COLUMNS = [("DOP", "Δ DOP % (↑)", "{:+.1f}"), ("TOP", "Δ TOP % (↑)", "{:+.1f}"), ("UAK", "Δ UAK (↓)", "{:+.2f}"),
                  ("RAK", "Δ RAK (↓)", "{:+.2f}"), ("DOP_static", "Δ DOP static % (↑)", "{:+.1f}"),
                  ("DOP_enter", "Δ DOP 0-5 after enter % (↑)", "{:+.1f}")]


def paired_table(paired: dict[str, Any], scenes: list[str]) -> str:
    lines = ["| scene | n | " + " | ".join(c[1] for c in PAIRED_COLUMNS) + " |", "|---|---|" + "---|" * len(PAIRED_COLUMNS)]
    for scene in scenes:
        if scene in paired:
            n = int(max(s["n"] for s in paired[scene].values()))
            cells = [format_cell(paired[scene].get(key), fmt) for key, _, fmt in PAIRED_COLUMNS]
            lines.append(f"| {scene} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_figure(summary: dict[str, Any], scenes: list[str], encoders: list[str], path: Path) -> None:
    """Bar chart of DOP, TOP, UAK and RAK per scene and encoder, with 95 % t-intervals."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.0), dpi=100, layout="constrained")
    axes = fig.subplots(1, 4)
    width = 0.8 / max(len(encoders), 1)
    for ax, key in zip(axes, ("DOP", "TOP", "UAK", "RAK")):
        for j, encoder in enumerate(encoders):
            means, errs = [], []
            for scene in scenes:
                s = summary.get(scene, {}).get(encoder, {}).get(key)
                means.append(s["mean"] if s else np.nan)
                errs.append(s["half_width"] if s and np.isfinite(s["half_width"]) else 0.0)
            ax.bar(np.arange(len(scenes)) + j * width, means, width, yerr=errs, capsize=2, label=encoder)
        ax.set_xticks(np.arange(len(scenes)) + width * (len(encoders) - 1) / 2, scenes, fontsize=8)
        ax.set_title(key + (" ↑" if key in ("DOP", "TOP") else " ↓"), fontsize=10)
    axes[0].legend(fontsize=8)
    fig.savefig(path, format="png")


def write_outputs(out: Path, args: argparse.Namespace, budget: dict[str, Any], wall: float,
                  figure: bool = True) -> dict[str, Any]:
    """Rewrite results.csv, summary.json, table.md (and metrics.png if ``figure``) from every finished run."""
    done = collect_results(out, args)
    names = list(dict.fromkeys(name for r in done.values() for name in r["metric_names"]))
    for result in done.values():  # runs evaluated before a metric was added: nan for it
        result["episodes"] = [{name: ep.get(name, float("nan")) for name in names} for ep in result["episodes"]]
        result["metric_names"] = names
    rows = []
    for (encoder, scene, seed), result in sorted(done.items()):
        for metric in result["metric_names"]:
            values = np.array([ep[metric] for ep in result["episodes"]], dtype=np.float64)
            finite = values[np.isfinite(values)]
            rows.append({"encoder": encoder, "scene": scene, "seed": seed, "metric": metric,
                         "value": float(finite.mean()) if finite.size else float("nan"),
                         "n_episodes": int(finite.size)})
    tmp = out / "results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["encoder", "scene", "seed", "metric", "value", "n_episodes"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "results.csv")

    summary: dict[str, Any] = {}
    for scene in args.scenes:
        for encoder in args.encoders:
            per_seed = {seed: r["episodes"] for (e, s, seed), r in done.items() if e == encoder and s == scene}
            if per_seed:
                summary.setdefault(scene, {})[encoder] = summarize(per_seed)
    # Paired over seeds: for each seed both encoders saw the same frames and held-out episodes.
    paired: dict[str, Any] = {}
    if {"mint", "transporter"} <= set(args.encoders):
        seed_value = {(r["encoder"], r["scene"], r["seed"], r["metric"]): r["value"] for r in rows}
        for scene in args.scenes:
            for metric in (names if done else []):
                diffs = [seed_value[("mint", scene, seed, metric)] - seed_value[("transporter", scene, seed, metric)]
                         for seed in range(args.seeds)
                         if ("mint", scene, seed, metric) in seed_value and ("transporter", scene, seed, metric) in seed_value]
                if diffs:
                    paired.setdefault(scene, {})[metric] = aggregate(diffs)
    runs = {f"{e}/{s}/seed{seed}": {k: r[k] for k in ("train_seconds", "eval_seconds", "final_loss")}
            for (e, s, seed), r in sorted(done.items())}
    write_json(out / "summary.json", {
        "budget": budget, "mean_object_area": {s: mean_area(s) for s in args.scenes},
        "held_out_env_seeds": [HELD_OUT_SEED, HELD_OUT_SEED + args.eval_episodes - 1],
        "aggregation": "episode metrics → mean per seed → mean ± 95% Student-t half-width over n seeds",
        "wall_seconds_this_invocation": wall, "runs": runs, "summary": summary,
        "paired_difference_mint_minus_transporter": paired,
    })
    note = (f"mean ± 95% t-interval half-width over n seeds; {budget['steps']} steps × {budget['batch_size']} clips "
            f"of {budget['clip_length']} frames, {budget['frames']} training frames, K = {budget['num_keypoints']}, "
            f"{budget['eval_episodes']} held-out episodes × {budget['eval_frames']} frames per scene")
    table = "\n\n".join([note, markdown_table(summary, args.scenes, args.encoders, MAIN_COLUMNS),
                         "Enter / leave analysis (EnterLeave is the scene where objects enter and leave):",
                         markdown_table(summary, args.scenes, args.encoders, ENTER_LEAVE_COLUMNS)]
                        + ([PAIRED_NOTE, paired_table(paired, args.scenes)] if paired else []))
    (out / "table.md").write_text(table + "\n")
    if summary and figure:
        metrics_figure(summary, args.scenes, args.encoders, out / "metrics.png")
    return {"summary": summary, "table": table, "rows": rows}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    # One geometry for both encoders: K keypoints on the 32×32 heatmap grid of 64×64 frames,
    # Gaussian std 0.067 of the grid width (MINT's patch ≈ one object of these scenes).
    base_config = MintConfig(num_keypoints=args.num_keypoints, image_size=(64, 64), hidden_channels=args.hidden_channels,
                             feature_dim=0, batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr)
    budget = {k: getattr(args, k) for k in ("steps", "frames", "batch_size", "clip_length", "num_keypoints",
                                            "hidden_channels", "lr", "eval_episodes", "eval_frames")}
    print(f"budget per run: {args.steps} steps × {args.batch_size} clips of {args.clip_length} frames from "
          f"{args.frames} frames; K = {args.num_keypoints}; {args.seeds} seed(s); held-out: {args.eval_episodes} "
          f"episodes × {args.eval_frames} frames; device {device}, {args.threads} thread(s); out {out}")

    combos = [(scene, seed, encoder) for scene in args.scenes for seed in range(args.seeds) for encoder in args.encoders]
    from tqdm.auto import tqdm

    bar = tqdm(combos, desc="runs", unit="run", disable=args.no_progress, dynamic_ncols=True)
    for scene, seed, encoder in bar:
        bar.set_postfix_str(f"{encoder} {scene} seed {seed}")
        run_dir = out / encoder / scene / f"seed{seed}"
        metrics_path = run_dir / "metrics.json"
        previous = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        if previous is not None:
            if previous["budget"] != budget:
                raise SystemExit(f"{metrics_path} was written with another budget {previous['budget']}; this command "
                                 f"asks for {budget}. Use another --out (or delete that folder).")
            if not args.reevaluate:
                continue  # finished earlier: skip

        # 1. Frames: the same stream for both encoders (cached), entropy once per frame for MINT.
        config = base_config.replace(seed=seed)
        frames, starts = training_frames(out, scene, seed, args.frames)
        entropy_fn = make_entropy(config) if encoder == "mint" else (
            lambda x: torch.zeros(x.shape[0], *config.grid_size))  # the Transporter needs no entropy
        buffer = FrameBuffer(len(frames), (3, 64, 64), config.grid_size, entropy_fn)
        buffer.add_stream(frames, starts)

        # 2. Training (resumes from the run's checkpoint if one exists).
        trainer = TRAINERS[encoder](config, device=device, log_dir=str(run_dir / "tb"),
                                    checkpoint_path=run_dir / "encoder.pt")
        trainer.maybe_resume()
        resumed_from_step = trainer.step_count
        t0 = time.time()
        history = trainer.fit(buffer, args.steps, checkpoint_every=args.checkpoint_every,
                              progress=not args.no_progress,
                              extra_state={"scene": SCENES[scene], "frames": len(frames), "collect_seed": seed})
        train_seconds = time.time() - t0

        # 3. Held-out evaluation.
        t0 = time.time()
        episodes = held_out_episodes(out, scene, args.eval_episodes, args.eval_frames)
        results, keypoints = [], {}
        for i, ep in enumerate(episodes):
            coords, status = encode(trainer.encoder, ep["frames"], device)
            metrics = video_metrics(coords, status, ep["masks"], ep["visible"], mean_area(scene), static=ep["static"])
            metrics.update(enter_leave_metrics(coords, status, ep["masks"], ep["visible"]))
            results.append(metrics)
            keypoints[f"coords{i}"], keypoints[f"status{i}"] = coords, status
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
                                  "metric_names": list(results[0]), "episodes": results})
        if args.no_progress:
            print(f"{encoder:11s} {scene:10s} seed {seed}: train {train_seconds:.0f}s, eval {eval_seconds:.0f}s, "
                  + ", ".join(f"{k}={per_metric[k]:.2f}" for k in ("DOP", "TOP", "UAK", "RAK")), flush=True)
        write_outputs(out, args, budget, time.time() - t_start, figure=False)  # results as they arrive

    bar.close()
    report = write_outputs(out, args, budget, time.time() - t_start)
    wall = time.time() - t_start
    print()
    print(report["table"])
    print(f"\nwall time of this invocation: {wall:.0f} s; results in {out}/results.csv, summary.json, table.md")
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for name in ("results.csv", "summary.json", "table.md", "metrics.png"):
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
    main()
