"""What keypoint encoders carry about a task's objects, on held-out episodes: the ladder's measurements.

    python experiments/keypoint_properties.py --encoder runs/ppo_keypoints/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt
    python experiments/keypoint_properties.py --encoder A.pt B.pt --label k8-500 k16-1500 --out results/ladder/properties
    python experiments/keypoint_properties.py --env ALE/Pong-v5 --encoder pong --refine 5 --refine-snap 15 \
        --out results/atari_ladder/properties                     # an ALE game: RAM objects, boxes as masks

Top to bottom: play ``--episodes`` held-out episodes of the task with a uniformly random policy, or
with a saved keypoint agent's (``--agent RUN_DIR``: the states it visits, e.g. objects falling onto
the paddle) (env seeds 20000, 20001, ...: never used for training or PPO evaluation), encode every frame
with each encoder, and measure what ``envs.keypoint_audit`` defines (per-object detection, also
of the object that matters next and by vertical third of the frame; length of misses; position
error in pixels; identity switches and keypoint jumps; keypoints per object; keypoints on the
background; status flips). On an ALE id with a RAM object reader (``envs.atari_objects``) the
held-out frames are ``--frames`` random-policy frames in 4 streams (env seeds 20000+), the objects'
boxes their masks, and detection is also given per slot (Pong: player, enemy, ball), which the
ladder's miss rung then uses. Writes ``properties.json`` (one entry per encoder; the input of
``ppo_keypoints.py --object-properties``, which degrades the true object centres to these
levels) and ``properties.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from agents.saved_agent import AgentEncoderMismatch, frame_policy
from envs.atari_detection import record_atari_objects
from envs.atari_objects import game_layout
from envs.keypoint_audit import atari_episodes, encode_episodes, keypoint_properties, record_episodes, track_episodes
from envs.shipped_encoders import is_encoder_name, shipped_encoder_path, shipped_encoders
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import CheckpointError
from mint_rl.refine import check_refine_window, refine_keypoints

HELD_OUT = 20_000
COLUMNS = ("detect_agent", "detect_objects", "detect_focus", "detect_by_band", "detect_by_stage", "miss_run", "error_px",
           "switches_per_100", "jumps_per_100", "keypoints_per_obj", "background", "status_flips")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", nargs="+", required=True, help="keypoint encoder checkpoints (MINT or Transporter)")
    p.add_argument("--label", nargs="+", default=None, help="one name per encoder (default: the folder names)")
    p.add_argument("--env", default="MintTasks/Catch-v0",
                   help="object task with info['objects'] (MintTasks/*), or an ALE id with a RAM object reader")
    p.add_argument("--episodes", type=int, default=10, help="held-out episodes of a MintTasks/* id (default %(default)s)")
    p.add_argument("--frames", type=int, default=1000, help="held-out frames of an ALE id (default %(default)s)")
    p.add_argument("--tolerance", type=int, default=1,
                   help="pixels a keypoint may lie outside an object's mask and still be on it (default %(default)s)")
    p.add_argument("--track", action="store_true",
                   help="also measure each encoder's keypoints after the keypoint tracker (mint_rl.tracking, what "
                        "ppo_keypoints.py --track feeds PPO): an extra entry '<label>-track'")
    p.add_argument("--refine", type=int, nargs="+", default=[],
                   help="also measure each encoder's keypoints refined with these windows (mint_rl.refine, what "
                        "ppo_keypoints.py --refine W feeds PPO; colour from the --glimpse-size window): an extra "
                        "entry '<label>-rf<W>' per window")
    p.add_argument("--refine-snap", type=int, default=0, metavar="WINDOW",
                   help="with --refine: background keypoints first snap to the nearest non-background pixel of a "
                        "WINDOW × WINDOW square (what ppo_keypoints.py --refine-snap feeds PPO); entries "
                        "'<label>-rf<W>s<WINDOW>'")
    p.add_argument("--codebook", nargs="+", default=None,
                   help="--track: one colour codebook (.npy, cached beside the encoder by ppo_keypoints.py "
                        "--colour-codes) per encoder; keypoints merge and match within their colour code")
    p.add_argument("--glimpse-size", type=int, default=5, help="--codebook: the window whose colour is coded")
    p.add_argument("--agent", default=None, metavar="RUN_DIR",
                   help="play the held-out episodes with this saved keypoint agent's deterministic policy (a run "
                        "folder of ppo_keypoints.py that reads one frame of keypoints) instead of a uniformly random "
                        "one: the properties on the states the agent visits")
    p.add_argument("--out", default="results/ladder/properties", help="output folder (default %(default)s)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.tolerance < 0:
        p.error(f"--tolerance must be >= 0 pixels, got {args.tolerance}")
    if args.label is not None and len(args.label) != len(args.encoder):
        p.error(f"--label gives {len(args.label)} names for {len(args.encoder)} encoders")
    if args.frames < 1:
        p.error(f"--frames must be >= 1, got {args.frames}")
    if args.env.startswith("ALE/"):
        try:
            game_layout(args.env)
        except ValueError as exc:
            p.error(f"--env {args.env}: {exc}")
        if args.agent is not None or args.track:
            p.error(f"--env {args.env}: --agent and --track are for MintTasks/* ids; drop them")
    elif not args.env.startswith("MintTasks/"):
        p.error(f"--env {args.env}: the properties need ground-truth object masks; use a MintTasks/* id or an ALE id "
                "with a RAM object reader")
    if args.refine_snap and (not args.refine or args.refine_snap < 3 or args.refine_snap % 2 == 0):
        p.error(f"--refine-snap must be 0 (off) or an odd window of at least 3 px with --refine, got {args.refine_snap}")
    names = list(args.encoder)
    for i, path in enumerate(args.encoder):
        if is_encoder_name(path):
            try:
                args.encoder[i] = path = str(shipped_encoder_path(path))
            except ValueError as exc:
                p.error(f"--encoder {exc}")
            made_for = shipped_encoders()[path_name := names[i].lower()]["env_id"]
            if made_for != args.env:
                p.error(f"--encoder {path_name} was trained on {made_for}, not on --env {args.env}; give "
                        f"--env {made_for} or another encoder")
        if not Path(path).is_file():
            p.error(f"--encoder {path}: no such file (run `python experiments/ppo_keypoints.py` to pretrain the main "
                    "job's encoder, or `python experiments/pretrain.py --env MintTasks/Catch-v0`)")
    if args.codebook is not None:
        if not args.track:
            p.error("--codebook is read by --track only; add --track")
        if len(args.codebook) != len(args.encoder):
            p.error(f"--codebook gives {len(args.codebook)} files for {len(args.encoder)} encoders")
        for path in args.codebook:
            if not Path(path).is_file():
                p.error(f"--codebook {path}: no such file (ppo_keypoints.py --colour-codes N caches "
                        "colour_codes-n<N>-w<p>-<sha>.npy beside the encoder)")
    for win in args.refine:
        if win < 3 or win % 2 == 0:
            p.error(f"--refine {win}: give odd windows >= 3 pixels")
    if args.glimpse_size < 1:
        p.error(f"--glimpse-size must be >= 1 pixel, got {args.glimpse_size}")
    if args.agent is not None:
        info = Path(args.agent) / "agent.json"
        if not info.is_file():
            p.error(f"--agent {args.agent}: no agent.json there; give a run folder of ppo_keypoints.py "
                    "(<out>/<env>/<agent>/seed<s>)")
        env_id = json.loads(info.read_text()).get("env_id")
        if env_id != args.env:
            p.error(f"--agent {args.agent} was trained on {env_id}, not on --env {args.env}; give --env {env_id}")
    args.label = args.label or [n.lower() if is_encoder_name(n) else Path(e).parent.name
                                for n, e in zip(names, args.encoder)]
    if len(set(args.label)) < len(args.label):
        p.error(f"the encoders' labels {args.label} repeat; give one --label per encoder, all different")
    return args


def table(results: dict[str, dict]) -> str:
    columns = COLUMNS + (("detect_by_slot",) if any("detect_by_slot" in p for p in results.values()) else ())
    head = "| encoder | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1) + "\n"
    rows = []
    for label, props in results.items():
        cells = [" / ".join(f"{v:.0f}" for v in props[c]) if c.startswith("detect_by") else f"{props[c]:.2f}"
                 for c in columns]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> dict[str, dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Held-out episodes with their object masks, played at random or by the saved agent.
    policy = None
    if args.agent is not None:
        import envs  # noqa: F401  (registers MintTasks/*)

        space = gym.make(args.env).observation_space
        try:
            policy = frame_policy(args.agent, space)
        except (ValueError, AgentEncoderMismatch) as exc:
            raise SystemExit(f"--agent {exc}") from exc
    atari = args.env.startswith("ALE/")
    if atari:  # the frames at the first encoder's input size (all encoders must share it)
        configs = [load_encoder(path, device="cpu").config for path in args.encoder]
        sizes = {(tuple(c.image_size), c.in_channels) for c in configs}
        if len(sizes) > 1:
            raise SystemExit(f"--encoder: the encoders take different frames {sorted(sizes)}; measure them apart")
        (size, channels), = sizes
        episodes = atari_episodes(record_atari_objects(args.env, args.frames, frame_size=size, rgb=channels == 3,
                                                       seed=HELD_OUT))
    else:
        episodes = record_episodes(args.env, args.episodes, seed=HELD_OUT, policy=policy)
    frames = sum(len(e.frames) for e in episodes)

    # 2. Every encoder on the same frames.
    results: dict[str, dict] = {}
    codebooks = args.codebook or [None] * len(args.encoder)
    for label, path, codebook in zip(args.label, args.encoder, codebooks):
        try:
            encoder = load_encoder(path, device=args.device)
        except CheckpointError as exc:
            raise SystemExit(f"--encoder {path}: {exc}") from exc
        for flag, win, name in [("--refine", w, "refinement window") for w in args.refine] + (
                [("--refine-snap", args.refine_snap, "snap window")] if args.refine_snap else []):
            try:
                check_refine_window(win, *episodes[0].frames.shape[1:3], name)
            except ValueError as exc:
                raise SystemExit(f"{flag} {win}: {exc}") from exc
        keypoints = encode_episodes(encoder, episodes, args.device)
        entries = [(label, keypoints)]
        for win in args.refine:  # refined on the episode's own frames (mint_rl.refine)
            entries.append((f"{label}-rf{win}" + (f"s{args.refine_snap}" if args.refine_snap else ""), [
                (refine_keypoints(torch.from_numpy(ep.frames).permute(0, 3, 1, 2).contiguous(),
                                  torch.from_numpy(c), win, colour_size=args.glimpse_size,
                                  snap=args.refine_snap).numpy(), st)
                for ep, (c, st) in zip(episodes, keypoints)]))
        if args.track:
            entries.append((f"{label}-track", track_episodes(
                episodes, keypoints, None if codebook is None else np.load(codebook), args.glimpse_size)))
        for name, kps in entries:
            props = keypoint_properties(episodes, kps, args.tolerance)
            results[name] = dict(props, encoder=str(path), num_keypoints=encoder.config.num_keypoints)
            print(f"{name}: " + ", ".join(f"{k}={v:.2f}" for k, v in props.items() if isinstance(v, float)))

    # 3. Outputs.
    meta = dict(env=args.env, episodes=len(episodes), frames=frames, held_out_seed=HELD_OUT,
                tolerance_px=args.tolerance, policy=args.agent or "random", refine_snap=args.refine_snap)
    columns = ("detect_by_stage: Catch-shaped, nan here; detect_by_slot: " + " / ".join(game_layout(args.env).categories)
               if atari else "detect_by_stage: entering / falling / passed the agent")
    played = (f"episodes played by the agent {args.agent} (deterministic)" if args.agent
              else "random-policy videos (streams cut at game ends)" if atari else "random-policy episodes")
    (out / "properties.json").write_text(json.dumps(dict(meta=meta, encoders=results), indent=2))
    (out / "properties.md").write_text(
        f"{args.env}, {len(episodes)} held-out {played} ({frames} frames), mask tolerance "
        f"{args.tolerance} px (`python experiments/keypoint_properties.py`, envs/keypoint_audit.py defines each "
        f"column; detect_by_band: top / middle / bottom third; {columns}; miss_run: objects other than the "
        f"agent)\n\n" + table(results))
    print(f"wrote {out / 'properties.json'} and properties.md")
    return results


if __name__ == "__main__":
    main()
