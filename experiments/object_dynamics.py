"""Learned keypoint dynamics on the object scenes: MINT vs Transporter vs ground-truth keypoints.

    python experiments/object_dynamics.py                                   # default budget, Collisions
    python experiments/object_dynamics.py --scenes Collisions EnterLeave --seeds 3
    python experiments/object_dynamics.py --encoders mint --mint-checkpoint runs/pretrain/x/encoder.pt
    python experiments/object_dynamics.py --device cuda --encoder-steps 2000 --dyn-steps 4000

Top to bottom, for every scene, seed, encoder and dynamics model:

1. Episodes with ground truth (``info["objects"]``): ``--train-episodes`` training episodes
   (env seeds ``1000·seed + i``) and ``--eval-episodes`` held-out episodes (env seeds
   ``10000 + i``, the same for every seed and disjoint from every training seed), cached in
   ``<out>/data/``. The scenes are passive (``Discrete(1)``): every model here is
   unconditioned (``action_dim = 0``).
2. Frozen keypoints from each encoder (``--encoders``):
   - ``mint``: pretrained by ``envs.pretraining.pretrain_encoder`` on the frames of the training
     episodes (written as its frame cache, so it trains on exactly these frames), or the
     checkpoint given with ``--mint-checkpoint`` (then used for every seed);
   - ``transporter``: ``TransporterTrainer`` on the same frames with the same config (K,
     grid, widths), optimiser steps, batch of clips and learning rate;
   - ``ground_truth``: each object slot's centre of mass as a keypoint, status = visible
     (the ceiling; it also knows the positions of present objects outside the frame).
3. Dynamics models (``--models``, :mod:`agents.dynamics`): the keypoint interaction network,
   a per-keypoint GRU (no interactions) and constant velocity (no learning), trained on the
   windows (history 4 → horizon 3) of the training episodes' keypoints, Huber + status BCE.
4. Held-out evaluation per episode and horizon h = 1 … horizon, over the source frames t
   with a full history and a target ``t + h`` inside the episode
   (``envs.dynamics_evaluation.episode_metrics``):
   - ``success``: h-step success rate (MINT_METHOD §5, ``mint_rl.metrics.dynamics_success_rate``):
     per object with ≥ 1 keypoint on it at t, the fraction of its keypoints whose prediction
     for ``t + h`` lies in its mask at ``t + h``; averaged over objects, then frames;
   - ``err_px``: distance (frame pixels) between the prediction of a keypoint that was on
     object o at t and o's true centre at ``t + h`` (includes how far the encoder's keypoint
     sits from the centre);
   - ``motion_err_px``: error of the predicted *displacement* against o's true displacement,
     ``‖(x̂_{t+h} − x_t) − (c_{t+h} − c_t)‖``: dynamics error without the keypoint's offset;
   - ``status_acc``: % of keypoints whose predicted status (p > 0.5) equals the observed one;
   - the same success and errors restricted to **collision windows** (``*_coll``) and to
     **border windows** (``*_border``, entering / leaving objects), see below.
5. Results (``agents.dynamics_report``): episode metrics → mean per seed → mean ± 95 %
   Student-t half-width over seeds (``mint_rl.metrics.summarize``). ``<out>/results.csv`` (one
   row per scene, encoder, model, seed, metric), ``summary.json``, ``table.md`` (one table:
   encoder × model × h, then paired same-seed differences: interaction − gru and − constant
   velocity, mint − transporter, also in ``comparisons.json``, and each encoder's keypoint
   coverage), ``success_vs_horizon_<scene>.png``, ``rollouts_<scene>.png`` and rollout videos
   ``videos/<scene>_<encoder>_<model>.mp4``: the observed keypoints of frame ``t + horizon``
   (filled discs) with the predictions made for it at t (rings of the same colour).

Collision windows (ground truth, ``envs.dynamics_evaluation.collision_events``; pymunk contacts
are not exposed in ``info``): object o has a *collision event* at frame e when its velocity
changes between frames e − 1 and e by more than 0.05 px/step (nothing else changes a velocity
in these scenes: no friction, no gravity; the speed clamp only acts after a collision) while
another present object is within contact distance at e − 1 or e (centre distance ≤ sum of
circumscribed radii + both speeds + 0.5 px). A velocity change with no object that close is a
wall bounce and is not counted. The pair (source t, object o) is a collision window for
horizon h when o has an event at some ``e ∈ [t, t + h]``: the motion to predict crosses the
collision.

Border windows: an entering object (EnterLeave) is *crossing the border* at a frame when it is
visible and its circumscribed circle is not inside the frame (walled objects never cross it).
(t, o) is a border window for h when o is visible at t and crossing the border at some frame
of ``[t, t + h]``: it is entering, or leaving within the horizon. Objects that have
fully left at ``t + h`` have an empty mask and are skipped by the success rate (as in §5).

Resuming: each finished (scene, seed, encoder, model) leaves ``metrics.json`` in
``<out>/<scene>/seed<s>/<encoder>/<model>/`` and is skipped when the command runs again;
encoder training resumes from its checkpoint. A folder written with another budget is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.dynamics import (
    DYNAMICS_MODELS, build_dynamics, encoder_identifier, make_windows, predict_sequence, save_dynamics,
    train_dynamics)
from agents.dynamics_report import (
    DynamicsRuns, rollout_figure, rollout_frames, run_folder, write_dynamics_results)
from envs.dynamics_evaluation import (  # also registers the MintScenes ids
    GT_KEYS, HELD_OUT_SEED, SCENES, TRAIN_SEED_STRIDE, cached_episodes, encode_episodes, episode_metrics,
    held_out_cache, held_out_env_seeds, n_walled, train_cache, train_env_seeds)
from envs.pretraining import PretrainError, PretrainSettings, pretrain_encoder
from mint_rl.baselines import build_trainer, load_encoder
from mint_rl.checkpoint import load_checkpoint
from mint_rl.config import MintConfig
from mint_rl.frame_cache import given_frames_source, save_frames
from mint_rl.utils import flush_denormals_process_wide, resolve_device, write_json

ENCODERS = ("mint", "transporter", "ground_truth")
DEFAULTS = dict(seeds=3, encoder_steps=400, batch_size=32, train_episodes=15, episode_length=200, eval_episodes=4,
                eval_length=200, dyn_steps=1000, dyn_batch=64)


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DEFAULTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=["Collisions"], metavar="SCENE",
                   help=f"scene families, short names or ids (default Collisions; choose from {', '.join(SCENES)})")
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    p.add_argument("--models", nargs="+", default=list(DYNAMICS_MODELS), choices=list(DYNAMICS_MODELS))
    p.add_argument("--seeds", type=int, default=d["seeds"], help=f"number of seeds 0..n-1 (default {d['seeds']})")
    p.add_argument("--mint-checkpoint", default=None,
                   help="use this MINT encoder checkpoint (every seed) instead of pretraining one per seed")
    # encoders
    p.add_argument("--encoder-steps", type=int, default=d["encoder_steps"],
                   help=f"optimiser steps of MINT and the Transporter (default {d['encoder_steps']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="clips per encoder step")
    p.add_argument("--clip-length", type=int, default=3, help="frames per clip (the Transporter uses 2 of them)")
    p.add_argument("--num-keypoints", "-k", type=int, default=10,
                   help="K of MINT and the Transporter (ground truth: one keypoint per object slot)")
    p.add_argument("--hidden-channels", type=int, default=16, help="width of both encoders' conv stacks")
    p.add_argument("--lr", type=float, default=1e-3, help="encoder learning rate")
    p.add_argument("--checkpoint-every", type=int, default=100, help="encoder checkpoint period (steps)")
    # data
    p.add_argument("--train-episodes", type=int, default=d["train_episodes"],
                   help=f"training episodes per scene and seed (default {d['train_episodes']})")
    p.add_argument("--episode-length", type=int, default=d["episode_length"], help="frames per training episode")
    p.add_argument("--eval-episodes", type=int, default=d["eval_episodes"], help="held-out episodes per scene")
    p.add_argument("--eval-length", type=int, default=d["eval_length"], help="frames per held-out episode")
    # dynamics
    p.add_argument("--history", type=int, default=4, help="history frames of the dynamics models")
    p.add_argument("--horizon", type=int, default=3, help="predicted steps")
    p.add_argument("--dyn-steps", type=int, default=d["dyn_steps"], help="optimiser steps per dynamics model")
    p.add_argument("--dyn-batch", type=int, default=d["dyn_batch"], help="windows per dynamics step")
    p.add_argument("--dyn-lr", type=float, default=1e-3)
    p.add_argument("--dyn-hidden", type=int, default=64, help="width of the dynamics networks")
    p.add_argument("--huber-delta", type=float, default=0.05, help="Huber δ in [-1, 1] units (0.05 = 1.6 px)")
    # running
    p.add_argument("--video-frames", type=int, default=100, help="frames per rollout video (0: no videos)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="runs/object_dynamics", help="output folder")
    p.add_argument("--export", default=None,
                   help="also copy the small result files (csv, json, table, PNG figures) to this folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    args = p.parse_args(argv)
    unknown = [s for s in args.scenes if s not in SCENES and s not in SCENES.values()]
    if unknown:
        p.error(f"unknown scene(s) {unknown}; choose from {list(SCENES)} or their ids {list(SCENES.values())}")
    args.scenes = [s if s in SCENES else s.split("/")[1].removesuffix("-v0") for s in args.scenes]
    if not 1 <= args.seeds <= HELD_OUT_SEED // TRAIN_SEED_STRIDE - 1:
        p.error(f"--seeds must be in [1, {HELD_OUT_SEED // TRAIN_SEED_STRIDE - 1}] so training env seeds stay "
                "below the held-out ones")
    if not 1 <= args.train_episodes <= TRAIN_SEED_STRIDE:
        p.error(f"--train-episodes must be in [1, {TRAIN_SEED_STRIDE}]")
    for name in ("encoder_steps", "batch_size", "num_keypoints", "eval_episodes", "history", "horizon",
                 "dyn_batch", "hidden_channels", "dyn_hidden"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.dyn_steps < 0:
        p.error("--dyn-steps must be >= 0")
    if "constant_velocity" in args.models and args.history < 2:
        p.error("constant_velocity needs --history >= 2")
    need = args.history + args.horizon
    if args.episode_length < max(need, args.clip_length) or args.eval_length < need:
        p.error(f"--episode-length and --eval-length must be >= history + horizon = {need} frames "
                f"(and >= --clip-length)")
    if args.mint_checkpoint and not Path(args.mint_checkpoint).is_file():
        p.error(f"--mint-checkpoint {args.mint_checkpoint} does not exist")
    return args



# --------------------------------------------------------------------------- 2. encoders and their keypoints
def encoder_config(args: argparse.Namespace, seed: int) -> MintConfig:
    """The config ``experiments/pretrain.py`` builds from the same flags (and the Transporter shares)."""
    return MintConfig(num_keypoints=args.num_keypoints, in_channels=3, image_size=(64, 64),
                      hidden_channels=args.hidden_channels, feature_dim=0, norm="batch", batch_size=args.batch_size,
                      clip_length=args.clip_length, lr=args.lr, seed=seed)


def train_mint(args: argparse.Namespace, scene: str, seed: int, folder: Path, train: dict[str, np.ndarray],
               device: torch.device) -> tuple[Path, float]:
    """Pretrain MINT with ``envs.pretraining.pretrain_encoder`` (what ``experiments/pretrain.py`` runs) on the
    training episodes' frames; (checkpoint, seconds)."""
    if args.mint_checkpoint:
        return Path(args.mint_checkpoint), 0.0

    ckpt, summary = folder / "encoder.pt", folder / "summary.json"
    if summary.is_file() and json.loads(summary.read_text())["steps"] >= args.encoder_steps and ckpt.is_file():
        return ckpt, 0.0
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / "frames.npz"  # pretrain's frame cache: it trains on exactly these frames
    if not cache.is_file():
        frames = train["frames"]
        starts = np.zeros(frames.shape[:2], dtype=bool)
        starts[:, 0] = True
        seeds = train_env_seeds(seed, len(frames))
        source = given_frames_source(SCENES[scene], frames.shape[0] * frames.shape[1], "object_dynamics: the "
                                     f"training episodes, env seeds {seeds[0]}-{seeds[-1]}")
        save_frames(cache, frames.reshape(1, -1, *frames.shape[2:]), starts.reshape(1, -1), source)
    t0 = time.time()
    settings = PretrainSettings(
        env=SCENES[scene], out=folder, frames=train["frames"].shape[0] * train["frames"].shape[1],
        steps=args.encoder_steps, num_keypoints=args.num_keypoints, hidden_channels=args.hidden_channels,
        feature_dim=0, norm="batch", batch_size=args.batch_size, clip_length=args.clip_length, lr=args.lr, seed=seed,
        device=str(device), checkpoint_every=args.checkpoint_every, video_frames=0, no_progress=args.no_progress)
    try:
        pretrain_encoder(settings)
    except PretrainError as exc:
        raise SystemExit(str(exc)) from exc
    return ckpt, time.time() - t0


def train_transporter(args: argparse.Namespace, scene: str, seed: int, folder: Path, train: dict[str, np.ndarray],
                      config: MintConfig, device: torch.device) -> tuple[Path, float]:
    """Train the Transporter on the same frames, steps and batch as MINT; (checkpoint, seconds)."""
    ckpt = folder / "encoder.pt"
    if ckpt.is_file() and int(load_checkpoint(ckpt).get("step", 0)) >= args.encoder_steps:
        return ckpt, 0.0
    frames, seeds = train["frames"], train_env_seeds(seed, len(train["frames"]))
    starts = np.zeros(frames.shape[:2], dtype=bool)  # each training episode a stream of its own
    starts[:, 0] = True
    trainer = build_trainer("transporter", config, device=device, log_dir=folder / "tb", checkpoint_path=ckpt)
    trainer.maybe_resume()
    buffer = trainer.frame_buffer(frames, starts)
    t0 = time.time()
    trainer.fit(buffer, args.encoder_steps, checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                extra_state={"scene": SCENES[scene], "frames": int(frames.shape[0] * frames.shape[1]),
                             "train_env_seeds": [seeds[0], seeds[-1]]})
    trainer.close()
    return ckpt, time.time() - t0


def keypoints_for(encoder_name: str, ckpt: Path | None, folder: Path, train: dict, held_out: dict,
                  device: torch.device) -> dict[str, Any]:
    """Keypoints of the training and held-out episodes (cached with the encoder's identifier)."""
    if encoder_name == "ground_truth":
        return {"encoder_id": "ground_truth", "train_coords": train["centres"].astype(np.float32),
                "train_status": train["visible"].astype(np.float32),
                "eval_coords": held_out["centres"].astype(np.float32),
                "eval_status": held_out["visible"].astype(np.float32)}
    encoder_id = encoder_identifier(ckpt)
    cache = folder / "keypoints.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if str(data["encoder_id"]) == encoder_id:
                return {k: (str(data[k]) if k == "encoder_id" else data[k]) for k in data.files}
    encoder = load_encoder(ckpt, device=device)
    out: dict[str, Any] = {"encoder_id": encoder_id}
    out["train_coords"], out["train_status"] = encode_episodes(encoder, train["frames"], device)
    out["eval_coords"], out["eval_status"] = encode_episodes(encoder, held_out["frames"], device)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "keypoints.tmp.npz"
    np.savez_compressed(tmp, **out)
    os.replace(tmp, cache)
    return out


# --------------------------------------------------------------------------- 3. the experiment
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    budget = {k: getattr(args, k) for k in (
        "encoder_steps", "batch_size", "clip_length", "num_keypoints", "hidden_channels", "lr", "train_episodes",
        "episode_length", "eval_episodes", "eval_length", "history", "horizon", "dyn_steps", "dyn_batch", "dyn_lr",
        "dyn_hidden", "huber_delta", "mint_checkpoint")}
    runs = DynamicsRuns(out, tuple(args.scenes), tuple(args.encoders), tuple(args.models), args.seeds, budget)
    print(f"object dynamics: scenes {args.scenes}, encoders {args.encoders}, models {args.models}, {args.seeds} "
          f"seed(s); encoders {args.encoder_steps} steps × {args.batch_size} clips on {args.train_episodes} × "
          f"{args.episode_length} frames; dynamics {args.dyn_steps} steps; held-out {args.eval_episodes} × "
          f"{args.eval_length} frames; device {device}, {args.threads} thread(s); out {out}", flush=True)
    from tqdm.auto import tqdm

    combos = [(scene, seed, encoder) for scene in args.scenes for seed in range(args.seeds) for encoder in args.encoders]
    bar = tqdm(combos, desc="runs", unit="encoder", disable=args.no_progress, dynamic_ncols=True)
    for scene, seed, encoder_name in bar:
        bar.set_postfix_str(f"{scene} seed {seed} {encoder_name}")
        folder = run_folder(out, scene, seed, encoder_name)
        pending = []
        for model_name in args.models:
            path = folder / model_name / "metrics.json"
            if path.is_file():
                stored = json.loads(path.read_text())["budget"]
                if stored != budget:
                    raise SystemExit(f"{path} was written with another budget {stored}; this command asks for "
                                     f"{budget}. Use another --out (or delete that folder).")
                continue
            pending.append(model_name)
        if not pending:
            continue  # finished earlier: skip

        # Episodes (cached): training episodes of this seed, held-out episodes shared by every seed.
        env_id = SCENES[scene]
        train = cached_episodes(train_cache(out, scene, seed, args.train_episodes, args.episode_length), env_id,
                                train_env_seeds(seed, args.train_episodes), args.episode_length, masks=False)
        held_out = cached_episodes(held_out_cache(out, scene, args.eval_episodes, args.eval_length), env_id,
                                   held_out_env_seeds(args.eval_episodes), args.eval_length, masks=True)

        # Encoder (trained or resumed) and its keypoints.
        config = encoder_config(args, seed)
        ckpt, encoder_seconds = None, 0.0
        if encoder_name == "mint":
            ckpt, encoder_seconds = train_mint(args, scene, seed, folder, train, device)
        elif encoder_name == "transporter":
            if args.mint_checkpoint:  # same geometry as the given MINT encoder
                config = load_checkpoint(args.mint_checkpoint)["config"].replace(seed=seed)
            ckpt, encoder_seconds = train_transporter(args, scene, seed, folder, train, config, device)
        kps = keypoints_for(encoder_name, ckpt, folder, train, held_out, device)
        windows = make_windows(list(kps["train_coords"]), list(kps["train_status"]), args.history, args.horizon)
        k = kps["train_coords"].shape[2]

        # Dynamics models: train, save, evaluate on the held-out episodes.
        for model_name in pending:
            model_dir = folder / model_name
            model_dir.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(seed)
            kwargs: dict[str, Any] = dict(num_keypoints=k, history=args.history, horizon=args.horizon)
            if model_name != "constant_velocity":
                kwargs["hidden"] = args.dyn_hidden
            model = build_dynamics(model_name, **kwargs).to(device)
            t0 = time.time()
            log = train_dynamics(model, windows, steps=args.dyn_steps, batch=args.dyn_batch, lr=args.dyn_lr, seed=seed,
                                 device=device, delta=args.huber_delta, progress=not args.no_progress,
                                 desc=f"{encoder_name}/{model_name}")
            train_seconds = time.time() - t0
            save_dynamics(model_dir / "dynamics.pt", model,
                          {"encoder_id": kps["encoder_id"], "encoder": encoder_name, "scene": env_id, "seed": seed,
                           "budget": budget})
            t0 = time.time()
            results, predictions = [], []
            for i in range(args.eval_episodes):
                gt = {key: held_out[key][i] for key in GT_KEYS + ("masks",)}
                pred_c, pred_s = predict_sequence(model, kps["eval_coords"][i], kps["eval_status"][i])
                predictions.append(pred_c)
                results.append(episode_metrics(pred_c, pred_s, kps["eval_coords"][i], kps["eval_status"][i], gt,
                                               args.history, n_walled(scene)))
            eval_seconds = time.time() - t0
            if seed == 0 and args.video_frames > 0:
                from mint_rl.draw import write_video

                ep = 0
                last = min(args.eval_length - args.horizon, args.history - 1 + args.video_frames)
                frames = rollout_frames(held_out["frames"][ep], kps["eval_coords"][ep], kps["eval_status"][ep],
                                        predictions[ep], args.history, np.arange(args.history - 1, last))
                write_video(frames, out / "videos" / f"{scene}_{encoder_name}_{model_name}.mp4", fps=8)
                np.savez_compressed(model_dir / "rollout_episode0.npz", pred_coords=predictions[ep])
            final_loss = float(np.mean([h["loss/total"] for h in log[-50:]])) if log else None
            write_json(model_dir / "metrics.json", {
                "scene": env_id, "encoder": encoder_name, "model": model_name, "seed": seed, "budget": budget,
                "encoder_id": kps["encoder_id"], "num_keypoints": k, "train_windows": len(windows),
                "encoder_seconds": encoder_seconds, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                "final_loss": final_loss, "first_loss": log[0]["loss/total"] if log else None,
                "held_out_env_seeds": held_out_env_seeds(args.eval_episodes),
                "metric_names": list(results[0]), "episodes": results})
            encoder_seconds = 0.0  # counted once per encoder
            if args.no_progress:
                s = {key: [r[key] for r in results if np.isfinite(r[key])] for key in
                     ("success@1", "success@3", "success_coll@3")}
                print(f"{scene} seed {seed} {encoder_name:12s} {model_name:17s}: train {train_seconds:.0f}s, "
                      + ", ".join(f"{key}={100 * np.mean(v) if v else float('nan'):.1f}%" for key, v in s.items()),
                      flush=True)
        write_dynamics_results(runs, time.time() - t_start, figures=False)  # results as they arrive

    bar.close()
    # Report: tables, comparisons and figures over every finished run (agents.dynamics_report).
    report = write_dynamics_results(runs, time.time() - t_start)
    rollout_figure(runs)
    wall = time.time() - t_start
    print()
    print(report["table"])
    print(f"wall time of this invocation: {wall:.0f} s; results in {out}/results.csv, summary.json, table.md",
          flush=True)
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for path in [out / "results.csv", out / "summary.json", out / "table.md", out / "comparisons.json",
                     *out.glob("success_vs_horizon_*.png"), *out.glob("rollouts_*.png")]:
            if path.is_file():
                shutil.copy2(path, export / path.name)
        print(f"exported small result files to {export}")
    report["wall_seconds"] = wall
    report["out"] = out
    return report


if __name__ == "__main__":
    flush_denormals_process_wide()  # before any torch work: its worker threads inherit it (mint_rl.utils)
    main()
