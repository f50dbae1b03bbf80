"""Does a keypoint observation carry enough to play Catch? A scripted controller on it, no learning.

    python experiments/scripted_catch.py \
        --encoder runs/catch13m/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt \
        --out results/ladder/scripted

An instrument of the observation ladder (docs/keypoint_ladder.md), not an agent: it uses what
we know about Catch to read the observation the way a perfect policy would, so its return is
what the observation allows, whatever PPO makes of it. The controller (``envs.catch_controller``),
the same for both observations:

* the paddle: the mean x of the keypoints coded white (the paddle's colour);
* the target: among the active keypoints above the paddle whose code is neither the background
  (the darkest code), red (bad objects) nor white, the lowest one (the next to land);
* the action: toward the target's x, staying within a 2-pixel dead zone.

It plays the held-out evaluation episodes of the main job's training seed ``--seed`` (env seed
``agents.experiment_settings.eval_seed``) twice: on the true object centres of ``info["objects"]``
(with the true colours) and on the MINT keypoints with their colour codes (the main job's
representation, one frame; ``--track`` adds the keypoint tracker). Each episode counts the good
objects caught, the red ones caught and the good ones missed. Writes ``scripted.json`` and
``scripted.md`` to ``--out``.

``--agents RUN_DIR ...`` also plays saved PPO agents of ``experiments/ppo_keypoints.py`` (their own
observation: keypoints with their stack and codes, pixels or the true state) on the same episodes
and counts the same outcomes, so a weak agent can be told apart: catching red (appearance) or
missing good objects (reading where they are).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecTransposeImage

import envs  # noqa: F401  (registers MintTasks/*)
from agents.experiment_envs import make_vec
from agents.experiment_settings import eval_seed
from agents.saved_agent import agent_observation_options, load_agent
from agents.tracked_vec_env import TrackedKeypointVecEnv
from agents.vec_env import MintKeypointVecEnv
from envs.catch_controller import code_roles, keypoint_action, object_action
from envs.keypoint_observation import ObservationOptions
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import CheckpointError
from mint_rl.utils import write_json

ENV = "MintTasks/Catch-v0"
GLIMPSE = 5  # the main job's window (agents.experiment_settings.SCENE_REPRESENTATION)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", required=True, help="MINT checkpoint whose keypoints are read")
    p.add_argument("--codebook", default=None,
                   help="colour codebook .npy (N, 3) in [0, 1] (default: the one the main job cached beside the "
                        "encoder, colour_codes-n8-w5-<sha>.npy)")
    p.add_argument("--track", action="store_true", help="read the tracked entities (mint_rl.tracking) instead")
    p.add_argument("--agents", nargs="*", default=[], metavar="RUN_DIR",
                   help="saved Catch agents (run folders of experiments/ppo_keypoints.py) to play on the same episodes")
    p.add_argument("--episodes", type=int, default=20, help="held-out episodes (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training seed whose held-out episodes are played")
    p.add_argument("--out", default="runs/scripted_catch", help="output folder (default %(default)s)")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    for run in args.agents:
        if not (Path(run) / "agent.json").is_file():
            p.error(f"--agents {run}: not a run folder of experiments/ppo_keypoints.py (no agent.json)")
    if not Path(args.encoder).is_file():
        p.error(f"--encoder {args.encoder}: no such file")
    if args.codebook is None:
        found = sorted(Path(args.encoder).parent.glob(f"colour_codes-n8-w{GLIMPSE}-*.npy"))
        if not found:
            p.error(f"--codebook: none given and no colour_codes-n8-w{GLIMPSE}-*.npy beside {args.encoder}; run the "
                    "main job on that encoder once (it caches the codebook) or give --codebook")
        args.codebook = str(found[0])
    return args


def play(venv: VecEnv, act: Any, episodes: int, seed: int) -> np.ndarray:
    """``(episodes, 3)``: good caught, red caught, good missed per episode."""
    venv.seed(seed)
    obs, info = venv.reset(), None
    counts, episode = np.zeros((episodes, 3)), 0
    while episode < episodes:
        obs, _, done, infos = venv.step(np.array([act(obs[0], info)]))
        info = infos[0]
        counts[episode] += [len(info["caught_good"]), len(info["caught_bad"]), len(info["missed_good"])]
        if done[0]:
            episode, info = episode + 1, None
    return counts


def agent_env(run_dir: Path) -> tuple[Any, VecEnv]:
    """A saved agent and the one-env eval env that gives it its own observation."""
    loaded = load_agent(run_dir)
    info, settings = loaded.info, loaded.info["settings"]
    if info["env_id"] != ENV:
        raise SystemExit(f"--agents {run_dir}: a {info['env_id']} agent; this script plays {ENV}")
    if info["agent"] == "pixels":
        return loaded.model, VecTransposeImage(VecFrameStack(make_vec(ENV, "pixels", 1, False), info["n_stack"] or 2))
    if info["agent"] == "ground_truth":
        return loaded.model, make_vec(ENV, "state", 1, False)
    if info["agent"] != "mint":
        raise SystemExit(f"--agents {run_dir}: a {info['agent']!r} agent; pixels, ground_truth and mint are played")
    try:
        options = agent_observation_options(loaded, run_dir)
    except ValueError as exc:
        raise SystemExit(f"--agents {exc}") from exc
    venv = MintKeypointVecEnv(make_vec(ENV, "rgb", 1, False), loaded.encoder, options=options)
    if settings.get("track"):
        venv = TrackedKeypointVecEnv(venv, settings["colour_codes"], loaded.encoder.config.image_size)
    return loaded.model, VecFrameStack(venv, info["n_stack"])


def summary(counts: np.ndarray) -> dict[str, float]:
    returns = counts[:, 0] - counts[:, 1]
    half = 1.96 * returns.std(ddof=1) / np.sqrt(len(returns)) if len(returns) > 1 else float("nan")
    return {"return": float(returns.mean()), "return_ci95": float(half), "good_caught": float(counts[:, 0].mean()),
            "red_caught": float(counts[:, 1].mean()), "good_missed": float(counts[:, 2].mean()),
            "episodes": len(returns)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    try:
        encoder = load_encoder(args.encoder).eval()
    except CheckpointError as exc:
        raise SystemExit(f"--encoder: {exc}") from exc
    codebook = np.load(args.codebook)
    if codebook.ndim != 2 or codebook.shape[1] != 3:
        raise SystemExit(f"--codebook {args.codebook}: expected an (N, 3) colour array, got shape {codebook.shape}")
    roles = code_roles(codebook)
    seed = eval_seed(args.seed)

    def base() -> VecEnv:
        return DummyVecEnv([lambda: gym.make(ENV)])

    keypoints = MintKeypointVecEnv(base(), encoder, options=ObservationOptions(glimpse_size=GLIMPSE,
                                                                               colour_codes=codebook))
    if args.track:
        keypoints = TrackedKeypointVecEnv(keypoints, len(codebook), encoder.config.image_size)
    results = {
        "true centres": summary(play(base(), lambda o, i: object_action(i and i.get("objects")), args.episodes, seed)),
        "MINT keypoints" + (" tracked" if args.track else ""): summary(
            play(keypoints, lambda o, i: keypoint_action(o, roles), args.episodes, seed)),
    }
    for run in map(Path, args.agents):
        model, venv = agent_env(run)
        results[f"PPO agent {run}"] = summary(play(
            venv, lambda o, i, m=model: int(m.predict(o[None], deterministic=True)[0][0]), args.episodes, seed))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scripted.json", {"encoder": args.encoder, "codebook": args.codebook, "roles": roles,
                                       "seed": args.seed, "results": results})
    lines = [f"Scripted controller on {ENV}, {args.episodes} held-out episodes (training seed {args.seed}'s); "
             f"encoder {args.encoder}", "",
             "| observation | return (± 95 % CI) | good caught | red caught | good missed |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['return']:.2f} ± {r['return_ci95']:.2f} | {r['good_caught']:.2f} | {r['red_caught']:.2f} "
              f"| {r['good_missed']:.2f} |" for name, r in results.items()]
    (out / "scripted.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
