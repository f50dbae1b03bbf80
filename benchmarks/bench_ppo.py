"""PPO training speed: frozen-encoder MINT keypoint agent vs pixel (NatureCNN) agent.

    python benchmarks/bench_ppo.py                                   # MintTasks/Catch-v0 and ALE/Pong-v5
    python benchmarks/bench_ppo.py --envs MintTasks/Catch-v0 --repeats 3
    python benchmarks/bench_ppo.py --envs ALE/Pong-v5 --encoder ENC.pt --refine 5   # a trained Atari encoder, refined

Training frames per second as SB3 reports them (``time/fps``: env steps per wall second of
``learn()``, rollout collection and gradient updates included). Both agents are built exactly
as ``experiments/ppo_keypoints.py`` builds its ``mint`` and ``pixels`` agents (same envs,
wrappers, PPO hyperparameters and number of envs), in ONE process on one torch thread, and
trained in alternating short ``learn()`` chunks (warm-up, then keypoints, pixels, keypoints,
pixels, ...), so both see the same machine load; the table gives the median over chunks and
the ratio of the medians. The keypoint agent's cost includes the encoder forward on every
env step. Its weights change the cost only through the number of active keypoints (the relation
network of the object-task default runs on the pairs of present keypoints): by default a freshly
initialised encoder of the experiment's default geometry is used, whose status threshold is
calibrated on its first batch so that about half its keypoints are active; ``--encoder PATH``
measures a trained one (the main job's: ``runs/ppo_keypoints/<env>/encoders/.../encoder.pt``).
Target: keypoints >= 2x pixels.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from agents.experiment_encoders import check_encoder
from agents.experiment_envs import frame_shape
from agents.experiment_settings import EXTRACTORS, ExperimentError, PPOExperiment
from agents.ppo_experiment import build_agent
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder


def bench_env(env_id: str, rollouts_per_chunk: int, repeats: int, encoder: str | None, k: int,
              agent_options: dict | None = None) -> dict:
    """Median training fps of the keypoint and pixel agents on one env, interleaved chunks.

    :param agent_options: the keypoint agent's representation, as ``PPOExperiment`` fields (``extractor``,
        ``relation_dim``, ``glimpse_size``, ``colour_codes``, ``track``, ``aux_reward``, ``refine``; default: the main
        job's for the env).
    """
    try:
        exp = PPOExperiment(env=env_id, overlay_every=0, no_progress=True, num_keypoints=k, **(agent_options or {}))
        h, w, c = frame_shape(env_id)
        if encoder is not None:
            check_encoder(encoder, (h, w, c), env_id)
    except ExperimentError as exc:
        raise SystemExit(str(exc)) from exc
    if encoder is None:
        torch.manual_seed(0)
        enc = KeypointEncoder(MintConfig(num_keypoints=k, in_channels=c, image_size=(h, w),
                                         feature_dim=exp.feature_dim)).eval()
    else:
        enc = Path(encoder)
    codebook = None
    if exp.colour_codes:  # the codebook's values do not change the cost
        codebook = np.random.default_rng(0).random((exp.colour_codes, c)).astype(np.float32)
    # each agent with the callbacks the experiment trains it with (the keypoint agent's auxiliary loss, if any)
    keypoints, _, keypoint_callbacks, _ = build_agent("mint", exp, 0, enc, None, codebook)
    models = {"keypoints": keypoints, "pixels": build_agent("pixels", exp, 0, None, None)[0]}
    callbacks = {"keypoints": keypoint_callbacks, "pixels": []}
    chunk = rollouts_per_chunk * exp.n_envs * exp.ppo["n_steps"]
    fps: dict[str, list[float]] = {name: [] for name in models}
    for rep in range(repeats + 1):  # repetition 0 warms up (allocations, first reset)
        for name, model in models.items():
            start = model.num_timesteps
            t0 = time.perf_counter()
            model.learn(chunk, reset_num_timesteps=False, callback=callbacks[name])
            if rep > 0:
                fps[name].append((model.num_timesteps - start) / (time.perf_counter() - t0))
    for model in models.values():
        model.get_env().close()
    return {"env": env_id, "chunk": chunk, "n_envs": exp.n_envs,
            **{name: statistics.median(v) for name, v in fps.items()},
            **{f"{name}_all": v for name, v in fps.items()}}


def machine() -> str:
    """The CPU's model name and core count, and torch's version: the ratio depends on the CPU (a conv-heavy pixel agent
    loses more than the keypoint agent on a slower one: results/ppo/speed_s22/), so every table names it."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"CPU: {model}, {os.cpu_count()} cores; torch {torch.__version__}"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["MintTasks/Catch-v0", "ALE/Pong-v5"])
    p.add_argument("--repeats", type=int, default=5, help="measured chunks per agent (after one warm-up chunk)")
    p.add_argument("--rollouts", type=int, default=2, help="PPO rollouts (and updates) per learn() chunk")
    p.add_argument("--num-keypoints", "-k", type=int, default=8)
    p.add_argument("--encoder", default=None, help="a trained MINT checkpoint (default: a fresh encoder with about half its keypoints active; the cost follows the number of active keypoints)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=None,
                   help="the keypoint agent's extractor (default: the main job's for each env)")
    p.add_argument("--glimpse-size", type=int, default=None,
                   help="the keypoint agent's glimpses (its glimpse CNN is part of the measured cost; default: the "
                        "main job's for each env)")
    p.add_argument("--relation-dim", type=int, default=None,
                   help="the keypoint agent's relation network width (with the relation extractor; default: the "
                        "main job's for each env)")
    p.add_argument("--colour-codes", type=int, default=None,
                   help="the keypoint agent's colour categories (with --glimpse-size, the coded window; default: the "
                        "main job's for each env)")
    p.add_argument("--track", action="store_true", help="the keypoint agent reads tracked entities (--track)")
    p.add_argument("--equal-codes", action=argparse.BooleanOptionalAction, default=None,
                   help="the keypoint agent's colour codes start equal (--equal-codes; default: the main job's for "
                        "each env, on for object tasks)")
    p.add_argument("--refine", type=int, default=None,
                   help="the keypoint agent's keypoints refined by colour mean shift in a W x W window (mint_rl.refine; "
                        "its cost is part of the measured one; odd, >= 3; 0: off; default: the main job's for each env)")
    p.add_argument("--aux-reward", type=float, default=None,
                   help="the keypoint agent's auxiliary reward prediction (its updates are part of the measured cost; "
                        "0: off; default: the main job's for each env)")
    args = p.parse_args(argv)
    agent_options = {name: getattr(args, name) for name in ("extractor", "relation_dim", "glimpse_size", "colour_codes",
                                                            "aux_reward", "refine")
                     if getattr(args, name) is not None}
    switches = ([] if not args.track else ["--track"]) + \
        ([] if args.equal_codes is None else ["--equal-codes" if args.equal_codes else "--no-equal-codes"])
    agent_flags = switches + [f for name, value in agent_options.items() for f in (f"--{name.replace('_', '-')}", str(value))]
    if args.track:
        agent_options["track"] = True
    if args.equal_codes is not None:
        agent_options["equal_codes"] = args.equal_codes
    torch.set_num_threads(args.threads)
    rows = []
    for env_id in args.envs:
        row = bench_env(env_id, args.rollouts, args.repeats, args.encoder, args.num_keypoints, agent_options)
        rows.append(row)
        print(f"{env_id}: keypoints {[round(v) for v in row['keypoints_all']]}, pixels "
              f"{[round(v) for v in row['pixels_all']]} steps/s", flush=True)
    print(f"\ntraining env steps per second (SB3 time/fps), median of {args.repeats} interleaved chunks, "
          f"{args.threads} torch thread(s); keypoint agent: "
          f"{' '.join(agent_flags) or 'the main job defaults of each env'}; {machine()}\n")
    print("| env | n_envs | chunk (steps) | MINT keypoints PPO | pixel PPO (NatureCNN) | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['env']} | {r['n_envs']} | {r['chunk']} | {r['keypoints']:.0f} | {r['pixels']:.0f} | "
              f"{r['keypoints'] / r['pixels']:.2f}× |")
    return rows


if __name__ == "__main__":
    main()
