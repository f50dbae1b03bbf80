"""Which Atari objects do keypoints find? MINT vs the Transporter, per object category, by pretraining setting.

    python experiments/atari_objects_detection.py --games Pong                       # base setting, both methods
    python experiments/atari_objects_detection.py --sweep k=8,16,32 --sweep grid=21,42,84 \\
        --sweep steps=500,1500,3000 --sweep w_mce=25,100,400                         # one factor at a time
    python experiments/atari_objects_detection.py --seeds 3 -k 16 --grid 42           # the chosen setting, 3 seeds
    python experiments/atari_objects_detection.py --games Pong --encoder runs/pretrain/ALE_Pong-v5-s0/encoder.pt
    python experiments/atari_objects_detection.py --games Pong Breakout MsPacman --methods mint --grid 84 --ship
    python experiments/atari_objects_detection.py --games Pong --grid 84 --sweep refine=3,5,9   # refined positions

Top to bottom: check the flags (an unsupported game, a bad sweep or setting stops here); lock ``--out``;
then per game: record held-out frames with their RAM object boxes (``envs.atari_detection``: random
policy, env seeds 10000+, the encoder's frame size; cached), and per seed, method and setting:

1. frames: ``--frames`` random-policy frames of ``ALE/<game>-v5`` in 4 streams from env seed ``seed``
   at ``--image-size`` (what ``pretrain.py --image-size S --seed s`` collects; cached, shared by both methods);
2. the encoder (``MintTrainer`` / ``TransporterTrainer``, the other hyperparameters those of
   ``pretrain.py``), cached per setting in ``<out>/encoders/<game>/<run>/encoder.pt``; an interrupted
   run resumes, and a setting with more ``steps`` continues the finished checkpoint with fewer;
3. scoring (``envs.atari_detection.detection_by_category``): per category the detection rate on the
   undilated boxes, DOP and TOP, and beside them the detection rate on boxes grown by one pixel
   (``detection_1px``: a side measure for objects of a pixel or two, e.g. Pong's ball) and on the object's boxes
   in both emulator frames the observation max-pools (``detection_pooled``: a fast ball is drawn twice in the
   observation, and its last-frame box holds the later image only); per frame UAK
   (active keypoints on no box) and the active keypoints; and what a policy could read without a keypoint on
   the box (``envs.atari_detection.readout_by_category``): the error in pixels of each object's centre read
   from the keypoints by a linear map fitted on the other held-out videos (``probe_px``), beside the constant
   guess's (``probe_base_px``). With ``--refine W`` the keypoints are first moved
   to the centre of the object part under them (``mint_rl.refine``: colour mean shift in a W × W window, no
   labels, no training; what ``ppo_keypoints.py --refine W`` gives an agent).

A sweep varies one factor of the base setting (``-k``, ``--grid``, ``--steps``, ``--w-mce``: the
conditional-entropy weight, MINT only; ``--refine``: scored on the same encoder) at a time; the base setting
is always run. Rows go to
``<out>/results.csv`` (one per game, method, setting, seed and category) as each run finishes, and
``<out>/table.md`` is rewritten (mean ± 95 % t half-width over seeds; ``agents.atari_detection_report``).
Rerunning the command skips the runs in results.csv (``--rescore`` scores them again from their cached encoders,
replacing their rows); an ``--out`` made with another budget is refused.
``--ship`` then writes each game's MINT encoder of the base setting (seed 0, or ``--ship-seed``) into the package as a shipped
encoder (``envs.shipped_encoders``: weights and config, its setting, its rows of the table, this command).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from agents.atari_detection_report import read_results, write_atari_detection_results
from envs.atari_detection import (AtariRecording, detection_by_category, encode_frames, readout_by_category,
                                  record_atari_objects)
from envs.atari_objects import SUPPORTED_GAMES, game_layout
from envs.collect import collect_frames
from envs.shipped_encoders import PRETRAINED_DIR, ship_encoder
from mint_rl.baselines import ENCODER_TYPES, build_trainer, load_encoder
from mint_rl.checkpoint import CheckpointError, load_checkpoint
from mint_rl.config import ConfigError, MintConfig
from mint_rl.frame_cache import frame_source, load_frames, save_frames, source_mismatch
from mint_rl.refine import check_refine_window, refine_keypoints
from mint_rl.run_lock import locked_run_folder
from mint_rl.utils import atomic_write_text, differences, flush_denormals_process_wide, resolve_device

FACTORS = {"k": int, "grid": int, "steps": int, "w_mce": float, "refine": int, "snap": int}  # what --sweep can vary
COLLECT_STREAMS = 4  # pretrain.py's --num-envs default


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", nargs="+", default=list(SUPPORTED_GAMES), metavar="GAME",
                   help=f"ALE names or ids (default: all of {', '.join(SUPPORTED_GAMES)})")
    p.add_argument("--methods", nargs="+", default=list(ENCODER_TYPES), choices=ENCODER_TYPES)
    p.add_argument("--num-keypoints", "-k", type=int, default=16, help="K of the base setting")
    p.add_argument("--grid", type=int, default=None, help="heatmap grid side (default: half of --image-size)")
    p.add_argument("--steps", type=int, default=1500, help="pretraining optimiser steps (pretrain.py's default)")
    p.add_argument("--w-mce", type=float, default=MintConfig.w_mce, help="MINT's conditional-entropy weight")
    p.add_argument("--refine", type=int, default=0, metavar="WINDOW",
                   help="move the keypoints to the centre of the object part under them before scoring "
                        "(mint_rl.refine, an odd window in pixels >= 3; 0: off)")
    p.add_argument("--refine-snap", type=int, default=0, metavar="WINDOW",
                   help="with --refine: a keypoint on the background first moves to the nearest non-background "
                        "pixel of a WINDOW x WINDOW square (mint_rl.refine's snap; odd, >= 3; label suffix s<WINDOW>; "
                        "0: off)")
    p.add_argument("--sweep", action="append", default=[], metavar="FACTOR=V1,V2,...",
                   help=f"vary one factor of the base setting ({', '.join(FACTORS)}); repeat for more factors")
    p.add_argument("--seeds", type=int, default=1, help="pretraining seeds 0..n-1 (frames and initialisation)")
    p.add_argument("--encoder", default=None, help="score this checkpoint (MINT or Transporter) instead of pretraining")
    p.add_argument("--frames", type=int, default=6000, help="random-policy pretraining frames (pretrain.py's default)")
    p.add_argument("--eval-frames", type=int, default=1000, help="held-out frames per game (4 streams)")
    p.add_argument("--image-size", type=int, default=84, help="encoder input side (ALE frames are resized to it)")
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--out", default="runs/atari_objects_detection")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--rescore", action="store_true",
                   help="score the planned runs already in results.csv again (their cached encoders are loaded; one "
                        "that is missing is trained) and replace their rows in place, e.g. to fill a column added "
                        "since (detection_pooled)")
    p.add_argument("--ship-seed", type=int, default=None, metavar="SEED",
                   help="with --ship: the pretraining seed whose encoder is shipped (default 0)")
    p.add_argument("--ship", nargs="?", const=str(PRETRAINED_DIR), default=None, metavar="DIR",
                   help="afterwards, copy each game's MINT encoder of the base setting, seed --ship-seed, into the package "
                        "(DIR, default envs/pretrained/: <game>.pt, loadable by name, envs.shipped_encoders) with its "
                        "detection rows")
    args = p.parse_args(argv)
    try:
        args.games = list(dict.fromkeys(game_layout(g).game for g in args.games))
    except ValueError as exc:  # "no RAM object reader for the Atari game ...; supported games: ..."
        p.error(f"--games: {exc}")
    for name in ("seeds", "frames", "eval_frames", "threads", "checkpoint_every", "steps", "num_keypoints"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.frames < COLLECT_STREAMS * 3:
        p.error(f"--frames must be >= {COLLECT_STREAMS * 3} (a clip of 3 frames in each of {COLLECT_STREAMS} streams)")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        p.error(f"--device: {exc}")
    base = {"k": args.num_keypoints, "grid": args.grid or max(args.image_size // 2, 8), "steps": args.steps,
            "w_mce": args.w_mce, "refine": args.refine, "snap": args.refine_snap}
    args.settings = [base]
    for spec in args.sweep:
        factor, _, values = spec.partition("=")
        if factor.replace("-", "_") not in FACTORS or not values:
            p.error(f"--sweep {spec!r}: give FACTOR=V1,V2,... with FACTOR one of {', '.join(FACTORS)}")
        factor = factor.replace("-", "_")
        try:
            args.settings += [{**base, factor: FACTORS[factor](v)} for v in values.split(",")]
        except ValueError:
            p.error(f"--sweep {spec!r}: {factor} takes {FACTORS[factor].__name__} values, e.g. {factor}=8,16,32")
    args.settings = [dict(s) for s in dict.fromkeys(tuple(s.items()) for s in args.settings)]
    for setting in args.settings:
        if setting["steps"] < 1:
            p.error(f"setting {label(setting)}: steps must be >= 1")
        if setting["refine"]:
            try:
                check_refine_window(setting["refine"], args.image_size, args.image_size)
            except ValueError as exc:
                p.error(f"setting {label(setting)}: --refine {setting['refine']}: {exc} (0: off)")
        if setting["snap"]:
            if not setting["refine"]:
                p.error(f"setting {label(setting)} (refine 0): --refine-snap {setting['snap']} snaps keypoints before "
                        "the refinement: give --refine W too (e.g. --refine 5), or --refine-snap 0 for this setting")
            try:
                check_refine_window(setting["snap"], args.image_size, args.image_size, "snap window")
            except ValueError as exc:
                p.error(f"setting {label(setting)}: --refine-snap {setting['snap']}: {exc} (0: off)")
        try:
            config_for(args, setting, seed=0)
        except ConfigError as exc:
            p.error(f"setting {label(setting)}: {exc}")
    if args.ship is not None and (args.encoder is not None or "mint" not in args.methods):
        p.error("--ship ships the MINT encoders this command pretrains: give --methods with mint, and no --encoder")
    if args.ship_seed is not None and args.ship is None:
        p.error(f"--ship-seed {args.ship_seed} chooses the seed --ship ships: give --ship too, or leave it out")
    args.ship_seed = 0 if args.ship_seed is None else args.ship_seed
    if not 0 <= args.ship_seed < args.seeds:
        p.error(f"--ship-seed {args.ship_seed}: give one of the pretraining seeds 0..{args.seeds - 1} (--seeds {args.seeds})")
    if args.encoder is not None:
        if args.sweep or len(args.games) != 1:
            p.error("--encoder scores one checkpoint on one game: give exactly one of --games and no --sweep")
        try:
            args.given = load_checkpoint(args.encoder)
        except CheckpointError as exc:
            p.error(f"--encoder: {exc}")
        trained_on = str(args.given.get("extra", {}).get("env_id", ""))
        if trained_on.startswith("ALE/") and trained_on.split("/")[1].split("-")[0] != args.games[0]:
            p.error(f"--encoder {args.encoder} was pretrained on {trained_on}, not on {args.games[0]}")
    return args


def label(setting: dict, method: str = "mint") -> str:
    """``k16-g42-s1500-mce100`` (the Transporter has no conditional-entropy weight), ``-r5`` added when the
    keypoints are refined in a 5 × 5 window, ``-r5s15`` when background keypoints first snap in a 15 × 15 one."""
    name = f"k{setting['k']}-g{setting['grid']}-s{setting['steps']}"
    return (name + (f"-mce{setting['w_mce']:g}" if method == "mint" else "")
            + (f"-r{setting['refine']}" if setting.get("refine") else "")
            + (f"s{setting['snap']}" if setting.get("snap") and setting.get("refine") else ""))


def config_for(args: argparse.Namespace, setting: dict, seed: int) -> MintConfig:
    """The encoder config of a setting: pretrain.py's defaults, with the setting's K, grid and w_mce."""
    side = args.image_size
    return MintConfig(num_keypoints=setting["k"], image_size=(side, side), grid_size=(setting["grid"],) * 2,
                      w_mce=setting["w_mce"], hidden_channels=args.hidden_channels, batch_size=args.batch_size,
                      lr=args.lr, seed=seed)


def planned_runs(args: argparse.Namespace) -> list[tuple[str, int, str, dict]]:
    """The runs ``(game, seed, method, setting)`` of the command, fewer steps first so that more steps continue
    them (the Transporter has no ``w_mce``: settings that differ only in it are one Transporter run); with
    ``--encoder``, the given checkpoint's one run."""
    if args.encoder is not None:
        config = args.given["config"]
        given = {"k": config.num_keypoints, "grid": config.grid_size[1], "steps": args.given.get("step", 0),
                 "w_mce": config.w_mce, "refine": args.refine, "snap": args.refine_snap}
        return [(args.games[0], 0, args.given.get("encoder_type", "mint"), given)]
    return [(game, seed, method, setting) for game in args.games for seed in range(args.seeds)
            for method in args.methods
            for setting in sorted({label(s, method): s if method == "mint" else {**s, "w_mce": args.w_mce}
                                   for s in args.settings}.values(),
                                  key=lambda s: (label({**s, "steps": 0}, method), s["steps"]))]


# --------------------------------------------------------------------------- 2. frames and encoders
def held_out(out: Path, game: str, frames: int, config: MintConfig) -> AtariRecording:
    """Held-out frames with object ground truth at the encoder's frame size (cached)."""
    (h, w), c = config.image_size, config.in_channels
    cache = out / "frames" / f"{game}-heldout-n{frames}-{h}x{w}x{c}.npz"
    if cache.is_file():
        recording = AtariRecording.load(cache)
        if recording.pooled_masks is not None:
            return recording
        # cached before the pooled masks were kept: the same seeds give the same frames, recorded again with them
    recording = record_atari_objects(game, frames, frame_size=(h, w), rgb=c == 3)
    recording.save(cache)
    return recording


def training_frames(out: Path, game: str, args: argparse.Namespace, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random-policy frames ``(E, N, H, W, C)`` and episode starts, as pretrain.py collects them (cached)."""
    env_id, kwargs = f"ALE/{game}-v5", {"screen_size": args.image_size}
    source = frame_source(env_id, args.frames, seed, COLLECT_STREAMS, kwargs)
    cache = out / "frames" / f"{game}-f{args.frames}-seed{seed}-{args.image_size}.npz"
    if cache.is_file():
        frames, starts, recorded = load_frames(cache)
        if not source_mismatch(recorded, source):
            return frames, starts
    frames, starts = collect_frames(env_id, args.frames, seed=seed, num_envs=COLLECT_STREAMS,
                                    progress=not args.no_progress, **kwargs)
    save_frames(cache, frames, starts, source)
    return frames, starts


def warm_start(run_dir: Path, steps: int) -> None:
    """Start a run from the finished checkpoint of the same run with the most steps below ``steps`` (if any):
    training on continues the same sample sequence, so it equals training to ``steps`` from scratch."""
    if (run_dir / "encoder.pt").is_file():
        return
    prefix = run_dir.name.rsplit("-s", 1)[0]
    done = [(int(d.name.rsplit("-s", 1)[1]), d) for d in run_dir.parent.glob(f"{prefix}-s*")
            if (d / "encoder.pt").is_file() and d.name.rsplit("-s", 1)[1].isdigit()]
    done = [(n, d) for n, d in done if n < steps and load_checkpoint(d / "encoder.pt")["step"] == n]
    if done:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / "encoder.pt.tmp"
        shutil.copy2(max(done, key=lambda nd: nd[0])[1] / "encoder.pt", tmp)
        os.replace(tmp, run_dir / "encoder.pt")


def encoder_folder(out: Path, game: str, method: str, setting: dict, seed: int) -> Path:
    """``<out>/encoders/<game>/<method>-k16-g42[-mce100]-seed0-s1500/``: a setting's encoder run."""
    return out / "encoders" / game / (f"{method}-k{setting['k']}-g{setting['grid']}"
                                      + (f"-mce{setting['w_mce']:g}" if method == "mint" else "")
                                      + f"-seed{seed}-s{setting['steps']}")


def pretrained(out: Path, game: str, method: str, setting: dict, seed: int, args: argparse.Namespace,
               device: torch.device) -> tuple[torch.nn.Module, float]:
    """The setting's encoder (trained here, resumed or cached) and this call's training seconds."""
    config = config_for(args, setting, seed)
    run_dir = encoder_folder(out, game, method, setting, seed)
    warm_start(run_dir, setting["steps"])
    trainer = build_trainer(method, config, device=device, log_dir=run_dir / "tb",
                            checkpoint_path=run_dir / "encoder.pt")
    trainer.maybe_resume()
    t0 = time.time()
    if trainer.step_count < setting["steps"]:  # frames collected (or read from their cache) only to train on
        frames, starts = training_frames(out, game, args, seed)
        trainer.fit(trainer.frame_buffer(frames, starts), setting["steps"], checkpoint_every=args.checkpoint_every,
                    progress=not args.no_progress,
                    extra_state={"env_id": f"ALE/{game}-v5", "frames": args.frames, "collect_seed": seed})
    trainer.close()
    return trainer.encoder.eval(), time.time() - t0


# --------------------------------------------------------------------------- 3. the experiment
def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    budget = {k: getattr(args, k) for k in ("frames", "eval_frames", "image_size", "hidden_channels", "batch_size",
                                            "lr")}
    with locked_run_folder(out):  # one process per folder; temporary files a killed run left are removed
        budget_path = out / "budget.json"
        if budget_path.is_file():
            changed = differences(json.loads(budget_path.read_text()), budget)
            if changed:
                raise SystemExit(f"{out} holds results of another budget ({'; '.join(changed)}; folder → this "
                                 "command); rerun with its flags or use another --out")
        atomic_write_text(budget_path, json.dumps(budget, indent=2))
        rows = read_results(out / "results.csv")  # runs already scored: skipped (scored again with --rescore)
        plan = [(game, seed, method, setting, label(setting, method) + (f" ({args.encoder})" if args.encoder else ""))
                for game, seed, method, setting in planned_runs(args)]
        key = lambda r: (r["game"], r["method"], r["setting"], r["seed"])  # noqa: E731
        trained = {key(r): r["train_seconds"] for r in rows}  # kept when a cached encoder is scored again
        done = {key(r) for r in rows}
        if args.rescore:  # scored again; their old rows stay until the new ones replace them, in place
            done -= {(game, method, name, str(seed)) for game, seed, method, _, name in plan}
        for game, seed, method, setting, name in plan:
            if (game, method, name, str(seed)) in done:
                continue
            t0 = time.time()
            if args.encoder is not None:
                encoder, train_seconds = load_encoder(args.encoder, device=device), 0.0
            else:
                encoder, train_seconds = pretrained(out, game, method, setting, seed, args, device)
            recording = held_out(out, game, args.eval_frames, encoder.config)
            coords, status = encode_frames(encoder, recording.frames, device)
            if setting["refine"]:
                frames = torch.from_numpy(recording.frames).permute(0, 3, 1, 2).contiguous()
                coords = refine_keypoints(frames, torch.from_numpy(coords), setting["refine"],
                                          snap=setting.get("snap", 0)).numpy()
            report = detection_by_category(recording, coords, status)
            near = detection_by_category(recording, coords, status, dilate=1).categories
            both = detection_by_category(recording, coords, status, pooled=True).categories
            probe = readout_by_category(recording, coords, status)
            if train_seconds < 1.0 and trained.get((game, method, name, str(seed))):  # a cached encoder rescored
                train_seconds = float(trained[(game, method, name, str(seed))])
            new = [{"game": game, "method": method, "setting": name, **setting,
                    "w_mce": setting["w_mce"] if method == "mint" else "", "seed": seed, **r,
                    "detection_1px": near[r["category"]]["detection"],
                    "detection_pooled": both[r["category"]]["detection"], **probe[r["category"]],
                    "train_seconds": round(train_seconds, 1)} for r in report.rows()]
            this = (game, method, name, str(seed))
            scored = [{k: str(v) for k, v in r.items()} for r in new]
            at = [i for i, r in enumerate(rows) if key(r) == this]  # rows of a rescored run: replaced in place
            rows = (rows[:at[0]] + scored + [r for r in rows[at[0]:] if key(r) != this]) if at else rows + scored
            done.add(this)
            write_atari_detection_results(out, rows, budget)  # results as they arrive
            print(f"{game} {method} {name} seed {seed} ({time.time() - t0:.0f}s): "
                  + ", ".join(f"{r['category']} {r['detection']:.0f}%" for r in new) + f"; UAK {report.UAK:.2f}",
                  flush=True)
        # Report: results.csv and table.md over every scored run (agents.atari_detection_report).
        table = write_atari_detection_results(out, rows, budget)
        print(f"\n{table}\n\nresults in {out / 'results.csv'} and {out / 'table.md'}")
        if args.ship is not None:
            base = args.settings[0]
            seed = str(args.ship_seed)
            for game in args.games:
                name = label(base)
                if not any((r["game"], r["method"], r["setting"], r["seed"]) == (game, "mint", name, seed) for r in rows):
                    raise SystemExit(f"--ship: no detection rows of {game} mint {name} seed {seed} in {out}/results.csv")
                shipped = ship_encoder(encoder_folder(out, game, "mint", base, args.ship_seed) / "encoder.pt",
                                       game.lower(),
                                       f"ALE/{game}-v5", {**base, **budget, "seed": args.ship_seed},
                                       [{"category": r["category"], **{k: float(r[k]) for k in ("detection", "DOP", "TOP", "UAK", "active")}}
                                        for r in rows if (r["game"], r["method"], r["setting"], r["seed"])
                                        == (game, "mint", name, seed)],
                                       "python experiments/atari_objects_detection.py " + " ".join(argv_used),
                                       folder=args.ship)
                print(f"shipped {game} ({name}, seed {seed}) as {shipped}")
    return rows


if __name__ == "__main__":
    flush_denormals_process_wide()  # before any torch work: its worker threads inherit it (mint_rl.utils)
    main()
