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
   with a full history and a target ``t + h`` inside the episode:
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
5. Results: episode metrics → mean per seed → mean ± 95 % Student-t half-width over seeds
   (``mint_rl.metrics.summarize``). ``<out>/results.csv`` (one row per scene, encoder,
   model, seed, metric), ``summary.json``, ``table.md`` (one table: encoder × model × h, then
   paired same-seed differences: interaction − gru and − constant velocity, mint − transporter,
   also in ``comparisons.json``, and each encoder's keypoint coverage),
   ``success_vs_horizon_<scene>.png``, ``rollouts_<scene>.png`` and rollout videos
   ``videos/<scene>_<encoder>_<model>.mp4``: the observed keypoints of frame ``t + horizon``
   (filled discs) with the predictions made for it at t (rings of the same colour).

Collision windows (ground truth; pymunk contacts are not exposed in ``info``): object o has
a *collision event* at frame e when its velocity changes between frames e − 1 and e by more
than 0.05 px/step (nothing else changes a velocity in these scenes: no friction, no gravity;
the speed clamp only acts after a collision) while another present object is within contact
distance at e − 1 or e (centre distance ≤ sum of circumscribed radii + both speeds + 0.5 px).
A velocity change with no object that close is a wall bounce and is not counted. The pair
(source t, object o) is a collision window for horizon h when o has an event at some
``e ∈ [t, t + h]``: the motion to predict crosses the collision.

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a plain checkout too

import gymnasium as gym  # noqa: E402

import envs  # noqa: E402, F401  (registers the MintScenes ids)
from envs import SCENE_PRESETS  # noqa: E402
from envs.pretraining import PretrainError, PretrainSettings, pretrain_encoder  # noqa: E402
from envs.scenes import SceneConfig  # noqa: E402
from agents.dynamics import (  # noqa: E402
    DYNAMICS_MODELS, build_dynamics, encoder_identifier, make_windows, predict_sequence, save_dynamics,
    train_dynamics)
from mint_rl.baselines import load_encoder  # noqa: E402
from mint_rl.baselines.transporter import TransporterTrainer  # noqa: E402
from mint_rl.checkpoint import load_checkpoint  # noqa: E402
from mint_rl.config import MintConfig  # noqa: E402
from mint_rl.coords import normalised_to_pixel, pixels_per_unit  # noqa: E402
from mint_rl.data import FrameBuffer  # noqa: E402
from mint_rl.frame_cache import given_frames_source, save_frames  # noqa: E402
from mint_rl.metrics import (  # noqa: E402
    INACTIVE, aggregate, dynamics_success_rate, keypoint_assignments, summarize)
from mint_rl.utils import resolve_device, write_json  # noqa: E402

SCENES = {env_id.split("/")[1].removesuffix("-v0"): env_id for env_id in SCENE_PRESETS}
ENCODERS = ("mint", "transporter", "ground_truth")
HELD_OUT_SEED = 10_000  # held-out episode i uses env seed HELD_OUT_SEED + i
TRAIN_SEED_STRIDE = 1_000  # training episode i of seed s uses env seed TRAIN_SEED_STRIDE * s + i
VELOCITY_EPS_PX = 0.05  # a velocity change above this (px/step) is an interaction (wall or object)
CONTACT_MARGIN_PX = 0.5
WINDOWS = ("", "_coll", "_border")  # metric suffixes: all windows, collision windows, border windows

# (key, column title, format, scale) of the printed table; ↑ higher is better, ↓ lower is better.
COLUMNS = [("success", "success % ↑", "{:.1f}", 100.0), ("success_coll", "success coll % ↑", "{:.1f}", 100.0),
           ("success_border", "success border % ↑", "{:.1f}", 100.0), ("err_px", "err px ↓", "{:.2f}", 1.0),
           ("err_px_coll", "err coll px ↓", "{:.2f}", 1.0), ("motion_err_px", "motion err px ↓", "{:.2f}", 1.0),
           ("motion_err_px_coll", "motion err coll px ↓", "{:.2f}", 1.0),
           ("status_acc", "status acc % ↑", "{:.1f}", 100.0)]

DEFAULTS = dict(seeds=3, encoder_steps=400, batch_size=32, train_episodes=15, episode_length=200, eval_episodes=4,
                eval_length=200, dyn_steps=1000, dyn_batch=64)


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


# --------------------------------------------------------------------------- data
GT_KEYS = ("centres", "velocities", "sizes", "visible", "present", "static", "ids", "areas")


def collect_episodes(env_id: str, env_seeds: list[int], length: int, masks: bool) -> dict[str, np.ndarray]:
    """Play the passive scene from each env seed for ``length`` frames, keeping the ground truth.

    :return: ``frames (E, T, H, W, 3)`` uint8 and the ``info["objects"]`` arrays of
        :data:`GT_KEYS` stacked to ``(E, T, N, ...)``; ``masks (E, T, N, H, W)`` bool if asked.
    """
    env = gym.make(env_id, return_masks=masks)
    keys = GT_KEYS + (("masks",) if masks else ())
    out: dict[str, list] = {k: [] for k in ("frames",) + keys}
    for env_seed in env_seeds:
        frame, info = env.reset(seed=int(env_seed))
        episode: dict[str, list] = {k: [] for k in out}
        for t in range(length):
            if t > 0:
                frame, _, _, _, info = env.step(0)
            episode["frames"].append(frame)
            for k in keys:
                episode[k].append(info["objects"][k])
        for k in out:
            out[k].append(np.stack(episode[k]))
    env.close()
    return {k: np.stack(v) for k, v in out.items()}


def cached_episodes(path: Path, env_id: str, env_seeds: list[int], length: int, masks: bool) -> dict[str, np.ndarray]:
    if not path.is_file():
        data = collect_episodes(env_id, env_seeds, length, masks)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **data)
        os.replace(tmp, path)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# --------------------------------------------------------------------------- ground-truth events
def n_walled(scene: str) -> int:
    """``n_static + n_moving`` of a scene preset: the slots (and ids) of objects that never leave."""
    config = SceneConfig(**SCENE_PRESETS[SCENES[scene]])
    return config.n_static + config.n_moving


def collision_events(gt: dict[str, np.ndarray], height: int, width: int) -> np.ndarray:
    """``(T, N)`` bool: object o changes velocity between frames e − 1 and e while touching another object.

    :param gt: one episode's ground truth, arrays ``(T, N, ...)`` (see :func:`collect_episodes`).
    """
    scale = pixels_per_unit((height, width))
    c = gt["centres"].astype(np.float64) * scale  # px (offsets do not matter for distances)
    v = gt["velocities"].astype(np.float64) * scale  # px / step
    present, ids, sizes, static = gt["present"], gt["ids"], gt["sizes"], gt["static"]
    length, n = present.shape
    events = np.zeros((length, n), dtype=bool)
    if length < 2:
        return events
    same = present[1:] & present[:-1] & (ids[1:] == ids[:-1]) & ~static[1:]  # (T-1, N)
    changed = np.linalg.norm(v[1:] - v[:-1], axis=-1) > VELOCITY_EPS_PX
    speed = np.linalg.norm(v, axis=-1)
    near = np.zeros((length - 1, n), dtype=bool)
    for when in (0, 1):  # contact distance at e − 1 or at e
        cc, pp, ss = c[when:length - 1 + when], present[when:length - 1 + when], sizes[when:length - 1 + when]
        dist = np.linalg.norm(cc[:, :, None] - cc[:, None, :], axis=-1)  # (T-1, N, N)
        reach = (ss[:, :, None] + ss[:, None, :]) / 2.0 + speed[1:, :, None] + speed[1:, None, :] + CONTACT_MARGIN_PX
        close = (dist <= reach) & pp[:, :, None] & pp[:, None, :] & ~np.eye(n, dtype=bool)
        near |= close.any(axis=-1)
    events[1:] = same & changed & near
    return events


def crossing_border(gt: dict[str, np.ndarray], n_walled: int, height: int, width: int) -> np.ndarray:
    """``(T, N)`` bool: a visible entering object whose circumscribed circle is not inside the frame.

    Walled (static and moving) objects never cross the frame edge, so only the entering ones
    count: their ids start at ``n_walled = n_static + n_moving`` (walled objects' ids are
    their slot indices).
    """
    centres_px = normalised_to_pixel(gt["centres"].astype(np.float64), (height, width))
    radius = gt["sizes"].astype(np.float64) / 2.0
    x, y = centres_px[..., 0], centres_px[..., 1]
    outside = (x - radius < -0.5) | (x + radius > width - 0.5) | (y - radius < -0.5) | (y + radius > height - 0.5)
    return gt["visible"].astype(bool) & (gt["ids"] >= n_walled) & outside


def windows_of(flags: np.ndarray, ids: np.ndarray, horizon: int) -> np.ndarray:
    """``(T, N)`` bool: object o (the id in the slot at t) has a flag at some frame of ``[t, t + h]``."""
    length = flags.shape[0]
    out = np.zeros_like(flags)
    for dt in range(horizon + 1):
        out[:length - dt] |= flags[dt:] & (ids[dt:] == ids[:length - dt])
    return out


# --------------------------------------------------------------------------- evaluation
def episode_metrics(pred_coords: np.ndarray, pred_status: np.ndarray, coords: np.ndarray, status: np.ndarray,
                    gt: dict[str, np.ndarray], history: int, n_walled: int) -> dict[str, float]:
    """All metrics of one held-out episode, keys ``<metric><window>@<h>`` (see the module docstring).

    :param pred_coords: ``(T, H, K, 2)`` from :func:`agents.dynamics.predict_sequence`.
    :param pred_status: ``(T, H, K)`` probabilities.
    :param coords: ``(T, K, 2)`` observed keypoints; :param status: ``(T, K)``.
    :param gt: the episode's ground truth with ``masks (T, N, H, W)``.
    :param n_walled: ``n_static + n_moving`` of the scene (see :func:`crossing_border`).
    """
    length, horizon = pred_coords.shape[:2]
    visible = gt["visible"].astype(bool)
    masks = gt["masks"] & visible[:, :, None, None]
    height, width = masks.shape[2:]
    scale = pixels_per_unit((height, width))
    ids = gt["ids"]
    assign = keypoint_assignments(coords, status, masks)
    assign[: history - 1] = INACTIVE  # no prediction without a full history
    events, border = collision_events(gt, height, width), crossing_border(gt, n_walled, height, width)
    rows = np.arange(length)[:, None]
    out: dict[str, float] = {}
    for h in range(1, horizon + 1):
        pred = pred_coords[:, h - 1]
        window = {"": np.ones_like(visible), "_coll": windows_of(events, ids, h),
                  "_border": windows_of(border, ids, h) & visible}
        for suffix, win in window.items():
            on = assign >= 0
            keep = on & win[rows, np.clip(assign, 0, None)]
            src = np.where(keep, assign, INACTIVE)
            out[f"success{suffix}@{h}"] = dynamics_success_rate(pred, masks, src, horizon=h)
            # coordinate errors of keypoints on o at t against o's centre at t + h (same id, still visible)
            t_idx, k_idx = np.nonzero(keep[: length - h])
            o = src[t_idx, k_idx]
            alive = visible[t_idx + h, o] & (ids[t_idx + h, o] == ids[t_idx, o])
            t_idx, k_idx, o = t_idx[alive], k_idx[alive], o[alive]
            if len(t_idx):
                centre_next, centre_now = gt["centres"][t_idx + h, o], gt["centres"][t_idx, o]
                err = np.linalg.norm((pred[t_idx, k_idx] - centre_next) * scale, axis=-1)
                motion = np.linalg.norm(((pred[t_idx, k_idx] - coords[t_idx, k_idx]) - (centre_next - centre_now))
                                        * scale, axis=-1)
                out[f"err_px{suffix}@{h}"], out[f"motion_err_px{suffix}@{h}"] = float(err.mean()), float(motion.mean())
            else:
                out[f"err_px{suffix}@{h}"] = out[f"motion_err_px{suffix}@{h}"] = float("nan")
            out[f"n_pairs{suffix}@{h}"] = float(len(np.unique(np.stack([t_idx, o]), axis=1).T)) if len(t_idx) else 0.0
        src_rows = slice(history - 1, length - h)
        agree = (pred_status[src_rows, h - 1] > 0.5) == (status[history - 1 + h: length] > 0.5)
        out[f"status_acc@{h}"] = float(agree.mean()) if agree.size else float("nan")
    return out


# --------------------------------------------------------------------------- encoders
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
        first = TRAIN_SEED_STRIDE * seed
        source = given_frames_source(SCENES[scene], frames.shape[0] * frames.shape[1], "object_dynamics: the "
                                     f"training episodes, env seeds {first}-{first + len(frames) - 1}")
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
    frames = train["frames"]
    starts = np.zeros(frames.shape[:2], dtype=bool)
    starts[:, 0] = True
    buffer = FrameBuffer(frames.shape[0] * frames.shape[1], (3, 64, 64), config.grid_size,
                         lambda x: torch.zeros(x.shape[0], *config.grid_size))  # no entropy needed
    buffer.add_stream(frames.reshape(-1, *frames.shape[2:]), starts.reshape(-1))
    trainer = TransporterTrainer(config, device=device, log_dir=str(folder / "tb"), checkpoint_path=ckpt)
    trainer.maybe_resume()
    t0 = time.time()
    trainer.fit(buffer, args.encoder_steps, checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                extra_state={"scene": SCENES[scene], "frames": int(frames.shape[0] * frames.shape[1]),
                             "train_env_seeds": [TRAIN_SEED_STRIDE * seed, TRAIN_SEED_STRIDE * seed + frames.shape[0] - 1]})
    trainer.close()
    return ckpt, time.time() - t0


def encode_episodes(encoder: torch.nn.Module, frames: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """``(E, T, H, W, 3)`` uint8 → coords ``(E, T, K, 2)`` and status ``(E, T, K)``."""
    flat = torch.from_numpy(frames.reshape(-1, *frames.shape[2:])).permute(0, 3, 1, 2).contiguous().to(device)
    kp = encoder.encode(flat)
    e, t = frames.shape[:2]
    return (kp.coords.cpu().numpy().reshape(e, t, -1, 2).astype(np.float32),
            kp.status.cpu().numpy().reshape(e, t, -1).astype(np.float32))


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


# --------------------------------------------------------------------------- outputs
def run_dir(out: Path, scene: str, seed: int, encoder: str) -> Path:
    return out / scene / f"seed{seed}" / encoder


def collect_results(out: Path, args: argparse.Namespace) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    done = {}
    for scene in args.scenes:
        for encoder in args.encoders:
            for model in args.models:
                for seed in range(args.seeds):
                    path = run_dir(out, scene, seed, encoder) / model / "metrics.json"
                    if path.is_file():
                        done[(scene, encoder, model, seed)] = json.loads(path.read_text())
    return done


def format_cell(stats: dict[str, float] | None, fmt: str, scale: float) -> str:
    if stats is None or not np.isfinite(stats["mean"]):
        return "–"
    cell = fmt.format(stats["mean"] * scale)
    if np.isfinite(stats["half_width"]):
        cell += " ± " + fmt.format(stats["half_width"] * scale)
    return cell


def markdown_table(summary: dict[str, Any], args: argparse.Namespace) -> str:
    lines = []
    for scene in args.scenes:
        if scene not in summary:
            continue
        lines += [f"**{scene}**", "", "| encoder | model | h | n | " + " | ".join(c[1] for c in COLUMNS) + " |",
                  "|---|---|---|---|" + "---|" * len(COLUMNS)]
        for encoder in args.encoders:
            for model in args.models:
                stats = summary[scene].get(encoder, {}).get(model)
                if stats is None:
                    continue
                for h in range(1, args.horizon + 1):
                    n = int(stats[f"success@{h}"]["n"])
                    cells = [format_cell(stats.get(f"{key}@{h}"), fmt, scale) for key, _, fmt, scale in COLUMNS]
                    lines.append(f"| {encoder} | {model} | {h} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


COMPARED = ("success", "success_coll", "success_border", "motion_err_px_coll")


def seed_means(result: dict[str, Any]) -> dict[str, float]:
    """Mean over a run's episodes of each metric (nan where no episode defines it)."""
    means = {}
    for metric in result["metric_names"]:
        values = np.array([ep[metric] for ep in result["episodes"]], dtype=np.float64)
        finite = values[np.isfinite(values)]
        means[metric] = float(finite.mean()) if finite.size else float("nan")
    return means


def paired_comparisons(done: dict[tuple[str, str, str, int], dict[str, Any]], args: argparse.Namespace
                       ) -> dict[str, Any]:
    """Paired (same seed) differences with 95 % t-intervals over seeds, and keypoint coverage.

    - ``models``: per scene and encoder, interaction − gru and interaction − constant_velocity;
    - ``encoders``: per scene and model, mint − transporter;
    on :data:`COMPARED` at every horizon. ``coverage``: per scene and encoder, the mean number
    of (frame, object) pairs per held-out episode with ≥ 1 keypoint on the object (``n_pairs@1``).
    """
    means = {key: seed_means(r) for key, r in done.items()}
    out: dict[str, Any] = {"models": {}, "encoders": {}, "coverage": {}}

    def diff(a: tuple, b: tuple) -> dict[str, Any]:
        seeds = [s for s in range(args.seeds) if (*a, s) in means and (*b, s) in means]
        result = {}
        for metric in COMPARED:
            for h in range(1, args.horizon + 1):
                key = f"{metric}@{h}"
                result[key] = aggregate([means[(*a, s)][key] - means[(*b, s)][key] for s in seeds])
        return result

    for scene in args.scenes:
        for encoder in args.encoders:
            for other in ("gru", "constant_velocity"):
                if "interaction" in args.models and other in args.models:
                    out["models"].setdefault(scene, {}).setdefault(encoder, {})[f"interaction-{other}"] = diff(
                        (scene, encoder, "interaction"), (scene, encoder, other))
            counts = [means[(scene, encoder, m, s)]["n_pairs@1"] for m in args.models for s in range(args.seeds)
                      if (scene, encoder, m, s) in means]
            if counts:
                out["coverage"].setdefault(scene, {})[encoder] = float(np.mean(counts))
        if "mint" in args.encoders and "transporter" in args.encoders:
            for model in args.models:
                out["encoders"].setdefault(scene, {})[f"{model}: mint-transporter"] = diff(
                    (scene, "mint", model), (scene, "transporter", model))
    return out


def format_diff(stats: dict[str, float] | None, scale: float) -> str:
    """``+1.6 ± 4.3`` (signed mean, unsigned half-width), ``*`` when the interval excludes 0."""
    if stats is None or not np.isfinite(stats["mean"]):
        return "–"
    digits = 1 if scale == 100.0 else 2
    cell = f"{stats['mean'] * scale:+.{digits}f}"
    if np.isfinite(stats["half_width"]):
        cell += f" ± {stats['half_width'] * scale:.{digits}f}"
        if abs(stats["mean"]) > stats["half_width"]:
            cell += " *"
    return cell


def comparisons_markdown(comparisons: dict[str, Any], args: argparse.Namespace) -> str:
    """Paired differences at the largest horizon (percentage points; px for the motion error)."""
    h = args.horizon
    cols = [(f"{m}@{h}", f"Δ {m} @{h}" + (" px" if "px" in m else " pp"), 1.0 if "px" in m else 100.0)
            for m in COMPARED]
    lines = [f"Paired differences (same seed; mean ± 95% t-interval over seeds; * the interval excludes 0) "
             f"at h = {h}:", "",
             "| scene | comparison | " + " | ".join(c[1] for c in cols) + " |", "|---|---|" + "---|" * len(cols)]
    for group in ("models", "encoders"):
        for scene, by_key in comparisons[group].items():
            items = ([(f"{enc}: {name}", d) for enc, by_name in by_key.items() for name, d in by_name.items()]
                     if group == "models" else list(by_key.items()))
            for label, d in items:
                cells = [format_diff(d.get(key), scale) for key, _, scale in cols]
                lines.append(f"| {scene} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Keypoint coverage: mean (frame, object) pairs per held-out episode with ≥ 1 keypoint on the "
              "object (ground truth: every visible object):", ""]
    for scene, by_encoder in comparisons["coverage"].items():
        lines.append(f"- {scene}: " + ", ".join(f"{e} {v:.0f}" for e, v in by_encoder.items()))
    return "\n".join(lines) + "\n"


def horizon_figure(summary: dict[str, Any], scene: str, args: argparse.Namespace, path: Path) -> None:
    """Success rate vs horizon (all / collision / border windows), one line per encoder and model."""
    from matplotlib.figure import Figure

    panels = [("success", "all windows"), ("success_coll", "collision windows"), ("success_border", "border windows")]
    panels = [p for p in panels if any(np.isfinite(summary[scene].get(e, {}).get(m, {}).get(f"{p[0]}@1", {})
                                                   .get("mean", np.nan))
                                       for e in args.encoders for m in args.models)]
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    colours = {"mint": "tab:blue", "transporter": "tab:orange", "ground_truth": "tab:green"}
    styles = {"interaction": "-", "gru": "--", "constant_velocity": ":"}
    hs = np.arange(1, args.horizon + 1)
    for ax, (key, title) in zip(axes, panels):
        for encoder in args.encoders:
            for model in args.models:
                stats = summary[scene].get(encoder, {}).get(model)
                if stats is None:
                    continue
                mean = np.array([stats[f"{key}@{h}"]["mean"] for h in hs]) * 100
                half = np.array([stats[f"{key}@{h}"]["half_width"] for h in hs]) * 100
                ax.errorbar(hs + 0.04 * (list(args.models).index(model) - 1), mean,
                            yerr=np.where(np.isfinite(half), half, 0.0), capsize=2, color=colours.get(encoder),
                            linestyle=styles.get(model, "-"), marker="o", markersize=3, label=f"{encoder} / {model}")
        ax.set_title(f"{scene}: {title}", fontsize=10)
        ax.set_xlabel("horizon h (steps)")
        ax.set_xticks(hs)
        ax.set_ylabel("h-step success %")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.savefig(path, format="png")


def write_outputs(out: Path, args: argparse.Namespace, budget: dict[str, Any], wall: float,
                  figures: bool = True) -> dict[str, Any]:
    """Rewrite results.csv, summary.json, table.md (and the figures) from every finished run."""
    done = collect_results(out, args)
    rows = []
    for (scene, encoder, model, seed), result in sorted(done.items()):
        for metric in result["metric_names"]:
            values = np.array([ep[metric] for ep in result["episodes"]], dtype=np.float64)
            finite = values[np.isfinite(values)]
            rows.append({"scene": scene, "encoder": encoder, "model": model, "seed": seed, "metric": metric,
                         "value": float(finite.mean()) if finite.size else float("nan"),
                         "n_episodes": int(finite.size)})
    tmp = out / "results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["scene", "encoder", "model", "seed", "metric", "value", "n_episodes"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "results.csv")

    summary: dict[str, Any] = {}
    for (scene, encoder, model, _), _r in done.items():
        summary.setdefault(scene, {}).setdefault(encoder, {}).setdefault(model, None)
    for scene, by_encoder in summary.items():
        for encoder, by_model in by_encoder.items():
            for model in by_model:
                per_seed = {seed: r["episodes"] for (s, e, m, seed), r in done.items()
                            if (s, e, m) == (scene, encoder, model)}
                by_model[model] = summarize(per_seed)
    runs = {f"{s}/seed{seed}/{e}/{m}": {k: r[k] for k in ("train_seconds", "eval_seconds", "final_loss",
                                                            "encoder_seconds")}
            for (s, e, m, seed), r in sorted(done.items())}
    write_json(out / "summary.json", {
        "budget": budget, "held_out_env_seeds": [HELD_OUT_SEED, HELD_OUT_SEED + args.eval_episodes - 1],
        "aggregation": "episode metrics → mean per seed → mean ± 95% Student-t half-width over n seeds",
        "success_and_status_acc_are_fractions": True, "errors_in_frame_pixels": True,
        "wall_seconds_this_invocation": wall, "runs": runs, "summary": summary})
    note = (f"mean ± 95% t-interval half-width over n seeds; encoders: {budget['encoder_steps']} steps × "
            f"{budget['batch_size']} clips, K = {budget['num_keypoints']}, {budget['train_episodes']} training episodes "
            f"× {budget['episode_length']} frames; dynamics: history {budget['history']} → horizon {budget['horizon']}, "
            f"{budget['dyn_steps']} steps × {budget['dyn_batch']} windows; held-out: {budget['eval_episodes']} episodes × "
            f"{budget['eval_length']} frames. Errors in frame pixels (64 × 64).")
    comparisons = paired_comparisons(done, args)
    write_json(out / "comparisons.json", comparisons)
    table = note + "\n\n" + markdown_table(summary, args) + "\n" + comparisons_markdown(comparisons, args)
    (out / "table.md").write_text(table + "\n")
    if figures:
        for scene in summary:
            horizon_figure(summary, scene, args, out / f"success_vs_horizon_{scene}.png")
    return {"summary": summary, "table": table, "rows": rows}


def overlay(frame: np.ndarray, observed: np.ndarray, observed_status: np.ndarray, predicted: np.ndarray,
            scale: int = 4) -> np.ndarray:
    """Observed keypoints as filled discs (inactive: rings), predicted ones as thinner rings on top."""
    from mint_rl.draw import draw_keypoints

    image = draw_keypoints(frame, observed, observed_status, scale=scale)
    return draw_keypoints(image, predicted, np.zeros(len(predicted)), radius=max(2.0, image.shape[0] / 25.0))


def rollout_frames(frames: np.ndarray, coords: np.ndarray, status: np.ndarray, pred: np.ndarray, history: int,
                   sources: np.ndarray, scale: int = 4) -> list[np.ndarray]:
    """Frame ``t + H`` with its observed keypoints and the predictions made for it at source t."""
    horizon = pred.shape[1]
    return [overlay(frames[t + horizon], coords[t + horizon], status[t + horizon], pred[t, horizon - 1], scale)
            for t in sources]


# --------------------------------------------------------------------------- main
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
    print(f"object dynamics: scenes {args.scenes}, encoders {args.encoders}, models {args.models}, {args.seeds} "
          f"seed(s); encoders {args.encoder_steps} steps × {args.batch_size} clips on {args.train_episodes} × "
          f"{args.episode_length} frames; dynamics {args.dyn_steps} steps; held-out {args.eval_episodes} × "
          f"{args.eval_length} frames; device {device}, {args.threads} thread(s); out {out}", flush=True)
    from tqdm.auto import tqdm

    combos = [(scene, seed, encoder) for scene in args.scenes for seed in range(args.seeds) for encoder in args.encoders]
    bar = tqdm(combos, desc="runs", unit="encoder", disable=args.no_progress, dynamic_ncols=True)
    for scene, seed, encoder_name in bar:
        bar.set_postfix_str(f"{scene} seed {seed} {encoder_name}")
        folder = run_dir(out, scene, seed, encoder_name)
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

        # 1. Episodes (cached): training episodes of this seed, held-out episodes shared by every seed.
        env_id = SCENES[scene]
        train = cached_episodes(out / "data" / f"{scene}-train-s{seed}-e{args.train_episodes}-t{args.episode_length}.npz",
                                env_id, [TRAIN_SEED_STRIDE * seed + i for i in range(args.train_episodes)],
                                args.episode_length, masks=False)
        held_out = cached_episodes(out / "data" / f"{scene}-heldout-e{args.eval_episodes}-t{args.eval_length}.npz",
                                   env_id, [HELD_OUT_SEED + i for i in range(args.eval_episodes)], args.eval_length,
                                   masks=True)

        # 2. Encoder (trained or resumed) and its keypoints.
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

        # 3. Dynamics models: train, save, evaluate on the held-out episodes.
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
                "held_out_env_seeds": [HELD_OUT_SEED + i for i in range(args.eval_episodes)],
                "metric_names": list(results[0]), "episodes": results})
            encoder_seconds = 0.0  # counted once per encoder
            if args.no_progress:
                s = {key: [r[key] for r in results if np.isfinite(r[key])] for key in
                     ("success@1", "success@3", "success_coll@3")}
                print(f"{scene} seed {seed} {encoder_name:12s} {model_name:17s}: train {train_seconds:.0f}s, "
                      + ", ".join(f"{key}={100 * np.mean(v) if v else float('nan'):.1f}%" for key, v in s.items()),
                      flush=True)
        write_outputs(out, args, budget, time.time() - t_start, figures=False)  # results as they arrive

    bar.close()
    report = write_outputs(out, args, budget, time.time() - t_start)
    rollout_figure(out, args)
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


def rollout_figure(out: Path, args: argparse.Namespace, columns: int = 4) -> None:
    """``rollouts_<scene>.png``: seed 0, held-out episode 0, frames around collisions; one row per encoder/model.

    Each tile is frame ``t + horizon`` with its observed keypoints (filled) and the predictions
    made for it at t (rings); the first tile of a row names the encoder and model.
    """
    import cv2

    from mint_rl.draw import image_grid

    for scene in args.scenes:
        data = out / "data" / f"{scene}-heldout-e{args.eval_episodes}-t{args.eval_length}.npz"
        if not data.is_file():
            continue
        with np.load(data) as d:
            gt = {key: d[key][0] for key in GT_KEYS}
            frames = d["frames"][0]
        events = collision_events(gt, frames.shape[1], frames.shape[2]).any(axis=1)
        candidates = [t for t in range(args.history - 1, len(frames) - args.horizon)
                      if events[t: t + args.horizon + 1].any()]
        if not candidates:
            candidates = list(range(args.history - 1, len(frames) - args.horizon))
        sources = np.array(candidates)[np.linspace(0, len(candidates) - 1, columns).round().astype(int)]
        tiles = []
        for encoder in args.encoders:
            folder = run_dir(out, scene, 0, encoder)
            kp_cache = folder / "keypoints.npz"
            if encoder == "ground_truth":
                with np.load(data) as d:
                    coords, status = d["centres"][0].astype(np.float32), d["visible"][0].astype(np.float32)
            elif kp_cache.is_file():
                with np.load(kp_cache) as d:
                    coords, status = d["eval_coords"][0], d["eval_status"][0]
            else:
                continue
            for model in args.models:
                rollout = folder / model / "rollout_episode0.npz"
                if not rollout.is_file():
                    continue
                with np.load(rollout) as d:
                    pred = d["pred_coords"]
                row = rollout_frames(frames, coords, status, pred, args.history, sources, scale=2)
                cv2.putText(row[0], f"{encoder}/{model}", (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1,
                            cv2.LINE_AA)
                tiles += row
        if tiles:
            grid = image_grid(tiles, ncols=columns)
            cv2.imwrite(str(out / f"rollouts_{scene}.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
