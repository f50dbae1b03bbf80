"""PPO on MINT keypoints vs PPO on pixels (and on Transporter keypoints, and on the true state).

    python experiments/ppo_keypoints.py                                  # the default run (~15 min, 2 CPU cores)
    python experiments/ppo_keypoints.py --seeds 3                        # the README table
    python experiments/ppo_keypoints.py --agents mint pixels transporter ground_truth
    python experiments/ppo_keypoints.py --online                         # encoder co-trained during PPO
    python experiments/ppo_keypoints.py --env ALE/Pong-v5 --timesteps 1000000 --device auto

Every agent trains on the same env id, with the same training seeds, timestep budget and
PPO hyperparameters; only what it observes differs:

``mint``          K = 8 MINT keypoints per frame (x, y, status; F features with ``--feature-dim``)
                  from a frozen encoder, 2 frames stacked. On object tasks each keypoint also
                  carries its colour code (below) and the policy reads them as a set
                  (``agents.extractors.KeypointSetExtractor``): the configuration that learned
                  Catch best (docs/keypoint_ladder.md); on ALE ids plain keypoints and the flat
                  status-gated MLP (``KeypointMlpExtractor``), as the Atari study measured.
                  ``--extractor``, ``--glimpse-size``, ``--colour-codes`` and ``--track`` override.
                  The encoder is pretrained by ``experiments/pretrain.py`` on random-policy
                  frames of the same env (cached in ``<out>/<env>/encoders/``, so the next run
                  reuses it), or given with ``--encoder PATH``, or co-trained from the frames
                  PPO sees with ``--online`` (MINT updates between rollouts only).
                  Appearance (``--glimpse-size p``): each keypoint also carries the p×p glimpse of
                  the frame around it, encoded by a small CNN inside the extractor; with
                  ``--colour-codes N`` instead its one-hot colour category among N colours fitted
                  by k-means to the keypoint colours of the pretraining frames
                  (``mint_rl.appearance``). ``--glimpse-at random`` cuts them at random positions
                  (a control). K glimpses may cover at most 1/8 of the frame. ``--track``:
                  persistent entity slots (``mint_rl.tracking``) instead of raw keypoints.
``pixels``        SB3's ``CnnPolicy`` (NatureCNN) on images: for object scenes the RGB 64×64
                  frames, 2 stacked (``VecFrameStack`` + ``VecTransposeImage``); for ALE ids the
                  standard grey 84×84×4 stack of ``envs.atari.atari_pixel_env``.
``transporter``   like ``mint`` with a Transporter encoder trained on the same frames for the
                  same number of steps (``mint_rl.baselines``).
``ground_truth``  ``MlpPolicy`` on ``envs.tasks.GroundTruthObservation`` (true object positions,
                  velocities and flags): the upper reference, for ``MintTasks/*`` only.
``objects``       the observation ladder (``docs/keypoint_ladder.md``): the true object centres as
                  keypoint rows in the env's slot order with the good/bad flag
                  (``envs.object_keypoints``), through the keypoint agents' pipeline and extractor;
                  ``objects-<property>`` degrades one property to the level measured for an encoder
                  (``--object-properties``, from ``experiments/keypoint_properties.py``).

PPO hyperparameters: on object tasks those of ``benchmarks/bench_tasks.py`` (which learn the
tasks from ground truth in ~30k steps) with SB3's default learning rate 3e-4 instead of 1e-3
(1e-3 made the keypoint agent's return collapse late in training, docs/ppo_results.md); on
ALE ids rl-baselines3-zoo's Atari PPO (``hyperparams/ppo.yml``: 8 envs, n_steps 128, 4
epochs, batch 256, lr 2.5e-4 and clip 0.1 both decayed linearly, vf_coef 0.5, ent_coef
0.01), for every agent. ALE emulator settings are identical for all agents (frame skip 4, up
to 30 no-op starts, sticky actions 0.25 as ``-v5``); training envs add SB3's
``EpisodicLifeEnv`` and ``ClipRewardEnv`` as the zoo does, evaluation envs do not (true game
over, raw score). In games with a FIRE action, training and evaluation envs press FIRE after each
reset and lost life (``envs.atari.FireOnReset``, the role of SB3's ``FireResetEnv``): without it a
deterministic policy trained with episodic lives idles after its first lost life in Breakout.

Top to bottom: check the inputs (everything that can be wrong fails here, before any
training); collect random-policy frames and pretrain the encoders; score a uniformly random
policy on the held-out episodes; then for every (agent, seed): build train and eval envs,
train PPO with an ``EvalCallback`` that evaluates on held-out episodes (env seeds
``10000 + 1000 × seed + i`` for eval env i, the same episodes at every evaluation and for every agent,
deterministic actions) every ``--eval-freq`` steps and appends each evaluation to
``evaluations.csv`` as it happens; save the model (keypoint agents: with a copy of their
encoder and ``agent.json`` holding its sha256 and config, checked by :func:`load_agent`).

Outputs in ``<out>/<env>/``: ``evaluations.csv`` (every evaluation of every run),
``summary.json``, ``table.md`` (final return ± 95 % t-interval over seeds, return at a third
of the budget, env steps to reach ``--threshold``, training steps/s), ``learning_curves.png``
(mean and 95 % band over seeds against env steps), TensorBoard runs in ``tb/`` (keypoint
agents log a frame with their keypoints drawn every ``--overlay-every`` rollouts), and per
run ``<agent>/seed<s>/`` with ``model.zip``, ``agent.json`` (and ``encoder.pt``).

Resuming: a finished (agent, seed) leaves ``done.json`` and is skipped when the command runs
again; an interrupted one resumes from its last mid-way checkpoint (``<run>/resume/``, every
``--checkpoint-every`` env steps: PPO weights and optimiser, step count, clocks, a co-trained
encoder; its evaluations after that step are dropped and redone; env episodes restart). A folder
written with other settings is refused, and so is a resume whose encoder file is not the one
the run started with (sha256 recorded in ``resume/state.json``). A resumed run is not
bit-identical to an uninterrupted one: ``done.json`` and ``summary.json`` count its resumes and
``table.md`` marks its agent's n with †. One process at a time per ``<out>/<env>/``
(``mint_rl.run_lock``: a second one is refused while the first lives); temporary files of
writes a killed run left are removed when the next one starts.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too

import gymnasium as gym  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.logger import Image  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecTransposeImage  # noqa: E402

from agents.extractors import KeypointMlpExtractor, KeypointSetExtractor  # noqa: E402
from agents.tracked_vec_env import TrackedKeypointVecEnv  # noqa: E402
from agents.vec_env import MintKeypointVecEnv, OnlineEncoderCallback  # noqa: E402
from envs.collect import collect_frames, make_env  # noqa: E402
from envs.object_keypoints import LADDER_RUNGS, ObjectKeypoints, ladder_rung_kwargs  # noqa: E402
from envs.wrappers import ImageLayout  # noqa: E402
from mint_rl.checkpoint import CheckpointError, load_checkpoint, load_encoder  # noqa: E402
from mint_rl.config import MintConfig  # noqa: E402
from mint_rl.glimpses import check_glimpse_size  # noqa: E402
from mint_rl.frame_cache import frame_source, load_frames, save_frames, source_mismatch  # noqa: E402
from mint_rl.metrics import aggregate  # noqa: E402
from mint_rl.run_lock import locked_run_folder  # noqa: E402
from mint_rl.utils import resolve_device, write_json  # noqa: E402

AGENTS = ("mint", "pixels", "transporter", "ground_truth", *LADDER_RUNGS)
KEYPOINT_AGENTS = ("mint", "transporter")  # keypoints from an encoder
OBJECT_AGENTS = LADDER_RUNGS  # keypoints from the true objects (the observation ladder, envs.object_keypoints)
HELD_OUT_SEED = 10_000  # evaluation of training seed s uses env seed HELD_OUT_SEED + 1000 s; training seeds stay below
N_STACK = 2  # keypoint agents and scene pixel agents see the last 2 frames (velocity)
EXTRACTORS: dict[str, tuple[type, dict[str, Any]]] = {
    "mlp": (KeypointMlpExtractor, {}),
    "set": (KeypointSetExtractor, {}),
    "attention": (KeypointSetExtractor, {"attention_heads": 4}),
}
"""``--extractor`` choices: the features extractor class and its keyword arguments."""
MAX_GLIMPSE_COVERAGE = 1 / 8  # the K glimpses of a frame together cover at most this fraction of it

# Object tasks: the settings of benchmarks/bench_tasks.py (which learn Catch and Reach from the true state in
# ~30k steps) except the learning rate: SB3's default 3e-4, as 1e-3 was unstable on keypoints. The same for
# every agent, so that only the observation differs.
SCENE_PPO: dict[str, Any] = dict(n_steps=128, batch_size=64, n_epochs=10, learning_rate=3e-4, gamma=0.95,
                                 ent_coef=0.01)
# 100k steps: the whole default run (pretraining, three agents, evaluations) in ~15 min on 2 CPU cores.
SCENE_DEFAULTS = dict(n_envs=4, timesteps=100_000, eval_episodes=10)
# The keypoint agents' representation. Object tasks: the set extractor over keypoints that carry their colour
# code (8 colours, 5×5 window), the configuration that learned Catch best (docs/keypoint_ladder.md). ALE: the
# flat extractor on plain keypoints, as the Atari study measured (colour codes are not measured on Atari yet).
SCENE_REPRESENTATION = dict(extractor="set", glimpse_size=5, colour_codes=8, track=False)
ATARI_REPRESENTATION = dict(extractor="mlp", glimpse_size=0, colour_codes=0, track=False)


def linear(start: float) -> Callable[[float], float]:
    """rl-zoo's ``lin_<start>``: SB3 passes the remaining progress, 1 → 0."""
    return functools.partial(_linear, start)


def _linear(start: float, progress_remaining: float) -> float:
    return progress_remaining * start


# ALE: rl-baselines3-zoo hyperparams/ppo.yml, "atari" (policy CnnPolicy, frame_stack 4, AtariWrapper).
ATARI_PPO: dict[str, Any] = dict(n_steps=128, n_epochs=4, batch_size=256, learning_rate=linear(2.5e-4),
                                 clip_range=linear(0.1), vf_coef=0.5, ent_coef=0.01)
ATARI_DEFAULTS = dict(n_envs=8, timesteps=1_000_000, eval_episodes=5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="MintTasks/Catch-v0", help="Gymnasium env id with image observations "
                   "(MintTasks/*, ALE/*)")
    p.add_argument("--agents", nargs="+", default=None, choices=AGENTS, metavar="AGENT",
                   help=f"agents to train, from {', '.join(AGENTS)} (default: mint pixels, plus ground_truth "
                        "where the env has it)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds 0 .. N-1 per agent")
    p.add_argument("--timesteps", type=int, default=None,
                   help=f"env steps per run (default {SCENE_DEFAULTS['timesteps']} on object tasks, "
                        f"{ATARI_DEFAULTS['timesteps']} on ALE)")
    p.add_argument("--n-envs", type=int, default=None,
                   help=f"parallel training envs (default {SCENE_DEFAULTS['n_envs']}, ALE {ATARI_DEFAULTS['n_envs']})")
    p.add_argument("--eval-freq", type=int, default=None,
                   help="env steps between evaluations (default: about 15 evaluations per run, on rollout ends)")
    p.add_argument("--eval-episodes", type=int, default=None,
                   help=f"held-out episodes per evaluation (default {SCENE_DEFAULTS['eval_episodes']}, "
                        f"ALE {ATARI_DEFAULTS['eval_episodes']})")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="env steps between the mid-way checkpoints a killed run resumes from (default: about 20 "
                        "per run, on rollout starts)")
    p.add_argument("--threshold", type=float, default=None,
                   help="return threshold of the 'steps to threshold' column (default: random-policy return "
                        "+ 0.8 × (best final return of the image agents − random-policy return))")
    p.add_argument("--encoder", default=None, help="MINT checkpoint for the mint agent (default: pretrain one)")
    p.add_argument("--online", action="store_true",
                   help="co-train the mint agent's encoder during PPO (from --encoder, or from scratch)")
    p.add_argument("--online-updates", type=int, default=20,
                   help="--online: MINT steps after each rollout (default %(default)s)")
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=None,
                   help="keypoint features extractor: KeypointMlpExtractor ('mlp'), KeypointSetExtractor ('set') or "
                        "KeypointSetExtractor with one 4-head self-attention layer over the keypoints ('attention'); "
                        "default: 'set' on object tasks, 'mlp' on ALE ids")
    p.add_argument("--glimpse-size", type=int, default=None,
                   help="mint/transporter: append to each keypoint the p×p glimpse of the frame around it, encoded by "
                        "a small CNN inside the features extractor, trained by PPO (K glimpses may cover at most "
                        "1/8 of the frame); with --colour-codes, the window whose colour is coded. Default: 5 on "
                        "object tasks, 0 (none) on ALE ids")
    p.add_argument("--colour-codes", type=int, default=None,
                   help="mint/transporter: instead of raw glimpses, each keypoint's one-hot colour category among N "
                        "colours fitted by k-means to the keypoint colours of the pretraining frames "
                        "(mint_rl.appearance; needs --glimpse-size). Default: 8 on object tasks, 0 (off) on ALE ids")
    p.add_argument("--glimpse-at", choices=["keypoints", "random"], default="keypoints",
                   help="where glimpses are cut: at the keypoints (default) or, as a control, at random positions")
    p.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                   help="mint/transporter: persistent entity slots instead of raw keypoints (mint_rl.tracking: "
                        "duplicates of one colour code merged, slots matched over time, misses of up to 3 frames "
                        "bridged); rows (x, y, status, colour code). Default: off")
    p.add_argument("--object-properties", default=None,
                   help="objects-* ladder rungs: measured keypoint properties (properties.json of "
                        "experiments/keypoint_properties.py) that the true objects are degraded to")
    p.add_argument("--object-properties-label", default=None,
                   help="which encoder's entry of --object-properties (default: the first)")
    p.add_argument("--pretrain-steps", type=int, default=500,
                   help="optimiser steps of encoder pretraining (default %(default)s)")
    p.add_argument("--pretrain-frames", type=int, default=4000,
                   help="random-policy frames for pretraining (default %(default)s)")
    p.add_argument("--num-keypoints", "-k", type=int, default=8,
                   help="K of pretrained encoders (default 8: the paddle and up to 3 objects of Catch, doubled)")
    p.add_argument("--feature-dim", type=int, default=0,
                   help="F, per-keypoint features of pretrained encoders (default 0: the MINT losses do not train "
                        "the feature head, so features are fixed random projections that slowed PPO down)")
    p.add_argument("--overlay-every", type=int, default=10,
                   help="keypoint agents: log a keypoint overlay to TensorBoard every N rollouts "
                        "(default %(default)s; 0: never)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (PPO and encoders; default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default %(default)s)")
    p.add_argument("--out", default="runs/ppo_keypoints",
                   help="output folder, one subfolder per env (default %(default)s)")
    p.add_argument("--export", default=None, help="also copy the small result files (CSV, JSON, table, PNG) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the table, summary and curves of the runs already finished in --out")
    args = p.parse_args(argv)

    args.atari = args.env.startswith("ALE/")
    defaults = ATARI_DEFAULTS if args.atari else SCENE_DEFAULTS
    representation = dict(ATARI_REPRESENTATION if args.atari else SCENE_REPRESENTATION)
    if args.glimpse_size == 0:  # no window, so no colour to code, unless asked (and then refused below)
        representation["colour_codes"] = 0
    if args.online and args.encoder is None:  # co-trained from scratch: no pretrained keypoints to fit codes to
        if args.colour_codes:
            p.error(f"--colour-codes {args.colour_codes}: the codebook is fitted to a pretrained encoder's keypoints, "
                    "and --online without --encoder co-trains one from scratch; give --encoder PATH to start from, "
                    "or --colour-codes 0")
        representation.update(glimpse_size=0, colour_codes=0)
    for key, value in {**defaults, **representation}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.ppo = dict(ATARI_PPO if args.atari else SCENE_PPO)
    rollout = args.n_envs * args.ppo["n_steps"]
    for name in ("seeds", "n_envs", "eval_episodes", "pretrain_steps", "num_keypoints", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.online_updates < 1:
        p.error(f"--online-updates must be >= 1 (MINT steps after each rollout), got {args.online_updates}")
    for name in ("feature_dim", "overlay_every"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.threshold is not None and not math.isfinite(args.threshold):
        p.error(f"--threshold must be a finite return, got {args.threshold}")
    for name in ("out", "export"):
        folder = getattr(args, name)
        if folder and any(q.exists() and not q.is_dir() for q in (Path(folder), *Path(folder).parents)):
            p.error(f"--{name} {folder} is a file (or inside one); give a folder")
    if args.seeds > 10:
        p.error("--seeds must be <= 10 so training seeds stay below the held-out evaluation seeds")
    if args.timesteps < rollout:
        p.error(f"--timesteps {args.timesteps} is smaller than one PPO rollout (--n-envs {args.n_envs} × n_steps "
                f"{args.ppo['n_steps']} = {rollout} env steps); give at least {rollout}")
    if args.pretrain_frames < 8 * 3:
        p.error("--pretrain-frames must be >= 24 (a few clips of 3 frames)")
    if args.eval_freq is None:  # ~15 evaluations, on rollout ends
        args.eval_freq = rollout * max(1, round(args.timesteps / (15 * rollout)))
    if args.checkpoint_every is None:
        args.checkpoint_every = rollout * max(1, round(args.timesteps / (20 * rollout)))
    if args.checkpoint_every < 1:
        p.error(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.eval_freq < args.n_envs:
        p.error(f"--eval-freq {args.eval_freq} is smaller than one step of the {args.n_envs} envs")
    args.eval_envs = min(args.eval_episodes, args.n_envs)  # evaluation envs, stepped in one batch
    if args.agents is None:
        args.agents = ["mint", "pixels"] + ([] if args.atari else ["ground_truth"])
    args.agents = list(dict.fromkeys(args.agents))
    if args.glimpse_size < 0:
        p.error(f"--glimpse-size must be >= 0 pixels, got {args.glimpse_size}")
    if args.colour_codes < 0 or (args.colour_codes and not args.glimpse_size):
        p.error(f"--colour-codes {args.colour_codes}: give N >= 1 colours together with --glimpse-size (the window "
                "whose colour is coded), or 0 for none")
    if args.track and args.glimpse_size and not args.colour_codes:
        p.error("--track keeps (x, y, status, colour code) per entity: raw glimpses (--glimpse-size without "
                "--colour-codes) would be dropped; add --colour-codes N or leave out --glimpse-size")
    if args.track and args.feature_dim:
        p.error(f"--track keeps (x, y, status, colour code) per entity: the encoder's --feature-dim "
                f"{args.feature_dim} features would be dropped; use --feature-dim 0")
    args.object_kwargs = {}
    args.codebooks = {}  # agent → colour codebook, fitted in main() once the encoders exist
    properties = None
    if args.object_properties is not None:
        try:
            entries = json.loads(Path(args.object_properties).read_text())["encoders"]
        except (OSError, ValueError, KeyError) as exc:
            p.error(f"--object-properties {args.object_properties}: not a properties.json of "
                    f"experiments/keypoint_properties.py ({exc})")
        label = args.object_properties_label or next(iter(entries))
        if label not in entries:
            p.error(f"--object-properties-label {label}: not in {args.object_properties} (it has {list(entries)})")
        properties = entries[label]
    for agent in args.agents:
        if agent in OBJECT_AGENTS:
            try:
                args.object_kwargs[agent] = ladder_rung_kwargs(agent, properties)
            except ValueError as exc:
                p.error(f"--agents {agent}: {exc}")
    return args


# --------------------------------------------------------------------------- environments
def env_slug(env_id: str) -> str:
    return env_id.replace("/", "_")


def has_ground_truth(env_id: str) -> bool:
    from envs.tasks import ObjectTaskEnv

    if env_id.startswith("ALE/"):
        return False
    env = make_env(env_id)
    try:
        return isinstance(env.unwrapped, ObjectTaskEnv)
    finally:
        env.close()


def frame_shape(env_id: str) -> tuple[int, int, int]:
    """(H, W, C) of the env's image observations (RGB for ALE); ``SystemExit`` if they are not images."""
    try:
        env = make_env(env_id)
    except Exception as exc:  # unknown id, missing ROM, bad kwargs
        raise SystemExit(f"--env {env_id}: {exc}") from exc
    space = env.observation_space
    env.close()
    try:
        layout = ImageLayout.from_space(space, owner="ppo_keypoints")
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"--env {env_id} does not give image observations ({exc}). This experiment compares agents "
                         "that see images: use an image env such as MintTasks/Catch-v0 or ALE/Pong-v5.") from exc
    if layout.stack is not None or layout.is_float or layout.channels != 3:
        raise SystemExit(f"--env {env_id}: observations {space} are not single RGB uint8 frames (H, W, 3), which the "
                         "pixel and keypoint agents both need")
    return layout.height, layout.width, layout.channels


def env_factory(env_id: str, observation: str, train: bool, render: bool = False) -> Callable[[], gym.Env]:
    """A thunk building one env. ``observation``: ``"rgb"`` (frames for the encoders), ``"pixels"`` (what the
    CNN sees: RGB frames, or ALE's grey 84×84×4 stack) or ``"state"`` (``GroundTruthObservation``).

    ALE training envs end an episode at each life loss and clip rewards to their sign (SB3's
    ``EpisodicLifeEnv``, ``ClipRewardEnv``); ``Monitor`` sits below them, so logged returns are raw game scores.
    """
    render_mode = "rgb_array" if render else None
    if env_id.startswith("ALE/"):
        from envs.atari import atari_pixel_env, make_atari_env

        wrappers = (Monitor, EpisodicLifeEnv, ClipRewardEnv) if train else (Monitor,)
        kwargs = dict(wrappers=wrappers, render_mode=render_mode, fire_on_reset="auto")
        if observation == "pixels":
            return functools.partial(atari_pixel_env, env_id, **kwargs)
        return functools.partial(make_atari_env, env_id, rgb=True, **kwargs)

    def make() -> gym.Env:
        from envs.tasks import GroundTruthObservation

        env = make_env(env_id, render_mode=render_mode)
        if observation == "state":
            env = GroundTruthObservation(env)
        return Monitor(env)

    return make


def make_vec(env_id: str, observation: str, n_envs: int, train: bool, render: bool = False) -> VecEnv:
    return DummyVecEnv([env_factory(env_id, observation, train, render)] * n_envs)


def eval_seed(seed: int) -> int:
    """Env seed of the held-out evaluation episodes of training seed ``seed`` (the same for every agent)."""
    return HELD_OUT_SEED + 1000 * seed


# --------------------------------------------------------------------------- encoders
def check_encoder(path: str | os.PathLike, frames: tuple[int, int, int], env_id: str,
                  expect_type: str | None = "mint") -> MintConfig:
    """Load a checkpoint's config and check it fits the env's frames; ``SystemExit`` naming the mismatch."""
    try:
        data = load_checkpoint(path)
    except CheckpointError as exc:
        raise SystemExit(f"--encoder: {exc}") from exc
    config: MintConfig = data["config"]
    kind = data.get("encoder_type", "mint")
    if expect_type is not None and kind != expect_type:
        raise SystemExit(f"--encoder {path} holds a {kind!r} encoder; the mint agent needs a MINT checkpoint "
                         "(the transporter agent pretrains its own)")
    h, w, c = frames
    if tuple(config.image_size) != (h, w) or config.in_channels != c:
        raise SystemExit(f"--encoder {path} was made for {config.in_channels}-channel {config.image_size[0]}×"
                         f"{config.image_size[1]} frames, but {env_id} gives {c}-channel {h}×{w} frames. Pretrain an "
                         "encoder on this env (leave out --encoder) or pass a checkpoint made for these frames.")
    return config


def pretraining_frames(env_id: str, num_frames: int, cache: Path, progress: bool) -> Path:
    """Random-policy frames of the env (env seed 0, 4 streams: pretrain.py's defaults), cached with their record
    (``mint_rl.frame_cache``) as pretrain.py's ``frames.npz``; ``SystemExit`` if the cache holds other frames."""
    source = frame_source(env_id, num_frames, seed=0, num_envs=4)
    if not cache.is_file():
        frames, starts = collect_frames(env_id, num_frames, seed=0, num_envs=4, progress=progress)
        save_frames(cache, frames, starts, source)
    problems = source_mismatch(load_frames(cache)[2], source)
    if problems:
        raise SystemExit(f"{cache} holds other frames than this command asks for ({'; '.join(problems)}; cache → "
                         "this command); delete it to collect new frames")
    return cache


def pretrain_mint(args: argparse.Namespace, encoders_dir: Path) -> tuple[Path, float]:
    """MINT encoder by ``experiments/pretrain.py`` (cached); returns its checkpoint and this call's seconds."""
    out = encoders_dir / (f"mint-k{args.num_keypoints}-F{args.feature_dim}-f{args.pretrain_frames}"
                          f"-s{args.pretrain_steps}")
    summary = out / "summary.json"
    if summary.is_file() and json.loads(summary.read_text())["steps"] >= args.pretrain_steps:
        return out / "encoder.pt", 0.0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pretrain  # experiments/pretrain.py

    t0 = time.perf_counter()
    frames = pretraining_frames(args.env, args.pretrain_frames, encoders_dir / f"frames-f{args.pretrain_frames}.npz",
                                not args.no_progress)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "frames.npz").is_file():
        shutil.copy2(frames, out / "frames.npz")  # pretrain.py reads its frame cache from here
    path = pretrain.main(["--env", args.env, "--out", str(out), "--frames", str(args.pretrain_frames),
                          "--steps", str(args.pretrain_steps), "--num-keypoints", str(args.num_keypoints),
                          "--feature-dim", str(args.feature_dim),
                          "--device", args.device, "--checkpoint-every", "100", "--video-frames", "60"]
                         + (["--no-progress"] if args.no_progress else []))
    return Path(path), time.perf_counter() - t0


def pretrain_transporter(args: argparse.Namespace, encoders_dir: Path, frames: tuple[int, int, int]
                         ) -> tuple[Path, float]:
    """Transporter encoder on the same frames, for the same steps, batch and geometry as the MINT one (cached)."""
    from mint_rl.baselines.transporter import TransporterTrainer
    from mint_rl.data import FrameBuffer

    out = encoders_dir / (f"transporter-k{args.num_keypoints}-F{args.feature_dim}-f{args.pretrain_frames}"
                          f"-s{args.pretrain_steps}")
    path = out / "encoder.pt"
    if path.is_file() and load_checkpoint(path).get("step", 0) >= args.pretrain_steps:
        return path, 0.0
    t0 = time.perf_counter()
    clips, starts, _ = load_frames(pretraining_frames(args.env, args.pretrain_frames,
                                                      encoders_dir / f"frames-f{args.pretrain_frames}.npz",
                                                      not args.no_progress))
    h, w, c = frames
    config = MintConfig(num_keypoints=args.num_keypoints, in_channels=c, image_size=(h, w),  # pretrain.py's defaults
                        feature_dim=args.feature_dim)
    buffer = FrameBuffer(clips.shape[0] * clips.shape[1], (c, h, w), config.grid_size,
                         lambda x: torch.zeros(x.shape[0], *config.grid_size))  # the Transporter needs no entropy
    for stream, stream_starts in zip(clips, starts, strict=True):
        buffer.add_stream(stream, stream_starts)
    trainer = TransporterTrainer(config, device=args.device, log_dir=str(out / "tb"), checkpoint_path=path)
    trainer.maybe_resume()
    trainer.fit(buffer, args.pretrain_steps, checkpoint_every=100, progress=not args.no_progress,
                extra_state={"env_id": args.env, "frames": args.pretrain_frames, "collect_seed": 0})
    trainer.close()
    return path, time.perf_counter() - t0


def colour_codebook(encoder_path: Path, frames_path: Path, args: argparse.Namespace) -> np.ndarray:
    """The ``(n, C)`` colour codebook of an encoder (``mint_rl.appearance``), cached beside the checkpoint and
    refitted when the checkpoint changes (its sha256 is in the cache's name)."""
    from mint_rl.appearance import fit_colour_codebook

    digest = sha256(encoder_path)[:12]
    cache = encoder_path.parent / f"colour_codes-n{args.colour_codes}-w{args.glimpse_size}-{digest}.npy"
    if not cache.is_file():
        frames = load_frames(frames_path)[0]  # (streams, N, H, W, C)
        codebook = fit_colour_codebook(load_encoder(encoder_path), frames.reshape(-1, *frames.shape[-3:]),
                                       args.glimpse_size, args.colour_codes)
        tmp = cache.with_name(cache.stem + ".tmp.npy")
        np.save(tmp, codebook)
        os.replace(tmp, cache)
    return np.load(cache)


# --------------------------------------------------------------------------- callbacks
class CsvEvalCallback(EvalCallback):
    """``EvalCallback`` on the same held-out episodes every time, each evaluation appended to a CSV at once.

    Before each evaluation the eval env is re-seeded with ``eval_seed``, so every evaluation of every agent
    of a training seed plays the same episodes. A last evaluation runs at the end of training if the final
    step was not evaluated.

    :param eval_env: the evaluation VecEnv; re-seeded, sub-env i plays its fixed share of the episodes from env
        seed ``eval_seed + i``.
    :param csv_path: CSV the rows are appended to (header written on creation).
    :param eval_seed: env seed of the held-out episodes.
    :param row: constant columns of every row (agent, seed, ...).
    :param eval_freq: env steps between evaluations (converted to callback calls of ``n_envs`` steps).
    :param n_envs: training envs.
    :param n_eval_episodes: episodes per evaluation.
    """

    FIELDS = ("env", "agent", "seed", "step", "mean_return", "std_return", "episodes", "mean_length",
              "train_seconds", "train_steps_per_s")

    def __init__(self, eval_env: VecEnv, csv_path: Path, eval_seed: int, row: dict[str, Any], eval_freq: int,
                 n_envs: int, n_eval_episodes: int) -> None:
        super().__init__(eval_env, n_eval_episodes=n_eval_episodes, eval_freq=max(eval_freq // n_envs, 1),
                         log_path=str(csv_path.parent), deterministic=True, verbose=0, warn=False)
        self.csv_path, self.eval_seed, self.row, self.n_envs = csv_path, eval_seed, row, n_envs
        self.eval_seconds = 0.0
        self._t_start = 0.0
        self._session_eval_seconds = 0.0

        self._prior_train_seconds = 0.0

    def resume_from(self, step: int, train_seconds: float, eval_seconds: float) -> None:
        """Continue a run resumed at env step ``step`` (a rollout boundary): the evaluation schedule stays
        on multiples of ``eval_freq`` env steps and the clocks go on from the saved seconds."""
        self.n_calls = step // self.n_envs
        self._prior_train_seconds, self.eval_seconds = float(train_seconds), float(eval_seconds)

    def train_seconds(self) -> float:
        """Seconds of training (not evaluation) so far, over all sessions of the run."""
        return self._prior_train_seconds + time.perf_counter() - self._t_start - self._session_eval_seconds

    def _init_callback(self) -> None:
        super()._init_callback()
        self._t_start = time.perf_counter()
        self._session_eval_seconds = 0.0

    def _on_step(self) -> bool:
        if not (self.eval_freq > 0 and self.n_calls % self.eval_freq == 0):
            return True
        self.eval_env.seed(self.eval_seed)
        t0 = time.perf_counter()
        keep_going = super()._on_step()
        self.eval_seconds += time.perf_counter() - t0
        self._session_eval_seconds += time.perf_counter() - t0
        returns, lengths = self.evaluations_results[-1], self.evaluations_length[-1]
        train_seconds = self.train_seconds()
        new = not self.csv_path.is_file()
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({**self.row, "step": self.num_timesteps, "mean_return": float(np.mean(returns)),
                             "std_return": float(np.std(returns)), "episodes": len(returns),
                             "mean_length": float(np.mean(lengths)), "train_seconds": round(train_seconds, 2),
                             "train_steps_per_s": round(self.num_timesteps / max(train_seconds, 1e-9), 1)})
        return keep_going

    def _on_training_end(self) -> None:
        self.num_timesteps = self.model.num_timesteps
        if not self.evaluations_timesteps or self.evaluations_timesteps[-1] != self.num_timesteps:
            freq, self.eval_freq = self.eval_freq, 1  # evaluate now
            self._on_step()
            self.eval_freq = freq


class KeypointImageCallback(BaseCallback):
    """Log env 0's current frame with its keypoints drawn (``mint_rl.draw``) to TensorBoard every N rollouts.

    :param keypoint_env: the :class:`MintKeypointVecEnv` whose sub-envs render ``"rgb_array"`` frames.
    :param every: rollouts between images (the first rollout is always logged).
    """

    def __init__(self, keypoint_env: MintKeypointVecEnv, every: int) -> None:
        super().__init__()
        self.keypoint_env, self.every, self.rollouts = keypoint_env, every, 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        if (self.rollouts - 1) % self.every == 0:
            frame = self.keypoint_env.venv.env_method("render", indices=[0])[0]
            if frame is not None:
                image = self.keypoint_env.observer.draw(frame, 0)
                self.logger.record("keypoints/overlay", Image(image, "HWC"), exclude=("stdout", "log", "json", "csv"))


class RandomPolicy:
    """Uniformly random actions behind the ``predict`` interface of ``evaluate_policy``."""

    def __init__(self, action_space: gym.Space, seed: int) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        return np.array([self.action_space.sample() for _ in range(len(observation))]), None


# --------------------------------------------------------------------------- saved agents
class AgentEncoderMismatch(ValueError):
    """A saved keypoint agent and the encoder offered to it do not belong together."""


@dataclasses.dataclass
class LoadedAgent:
    """A saved agent: the PPO model, its encoder (None for pixel / state agents) and ``agent.json``."""

    model: PPO
    encoder: torch.nn.Module | None
    info: dict[str, Any]


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_agent(model: PPO, run_dir: Path, info: dict[str, Any], encoder_file: Path | None) -> Path:
    """``model.zip`` and ``agent.json`` in ``run_dir``; a keypoint agent's encoder is copied next to the model
    (``encoder.pt``) and referenced by file name, sha256 and config."""
    model.save(run_dir / "model.zip")
    info = dict(info, model="model.zip", encoder=None)
    if encoder_file is not None:
        target = run_dir / "encoder.pt"
        if encoder_file.resolve() != target.resolve():
            shutil.copy2(encoder_file, target)
        data = load_checkpoint(target)
        info["encoder"] = {"path": target.name, "sha256": sha256(target), "type": data.get("encoder_type", "mint"),
                           "config": data["config"].to_dict(), "source": str(encoder_file)}
    write_json(run_dir / "agent.json", info)
    return run_dir / "model.zip"


def load_agent(path: str | os.PathLike, encoder: str | os.PathLike | None = None,
               device: str = "cpu") -> LoadedAgent:
    """Load an agent saved by this script and check its encoder.

    :param path: the run folder or its ``model.zip``.
    :param encoder: an encoder checkpoint to use instead of the saved ``encoder.pt``; it must be the very
        file the agent was trained with (same sha256).
    :raises AgentEncoderMismatch: the encoder file is missing, is not the one recorded in ``agent.json``
        (sha256), or its config does not fit the recorded one or the policy's observation space.
    """
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    info_path = run_dir / "agent.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found: load_agent reads agents saved by experiments/ppo_keypoints.py")
    info = json.loads(info_path.read_text())
    model = PPO.load(run_dir / info["model"], device=device)
    ref = info.get("encoder")
    if ref is None:
        if encoder is not None:
            raise AgentEncoderMismatch(f"{run_dir} is a {info['agent']!r} agent: it reads no keypoint encoder")
        return LoadedAgent(model, None, info)
    enc_path = Path(encoder) if encoder is not None else run_dir / ref["path"]
    if not enc_path.is_file():
        raise AgentEncoderMismatch(f"the encoder of keypoint agent {run_dir} is missing: {enc_path} does not exist "
                                   f"(it was saved as {run_dir / ref['path']}, sha256 {ref['sha256'][:12]}…)")
    digest = sha256(enc_path)
    if digest != ref["sha256"]:
        raise AgentEncoderMismatch(
            f"{enc_path} is not the encoder agent {run_dir} was trained with: its sha256 is {digest[:12]}…, "
            f"agent.json records {ref['sha256'][:12]}…. The policy reads that encoder's keypoints; another encoder, "
            "even of the same architecture, puts its keypoints elsewhere. Use the encoder.pt saved with the model.")
    config = load_checkpoint(enc_path)["config"]
    diff = config.architecture_mismatch(MintConfig.from_dict(ref["config"]))
    if diff:
        raise AgentEncoderMismatch(f"{enc_path}: config differs from the one in {info_path}: {'; '.join(diff)}")
    settings = info.get("settings", {})
    row = 3 + config.feature_dim  # x, y, status, features; then appearance, or the tracked entity rows
    if settings.get("colour_codes"):
        row += settings["colour_codes"]
    elif settings.get("glimpse_size"):
        row += config.in_channels * settings["glimpse_size"] ** 2
    if settings.get("track"):
        row = 3 + settings.get("colour_codes", 0)
    expected = (config.num_keypoints, info["n_stack"] * row)
    if tuple(model.observation_space.shape) != expected:
        raise AgentEncoderMismatch(f"the policy in {run_dir} reads observations {model.observation_space.shape}, but "
                                   f"{enc_path} gives {expected} (K × n_stack·(3 + F + appearance))")
    return LoadedAgent(model, load_encoder(enc_path, device=device), info)


# --------------------------------------------------------------------------- one run
def agent_label(agent: str, args: argparse.Namespace) -> str:
    """Name of an agent in folders and tables: ``mint``, ``mint-online``, ``mint-set``, ..."""
    label = agent
    if agent == "mint" and args.online:
        label += "-online"
    if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and args.extractor != "mlp":
        label += f"-{args.extractor}"
    if agent in KEYPOINT_AGENTS and args.glimpse_size:
        label += (f"-c{args.colour_codes}w{args.glimpse_size}" if args.colour_codes else f"-g{args.glimpse_size}") \
            + ("" if args.glimpse_at == "keypoints" else f"{args.glimpse_at}")
    if agent in KEYPOINT_AGENTS and args.track:
        label += "-track"
    return label


def build_agent(agent: str, args: argparse.Namespace, seed: int, encoder_path: Path | torch.nn.Module | None,
                tb_dir: Path | None) -> tuple[PPO, VecEnv, list[BaseCallback], MintKeypointVecEnv | None]:
    """The PPO model, its eval env, the agent's extra callbacks and (keypoint agents) the keypoint VecEnv.

    :param encoder_path: keypoint agents: a checkpoint or an encoder module (None: co-trained from scratch).
    :param tb_dir: TensorBoard folder (None: no TensorBoard).
    """
    n, ne, env_id = args.n_envs, args.eval_envs, args.env
    callbacks: list[BaseCallback] = []
    kp_env = None
    common = dict(seed=seed, device=args.device, verbose=0, tensorboard_log=tb_dir and str(tb_dir), **args.ppo)
    if agent == "pixels":
        train_env, eval_env = make_vec(env_id, "pixels", n, True), make_vec(env_id, "pixels", ne, False)
        if not args.atari:  # RGB (H, W, 3) → 2 stacked (H, W, 6) → channels first, as SB3 would do
            train_env = VecTransposeImage(VecFrameStack(train_env, N_STACK))
            eval_env = VecTransposeImage(VecFrameStack(eval_env, N_STACK))
        model = PPO("CnnPolicy", train_env, **common)
    elif agent == "ground_truth":
        train_env, eval_env = make_vec(env_id, "state", n, True), make_vec(env_id, "state", ne, False)
        model = PPO("MlpPolicy", train_env, **common)
    elif agent in OBJECT_AGENTS:  # true objects as keypoint rows, degraded to a ladder rung
        def objects(train: bool, count: int, noise_seed: int) -> VecEnv:
            def make(i: int) -> gym.Env:
                return Monitor(ObjectKeypoints(make_env(env_id), seed=noise_seed + i, **args.object_kwargs[agent]))
            return VecFrameStack(DummyVecEnv([functools.partial(make, i) for i in range(count)]), N_STACK)

        train_env, eval_env = objects(True, n, 100 * seed), objects(False, ne, eval_seed(seed))
        extractor, extractor_kwargs = EXTRACTORS[args.extractor]
        model = PPO("MlpPolicy", train_env, policy_kwargs=dict(
            features_extractor_class=extractor, features_extractor_kwargs=dict(extractor_kwargs, n_stack=N_STACK)),
                    **common)
    else:
        online = agent == "mint" and args.online
        glimpses = dict(glimpse_size=args.glimpse_size, glimpse_at=args.glimpse_at,
                        colour_codes=args.codebooks.get(agent))
        base = make_vec(env_id, "rgb", n, True, render=args.overlay_every > 0)
        if online:
            h, w, c = frame_shape(env_id)
            config = None if encoder_path is not None else MintConfig(  # from scratch, else the checkpoint's
                num_keypoints=args.num_keypoints, in_channels=c, image_size=(h, w), feature_dim=args.feature_dim,
                seed=seed)
            kp_env = MintKeypointVecEnv(base, encoder_path, online=True, config=config, device=args.device,
                                        updates_per_round=args.online_updates, **glimpses)
            callbacks.append(OnlineEncoderCallback(kp_env, args.online_updates))
        else:
            kp_env = MintKeypointVecEnv(base, encoder_path, device=args.device, **glimpses)

        def tracked(venv: VecEnv) -> VecEnv:  # --track: persistent entity slots (mint_rl.tracking)
            return TrackedKeypointVecEnv(venv, args.colour_codes, kp_env.encoder.config.image_size) \
                if args.track else venv

        train_env = VecFrameStack(tracked(kp_env), N_STACK)
        # the eval env shares the (possibly co-trained) encoder module, frozen
        eval_env = VecFrameStack(tracked(MintKeypointVecEnv(make_vec(env_id, "rgb", ne, False), kp_env.encoder,
                                                            device=args.device, **glimpses)), N_STACK)
        extractor, kwargs = EXTRACTORS[args.extractor]
        extractor_kwargs: dict[str, Any] = dict(kwargs, n_stack=N_STACK)
        if args.glimpse_size and not args.colour_codes:  # raw glimpses: the extractor's glimpse CNN reads them
            extractor_kwargs["glimpse"] = (kp_env.encoder.config.in_channels, args.glimpse_size)
        model = PPO("MlpPolicy", train_env, policy_kwargs=dict(
            features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs), **common)
        if args.overlay_every > 0:
            callbacks.append(KeypointImageCallback(kp_env, args.overlay_every))
    return model, eval_env, callbacks, kp_env


def run_settings(args: argparse.Namespace, agent: str) -> dict[str, Any]:
    """What a finished run must share with this command to be reused (compared on resume)."""
    ppo = {k: (f"linear({v.args[0]})" if isinstance(v, functools.partial) else v) for k, v in args.ppo.items()}
    settings = dict(env=args.env, timesteps=args.timesteps, n_envs=args.n_envs, eval_freq=args.eval_freq,
                    eval_episodes=args.eval_episodes, ppo=ppo)
    if args.atari:
        settings["fire_on_reset"] = "auto"
    if agent in KEYPOINT_AGENTS:
        settings.update(extractor=args.extractor, n_stack=N_STACK, online=agent == "mint" and args.online,
                        encoder=args.encoder if agent == "mint" else None)
        if settings["encoder"] is None:
            settings.update(num_keypoints=args.num_keypoints, feature_dim=args.feature_dim,
                            pretrain_steps=args.pretrain_steps, pretrain_frames=args.pretrain_frames)
        if settings["online"]:
            settings["online_updates"] = args.online_updates
        if args.glimpse_size:
            settings.update(glimpse_size=args.glimpse_size, glimpse_at=args.glimpse_at)
        if args.colour_codes:
            settings["colour_codes"] = args.colour_codes
        if args.track:
            settings["track"] = True
    if agent in OBJECT_AGENTS:
        settings.update(extractor=args.extractor, n_stack=N_STACK, objects=args.object_kwargs[agent])
    return settings


class ResumeCheckpointCallback(BaseCallback):
    """Save what a killed run needs to resume mid-way, every ``every`` env steps, atomically.

    Saved in ``<run_dir>/resume/`` at the start of a rollout (so the weights have trained on every
    step counted): ``model.zip`` (PPO weights, optimiser, step count), ``encoder.pt`` (a co-trained
    encoder with its optimiser, online runs only) and ``state.json`` (step, seconds so far), written
    last: a checkpoint counts only once its ``state.json`` names it. Env episodes and the online frame
    buffer are not saved; a resumed run starts fresh episodes.

    :param run_dir: the run folder.
    :param evaluator: the run's :class:`CsvEvalCallback` (its clock is saved with the model).
    :param every: env steps between checkpoints.
    :param kp_env: the keypoint VecEnv of keypoint agents (its online trainer is saved), else None.
    :param record: entries every ``state.json`` carries (the sha256 of the encoder the run started with, the
        number of times it was resumed).
    """

    def __init__(self, run_dir: Path, evaluator: "CsvEvalCallback", every: int,
                 kp_env: MintKeypointVecEnv | None, record: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.dir, self.evaluator, self.every, self.kp_env = run_dir / "resume", evaluator, every, kp_env
        self.record = dict(record or {})
        self.last = 0

    def _init_callback(self) -> None:
        self.last = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self.last < self.every:
            return
        self.last = self.model.num_timesteps
        self.dir.mkdir(parents=True, exist_ok=True)
        step = int(self.model.num_timesteps)
        model_name, tmp = f"model-{step}.zip", self.dir / f"model-{step}.tmp.zip"
        self.model.save(tmp)
        os.replace(tmp, self.dir / model_name)
        state = dict(self.record, step=step, model=model_name, train_seconds=self.evaluator.train_seconds(),
                     eval_seconds=self.evaluator.eval_seconds, encoder=None)
        online = self.kp_env.observer.online if self.kp_env is not None else None
        if online is not None:
            state["encoder"] = Path(online.save(self.dir / f"encoder-{step}.pt")).name
        previous = read_resume_state(self.dir.parent)
        write_json(self.dir / "state.json", state)
        if previous is not None:  # the older files, now unreferenced
            for name in (previous["model"], previous.get("encoder")):
                if name and name not in (state["model"], state["encoder"]):
                    (self.dir / name).unlink(missing_ok=True)


def read_resume_state(run_dir: Path) -> dict[str, Any] | None:
    """The run's last mid-way checkpoint (``resume/state.json``) if it and its files exist, else None."""
    path = run_dir / "resume" / "state.json"
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    files = [state["model"]] + ([state["encoder"]] if state.get("encoder") else [])
    return state if all((path.parent / f).is_file() for f in files) else None


def resume_state(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The run's last mid-way checkpoint if the run was started with ``settings``, else None (it starts over)."""
    state, recorded = read_resume_state(run_dir), run_dir / "settings.json"
    if state is None or not recorded.is_file() or json.loads(recorded.read_text()) != settings:
        return None
    return state


def check_resume_encoder(run_dir: Path, settings: dict[str, Any], encoder_path: Path | None) -> None:
    """``SystemExit`` when an interrupted run would resume on another encoder file than the one it started with
    (its sha256 is in ``resume/state.json``): its policy was trained on that encoder's keypoints."""
    state = resume_state(run_dir, settings)
    recorded = state.get("encoder_sha256") if state else None
    if recorded is None or encoder_path is None:
        return
    digest = sha256(encoder_path)
    if digest != recorded:
        raise SystemExit(f"{run_dir} cannot resume: its encoder {encoder_path} now has sha256 {digest[:12]}…, but "
                         f"the run started with {recorded[:12]}… and its policy reads that encoder's keypoints. "
                         f"Restore that encoder, or delete {run_dir} to start the run over.")


def keep_evaluations_until(csv_path: Path, step: int) -> None:
    """Drop the CSV rows of evaluations after ``step`` (made after the checkpoint a run resumes from)."""
    if not csv_path.is_file():
        return
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CsvEvalCallback.FIELDS)
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)
    os.replace(tmp, csv_path)


def train_one(agent: str, seed: int, args: argparse.Namespace, env_dir: Path, encoder_path: Path | None
              ) -> dict[str, Any]:
    """Train one (agent, seed) and write its folder; returns ``done.json``'s content.

    A run killed mid-way resumes from its last checkpoint in ``<run>/resume/`` (every ``--checkpoint-every``
    env steps) when it was made with the same settings; otherwise it starts over.
    """
    label = agent_label(agent, args)
    run_dir = env_dir / label / f"seed{seed}"
    settings = run_settings(agent=agent, args=args)
    state = resume_state(run_dir, settings)  # main checked its encoder (check_resume_encoder)
    if state is None:
        if run_dir.exists():  # an interrupted run without a usable checkpoint starts over
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        write_json(run_dir / "settings.json", settings)
    resume_encoder = run_dir / "resume" / state["encoder"] if state and state.get("encoder") else encoder_path
    model, eval_env, callbacks, kp_env = build_agent(agent, args, seed, resume_encoder, env_dir / "tb")
    evaluator = CsvEvalCallback(eval_env, run_dir / "evaluations.csv", eval_seed(seed),
                                dict(env=args.env, agent=label, seed=seed), args.eval_freq, args.n_envs,
                                args.eval_episodes)
    start = 0
    if state is not None:
        start = int(state["step"])
        model.set_parameters(str(run_dir / "resume" / state["model"]), exact_match=True, device=args.device)
        model.num_timesteps = start
        evaluator.resume_from(start, state["train_seconds"], state["eval_seconds"])
        keep_evaluations_until(run_dir / "evaluations.csv", start)
        print(f"{label} seed {seed}: resuming at step {start} from {run_dir / 'resume'}", flush=True)
    resumes = state.get("resumes", 0) + 1 if state else 0
    started_with = state.get("encoder_sha256") if state else (sha256(encoder_path) if encoder_path else None)
    checkpointer = ResumeCheckpointCallback(run_dir, evaluator, args.checkpoint_every, kp_env,
                                            record=dict(encoder_sha256=started_with, resumes=resumes))
    t0 = time.perf_counter()
    model.learn(args.timesteps - start, callback=[evaluator, checkpointer, *callbacks],
                tb_log_name=f"{label}_seed{seed}", reset_num_timesteps=start == 0,
                progress_bar=not args.no_progress)
    learn_seconds = time.perf_counter() - t0 + (state["train_seconds"] + state["eval_seconds"] if state else 0.0)
    train_seconds = evaluator.train_seconds()

    encoder_file = None
    if kp_env is not None:
        encoder_file = encoder_path
        if kp_env.observer.online is not None:  # the co-trained encoder, as it is at the end
            encoder_file = Path(kp_env.observer.online.save(run_dir / "encoder.pt"))
    info = dict(agent=agent, label=label, env_id=args.env, seed=seed, n_stack=N_STACK if kp_env is not None else None,
                policy=type(model.policy).__name__, settings=settings)
    if args.codebooks.get(agent) is not None:  # the colour codebook the policy's codes index, beside the model
        np.save(run_dir / "colour_codes.npy", args.codebooks[agent])
        info["colour_codes"] = "colour_codes.npy"
    save_agent(model, run_dir, info, encoder_file)
    returns = evaluator.evaluations_results[-1]
    done = dict(info, timesteps=int(model.num_timesteps), final_return=float(np.mean(returns)),
                final_return_std=float(np.std(returns)), learn_seconds=learn_seconds,
                eval_seconds=evaluator.eval_seconds, train_seconds=train_seconds,
                train_steps_per_s=model.num_timesteps / train_seconds, resumed=resumes, resumed_at=start or None)
    write_json(run_dir / "done.json", done)
    shutil.rmtree(run_dir / "resume", ignore_errors=True)
    model.get_env().close()
    eval_env.close()
    return done


# --------------------------------------------------------------------------- results
def random_returns(args: argparse.Namespace, env_dir: Path) -> list[float]:
    """Mean return of a uniformly random policy on each seed's held-out episodes (cached)."""
    cache = env_dir / "random.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    out = []
    for seed in range(args.seeds):
        key = f"seed{seed}-episodes{args.eval_episodes}"
        if key not in known:
            venv = make_vec(args.env, "rgb", args.eval_envs, False)
            venv.seed(eval_seed(seed))
            returns, _ = evaluate_policy(RandomPolicy(venv.action_space, seed), venv,
                                         n_eval_episodes=args.eval_episodes, return_episode_rewards=True, warn=False)
            venv.close()
            known[key] = float(np.mean(returns))
            write_json(cache, known)
        out.append(known[key])
    return out


def read_curves(env_dir: Path, labels: list[str], seeds: int) -> list[dict[str, Any]]:
    """Every evaluation row of the requested runs (finished or not), from the runs' CSVs."""
    rows = []
    for label in labels:
        for seed in range(seeds):
            path = env_dir / label / f"seed{seed}" / "evaluations.csv"
            if path.is_file():
                with path.open(newline="") as f:
                    rows += list(csv.DictReader(f))
    return rows


def per_seed_curves(rows: list[dict[str, Any]], label: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed → (steps, mean returns) of one agent."""
    curves: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        if r["agent"] == label:
            curves.setdefault(int(r["seed"]), []).append((int(r["step"]), float(r["mean_return"])))
    return {s: (np.array([p[0] for p in sorted(c)]), np.array([p[1] for p in sorted(c)])) for s, c in curves.items()}


SMOOTH = 3  # steps-to-threshold reads a trailing mean over this many evaluations (one lucky evaluation is not enough)


def steps_to_threshold(steps: np.ndarray, returns: np.ndarray, threshold: float) -> float:
    """First evaluated env step at which the trailing mean of the last ``SMOOTH`` evaluations (fewer at the
    start) is >= threshold; nan if never."""
    smoothed = np.array([returns[max(0, i - SMOOTH + 1):i + 1].mean() for i in range(len(returns))])
    hit = np.flatnonzero(smoothed >= threshold)
    return float(steps[hit[0]]) if hit.size else float("nan")


def summarise(args: argparse.Namespace, env_dir: Path, labels: list[str], random: list[float]) -> dict[str, Any]:
    """Per agent, over finished seeds: final return, return at T/3, env steps to the threshold and to the
    pixel agent's final return, speed.

    The default threshold is ``random + 0.8 × (best − random)`` where best is the best final mean return of
    the agents that see images (``ground_truth`` and the ``objects*`` ladder rungs are references that see the
    true objects, left out unless they are alone).
    """
    done = {label: [json.loads((env_dir / label / f"seed{s}" / "done.json").read_text())
                    for s in range(args.seeds) if (env_dir / label / f"seed{s}" / "done.json").is_file()]
            for label in labels}
    random_mean = float(np.mean(random))
    finals = {label: aggregate([d["final_return"] for d in runs]) for label, runs in done.items() if runs}
    image_agents = [label for label in finals
                    if label != "ground_truth" and not label.startswith("objects")] or list(finals)
    best = max((finals[label]["mean"] for label in image_agents), default=float("nan"))
    threshold = args.threshold if args.threshold is not None else random_mean + 0.8 * (best - random_mean)
    pixels_final = finals["pixels"]["mean"] if "pixels" in finals else float("nan")
    rows = read_curves(env_dir, labels, args.seeds)
    third = args.timesteps / 3
    agents: dict[str, Any] = {}
    for label, runs in done.items():
        if not runs:
            continue
        curves = per_seed_curves(rows, label)
        finished = [curves[d["seed"]] for d in runs if d["seed"] in curves]
        at_third = [float(np.interp(third, s, r)) if s[0] <= third else float("nan") for s, r in finished]
        reach = [steps_to_threshold(s, r, threshold) for s, r in finished]
        reach_pixels = [steps_to_threshold(s, r, pixels_final) for s, r in finished]
        agents[label] = {
            "final_return": finals[label], "return_at_third": aggregate(at_third),
            "steps_to_threshold": aggregate(reach), "reached": int(np.isfinite(reach).sum()),
            "steps_to_pixels_final": aggregate(reach_pixels),
            "reached_pixels_final": int(np.isfinite(reach_pixels).sum()),
            "n": len(runs), "train_steps_per_s": aggregate([d["train_steps_per_s"] for d in runs]),
            "learn_seconds": aggregate([d["learn_seconds"] for d in runs]),
            "final_return_per_seed": [d["final_return"] for d in runs],
            "resumed_seeds": [d["seed"] for d in runs if d.get("resumed")],  # not bit-identical to uninterrupted
        }
    rule = "given" if args.threshold is not None else "random + 0.8 × (best image agent's final − random)"
    return {"env": args.env, "timesteps": args.timesteps, "threshold": threshold, "threshold_rule": rule,
            "pixels_final_return": pixels_final, "random_return": aggregate(random), "agents": agents}


def fmt(stats: dict[str, float], spec: str = "{:.2f}") -> str:
    if not np.isfinite(stats["mean"]):
        return "–"
    cell = spec.format(stats["mean"])
    return cell + (" ± " + spec.format(stats["half_width"]) if np.isfinite(stats["half_width"]) else "")


def reach_cell(stats: dict[str, float], reached: int, n: int) -> str:
    """Mean env steps over the seeds that reached (k/n), or 'not reached'."""
    return (f"{stats['mean']:.0f}" if reached else "not reached") + f" ({reached}/{n})"


RESUMED = "†"  # marks, in table.md, an agent whose n includes resumed seeds


def markdown_table(summary: dict[str, Any]) -> str:
    t = summary["timesteps"]
    lines = [f"{summary['env']}, {t} env steps per run; mean ± 95% t-interval half-width over n seeds "
             f"(env steps: first evaluation whose trailing {SMOOTH}-evaluation mean return reaches the level, mean "
             f"over the seeds that reached it); threshold {summary['threshold']:.2f} "
             f"({summary['threshold_rule']})"
             + (f"; pixels' final return {summary['pixels_final_return']:.2f}"
                if np.isfinite(summary["pixels_final_return"]) else ""), "",
             ("| agent | n | final return | return at T/3 | env steps to threshold | env steps to pixels' final return "
              "| train steps/s | learn wall s |"), "|---|---|---|---|---|---|---|---|"]
    for label, s in summary["agents"].items():
        lines.append(f"| {label} | {s['n']}{RESUMED if s.get('resumed_seeds') else ''} | {fmt(s['final_return'])} | "
                     f"{fmt(s['return_at_third'])} | "
                     f"{reach_cell(s['steps_to_threshold'], s['reached'], s['n'])} | "
                     f"{reach_cell(s['steps_to_pixels_final'], s['reached_pixels_final'], s['n'])} | "
                     f"{fmt(s['train_steps_per_s'], '{:.0f}')} | {fmt(s['learn_seconds'], '{:.0f}')} |")
    r = summary["random_return"]
    lines.append(f"| random policy | {int(r['n'])} | {fmt(r)} | | | | | |")
    resumed = [f"{label} seed{'s' if len(s['resumed_seeds']) > 1 else ''} {', '.join(map(str, s['resumed_seeds']))}"
               for label, s in summary["agents"].items() if s.get("resumed_seeds")]
    if resumed:
        lines += ["", f"{RESUMED} resumed from a mid-way checkpoint after an interruption, so not bit-identical to an "
                      f"uninterrupted run (env episodes restart at the resume): {'; '.join(resumed)}"]
    return "\n".join(lines)


def learning_curves(summary: dict[str, Any], rows: list[dict[str, Any]], path: Path) -> None:
    """Mean eval return over seeds against env steps, with the 95 % t-band (n >= 2) per agent."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    for label in summary["agents"]:
        curves = per_seed_curves(rows, label)
        if not curves:
            continue
        steps = sorted(set.intersection(*(set(s.tolist()) for s, _ in curves.values())))
        values = np.array([[r[list(s).index(x)] for x in steps] for s, r in curves.values()])
        stats = [aggregate(values[:, j]) for j in range(len(steps))]
        mean = np.array([st["mean"] for st in stats])
        line, = ax.plot(steps, mean, label=f"{label} (n={len(curves)})")
        if len(curves) >= 2:
            ax.fill_between(steps, [st["ci_low"] for st in stats], [st["ci_high"] for st in stats],
                            color=line.get_color(), alpha=0.2)
    ax.axhline(summary["random_return"]["mean"], color="grey", ls=":", label="random policy")
    ax.axhline(summary["threshold"], color="black", ls="--", lw=0.8, label="threshold")
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean eval return (held-out episodes)")
    ax.set_title(f"PPO on {summary['env']}")
    ax.legend(fontsize=8)
    fig.savefig(path, format="png")


PROTOCOL_KEYS = ("env", "timesteps", "n_envs", "eval_freq", "eval_episodes", "ppo")


def result_labels(args: argparse.Namespace, env_dir: Path, labels: list[str]) -> list[str]:
    """This command's agents, then those of earlier commands in the same folder with finished runs under the
    same protocol (env, budget, evaluation, PPO), so that e.g. an ablation row run later joins the table."""
    protocol = {k: v for k, v in run_settings(args, "pixels").items() if k in PROTOCOL_KEYS}
    more = []
    for folder in sorted(p for p in env_dir.iterdir() if p.is_dir() and p.name not in labels):
        for marker in sorted(folder.glob("seed*/done.json")):
            stored = json.loads(marker.read_text()).get("settings", {})
            if {k: stored.get(k) for k in PROTOCOL_KEYS} == protocol:
                more.append(folder.name)
                break
    return list(labels) + more


def write_results(args: argparse.Namespace, env_dir: Path, labels: list[str], random: list[float],
                  extra: dict[str, Any]) -> tuple[dict[str, Any], str]:
    labels = result_labels(args, env_dir, labels)
    rows = read_curves(env_dir, labels, args.seeds)
    tmp = env_dir / "evaluations.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CsvEvalCallback.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, env_dir / "evaluations.csv")
    summary = summarise(args, env_dir, labels, random)
    summary.update(extra)
    write_json(env_dir / "summary.json", summary)
    table = markdown_table(summary)
    (env_dir / "table.md").write_text(table + "\n")
    if summary["agents"]:
        learning_curves(summary, rows, env_dir / "learning_curves.png")
    return summary, table


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    torch.set_num_threads(args.threads)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass

    # 1. Inputs: every check before any training.
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise SystemExit(f"--device: {exc}") from exc
    frames = frame_shape(args.env)
    if "ground_truth" in args.agents and not has_ground_truth(args.env):
        raise SystemExit(f"--agents ground_truth: {args.env} has no ground-truth state (only MintTasks/* do); "
                         "leave ground_truth out")
    objects = [a for a in args.agents if a in OBJECT_AGENTS]
    if objects and not has_ground_truth(args.env):
        raise SystemExit(f"--agents {' '.join(objects)}: {args.env} has no info['objects'] ground truth (only "
                         "MintTasks/* do); leave them out")
    if args.glimpse_size:  # glimpses must not turn a keypoint agent into a pixel agent by another door
        try:
            check_glimpse_size(args.glimpse_size, frames[0], frames[1], args.num_keypoints, MAX_GLIMPSE_COVERAGE)
        except ValueError as exc:
            raise SystemExit(f"--glimpse-size: {exc}") from exc
    if args.encoder is not None:
        check_encoder(args.encoder, frames, args.env)
    env_dir = Path(args.out) / env_slug(args.env)
    env_dir.mkdir(parents=True, exist_ok=True)
    with locked_run_folder(env_dir):  # one process per folder; temporary files a killed run left are removed
        labels = [agent_label(a, args) for a in args.agents]
        todo = []
        for agent, label in zip(args.agents, labels, strict=True):
            for seed in range(args.seeds):
                marker = env_dir / label / f"seed{seed}" / "done.json"
                if marker.is_file():
                    stored = json.loads(marker.read_text())["settings"]
                    if stored != run_settings(args, agent):
                        raise SystemExit(f"{marker} was written with other settings {stored}; this command asks "
                                         f"for {run_settings(args, agent)}. Use another --out (or delete that "
                                         "folder).")
                else:
                    todo.append((agent, seed))
        if args.report_only and todo:
            print(f"--report-only: {len(todo)} run(s) not finished are left out of the table: "
                  + ", ".join(f"{agent_label(a, args)} seed {s}" for a, s in todo))
            todo = []
        print(f"{args.env}: agents {', '.join(labels)}; {args.seeds} seed(s); {args.timesteps} env steps per run "
              f"({args.n_envs} envs, evaluation every {args.eval_freq} steps on {args.eval_episodes} held-out "
              f"episodes); {len(todo)} run(s) to do; out {env_dir}", flush=True)

        # 2. Encoders: pretrained once per env and budget, cached for the next run.
        encoders_dir = env_dir / "encoders"
        encoder_paths: dict[str, Path | None] = {}
        pretrain_seconds: dict[str, float] = {}
        todo_agents = {a for a, _ in todo}
        if "mint" in todo_agents:
            if args.encoder is not None:
                encoder_paths["mint"] = Path(args.encoder)
            elif not args.online:
                encoder_paths["mint"], pretrain_seconds["mint"] = pretrain_mint(args, encoders_dir)
                check_encoder(encoder_paths["mint"], frames, args.env)
            else:
                encoder_paths["mint"] = None  # co-trained from scratch
        if "transporter" in todo_agents:
            encoder_paths["transporter"], pretrain_seconds["transporter"] = pretrain_transporter(args, encoders_dir,
                                                                                                 frames)
        args.codebooks = {}
        if args.colour_codes:  # colour categories fitted to the keypoints of the pretraining frames, cached
            frames_path = pretraining_frames(args.env, args.pretrain_frames,
                                             encoders_dir / f"frames-f{args.pretrain_frames}.npz", not args.no_progress)
            for name, path in encoder_paths.items():
                if path is not None:
                    args.codebooks[name] = colour_codebook(path, frames_path, args)
        for name, seconds in pretrain_seconds.items():
            if seconds > 0:
                print(f"pretrained the {name} encoder in {seconds:.0f} s: {encoder_paths[name]}", flush=True)
        for agent, seed in todo:  # an interrupted run resumes only on the encoder it started with
            check_resume_encoder(env_dir / agent_label(agent, args) / f"seed{seed}", run_settings(args, agent),
                                 encoder_paths.get(agent))

        # 3. Random-policy reference on the held-out episodes.
        random = random_returns(args, env_dir)

        # 4. Training runs, interleaved by seed so that partial results cover every agent.
        extra = {"pretrain_seconds_this_invocation": pretrain_seconds}
        for agent, seed in sorted(todo, key=lambda a_s: (a_s[1], args.agents.index(a_s[0]))):
            done = train_one(agent, seed, args, env_dir, encoder_paths.get(agent))
            print(f"{done['label']:>14s} seed {seed}: final return {done['final_return']:.2f} ± "
                  f"{done['final_return_std']:.2f} (sd over {args.eval_episodes} episodes), "
                  f"{done['train_steps_per_s']:.0f} train steps/s, {done['learn_seconds']:.0f} s", flush=True)
            write_results(args, env_dir, labels, random, extra)

        # 5. Results.
        wall = time.perf_counter() - t_start
        extra["wall_seconds_this_invocation"] = wall
        extra["cpu_seconds_this_invocation"] = time.process_time() - cpu_start  # all threads of this process
        summary, table = write_results(args, env_dir, labels, random, extra)
        print()
        print(table)
        cpu = extra["cpu_seconds_this_invocation"]
        print(f"\nwall time of this invocation: {wall:.0f} s ({cpu:.0f} CPU s); results in "
              f"{env_dir}/evaluations.csv, summary.json, table.md, learning_curves.png; TensorBoard: tensorboard "
              f"--logdir {env_dir / 'tb'}")
        if args.export:
            export = Path(args.export)
            export.mkdir(parents=True, exist_ok=True)
            for name in ("evaluations.csv", "summary.json", "table.md", "learning_curves.png"):
                if (env_dir / name).is_file():
                    shutil.copy2(env_dir / name, export / name)
            print(f"exported the small result files to {export}")
        return {"summary": summary, "table": table, "out": env_dir, "wall_seconds": wall}


if __name__ == "__main__":
    main()
