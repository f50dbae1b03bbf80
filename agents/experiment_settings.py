"""The settings of one PPO experiment on one env: :class:`PPOExperiment`, validated, every default resolved.

An experiment trains several agents (:data:`AGENTS`) on the same env id, with the same training seeds, timestep
budget and PPO hyperparameters; only what they observe differs. ``experiments/ppo_keypoints.py`` builds a
:class:`PPOExperiment` from its flags, ``experiments/atari_study.py`` one per game; both hand it to
:func:`agents.ppo_experiment.run_ppo_experiment`.

The fields are the flags of ``experiments/ppo_keypoints.py`` (``n_envs`` is ``--n-envs``) and the errors name the
flags. Fields left None take the env's defaults when the object is made: object tasks (``MintTasks/*``)
:data:`SCENE_DEFAULTS`, :data:`SCENE_REPRESENTATION` and :data:`SCENE_PPO`; ALE ids :data:`ATARI_DEFAULTS`,
:data:`ATARI_REPRESENTATION` and :data:`ATARI_PPO`.

Example::

    exp = PPOExperiment(env="MintTasks/Catch-v0", seeds=3)
    exp.timesteps, exp.agents, exp.label("mint")     # 50000, ['mint', 'pixels', 'ground_truth'], 'mint-relation-c8w5-eqc-lrlin-n1-auxr2'
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable

from agents.extractors import MAX_FOURIER_OCTAVES, KeypointMapExtractor, KeypointMlpExtractor, KeypointSetExtractor
from envs.keypoint_observation import GLIMPSE_AT  # glimpses at the keypoints, or (a control) at random positions
from envs.object_keypoints import LADDER_RUNGS, ladder_rung_kwargs
from envs.shipped_encoders import is_encoder_name, shipped_encoder_path

__all__ = ["AGENTS", "ATARI_DEFAULTS", "ATARI_PPO", "ATARI_REPRESENTATION", "AUX_HORIZON", "AUX_UPDATES", "AUX_WEIGHT", "EXTRACTORS", "ExperimentError",
           "HELD_OUT_SEED", "KEYPOINT_AGENTS", "MAX_GLIMPSE_COVERAGE", "N_STACK", "OBJECT_AGENTS", "PPOExperiment",
           "PROTOCOL_KEYS", "RELATION_DIM", "SCENE_DEFAULTS", "SCENE_PPO", "SCENE_REPRESENTATION", "eval_seed", "linear"]

AGENTS = ("mint", "pixels", "transporter", "ground_truth", *LADDER_RUNGS)
KEYPOINT_AGENTS = ("mint", "transporter")  # keypoints from an encoder
OBJECT_AGENTS = LADDER_RUNGS  # keypoints from the true objects (the observation ladder, envs.object_keypoints)
HELD_OUT_SEED = 10_000  # evaluation of training seed s uses env seed HELD_OUT_SEED + 1000 s; training seeds stay below
N_STACK = 2  # keypoint agents and scene pixel agents see the last 2 frames (velocity)
EXTRACTORS: dict[str, tuple[type, dict[str, Any]]] = {
    "mlp": (KeypointMlpExtractor, {}),
    "set": (KeypointSetExtractor, {}),
    "attention": (KeypointSetExtractor, {"attention_heads": 4}),
    "relation": (KeypointSetExtractor, {"relations": True}),
    "sort-y": (KeypointSetExtractor, {"sort": "y"}),
    "sort-learned": (KeypointSetExtractor, {"sort": "learned"}),
    "map": (KeypointMapExtractor, {}),
}
"""``extractor`` choices: the features extractor class and its keyword arguments."""
MAX_GLIMPSE_COVERAGE = 1 / 8  # the K glimpses of a frame together cover at most this fraction of it

# Object tasks: the settings of benchmarks/bench_tasks.py (which learn Catch and Reach from the true state in
# ~30k steps) except the learning rate: SB3's default 3e-4, as 1e-3 was unstable on keypoints. The same for
# every agent, so that only the observation differs.
SCENE_PPO: dict[str, Any] = dict(n_steps=128, batch_size=64, n_epochs=10, learning_rate=3e-4, gamma=0.95,
                                 ent_coef=0.01)
# 50k steps: the whole default run (pretraining, three agents, evaluations) within 15 min on 2 CPU cores. At
# 100k it took 23.6 min: the pixel agent alone trains ~1,100 s there (a NatureCNN update on 64 frames takes ~50 ms
# on one core, 800 of them per 50k steps). The README's tables give --timesteps 100000.
SCENE_DEFAULTS = dict(n_envs=4, timesteps=50_000, eval_episodes=10)
# The keypoint agents' representation. Object tasks: keypoints that carry their colour code (8 colours, 5×5 window),
# read by the set extractor with a relation network over keypoint pairs, with the keypoint agent's learning rate
# decaying linearly: the configuration that learned Catch and Dodge best (docs/keypoint_ladder.md, "Seventh
# session"). ALE: the flat extractor on plain keypoints, as the Atari study measured (colour codes are not measured
# on Atari yet), constant learning rate (ALE's PPO settings already decay it).
# keypoint_stack: frames of keypoints per observation. One on object tasks: MINT's keypoints change object from
# frame to frame often enough that the previous frame's row of a keypoint is as often noise as velocity
# (docs/keypoint_ladder.md, "The stacked frame").
# aux_reward: auxiliary reward prediction (agents.auxiliary) for keypoint and ladder agents on object tasks, at this
# multiple of PPO's learning rate: it made the keypoint agent reach the pixel agent's return on more seeds, and
# sooner, on the same encoder (docs/keypoint_ladder.md, "Tenth session"); off on ALE (not measured there).
# equal_codes: the extractor's weights on the colour-code columns start at zero, so every colour starts with the
# same embedding: on Catch every seed of ten reached the pixel agent's return, and sooner, on two encoders; on Dodge
# level at the end (docs/keypoint_ladder.md, "Nineteenth session"). It applies where the keypoints carry colour codes
# and the extractor is a set extractor (resolved in PPOExperiment once the agents are known); off on ALE.
# relation_dim (--relation-dim): the width of the relation network's pair MLP, by default the extractor's embedding
# size, RELATION_DIM. Half of it (32) made keypoint PPO about 8–16 % faster on Catch (its cost follows the present pairs
# times this width) but ended lower on Catch (10 paired seeds) and, on the point estimate, on Dodge
# (docs/keypoint_ladder.md, "Twenty-first session"): an option, not the default.
RELATION_DIM = 64  # a width other than this adds -p<width> to the label and to the run settings
AUX_WEIGHT = 2.0
AUX_UPDATES = 8
AUX_HORIZON = 1
AUX_WARMUP_STEPS = 4096  # --aux-warmup: the burst comes after the rollout that reaches this many env steps
ONLINE_UPDATES = 20  # --online: MINT steps after each rollout
SCENE_REPRESENTATION = dict(extractor="relation", glimpse_size=5, colour_codes=8, equal_codes=True, drop_background=False, track=False,
                            refine=0, refine_snap=0, online=False,
                            keypoint_stack=1, lr_decay=True, aux_reward=AUX_WEIGHT)
ATARI_REPRESENTATION = dict(extractor="mlp", glimpse_size=0, colour_codes=0, equal_codes=False, drop_background=False, track=False,
                            refine=0, refine_snap=0, online=False,
                            keypoint_stack=N_STACK, lr_decay=False, aux_reward=0.0)


def _set_extractor(name: str | None) -> bool:
    """Whether ``extractor`` name is one of the :class:`KeypointSetExtractor` variants (False for unknown names)."""
    return EXTRACTORS.get(name, (None, {}))[0] is KeypointSetExtractor


def linear(start: float) -> Callable[[float], float]:
    """rl-zoo's ``lin_<start>``: SB3 passes the remaining progress, 1 → 0."""
    return functools.partial(_linear, start)


def _linear(start: float, progress_remaining: float) -> float:
    return progress_remaining * start


# ALE: rl-baselines3-zoo hyperparams/ppo.yml, "atari" (policy CnnPolicy, frame_stack 4, AtariWrapper).
ATARI_PPO: dict[str, Any] = dict(n_steps=128, n_epochs=4, batch_size=256, learning_rate=linear(2.5e-4),
                                 clip_range=linear(0.1), vf_coef=0.5, ent_coef=0.01)
ATARI_DEFAULTS = dict(n_envs=8, timesteps=1_000_000, eval_episodes=5)

PROTOCOL_KEYS = ("env", "timesteps", "n_envs", "eval_freq", "eval_episodes", "eval_policy", "ppo")
"""The run settings that make results comparable in one table (env, budget, evaluation, PPO); ``eval_policy`` is
recorded on ALE ids only (runs made before it evaluated deterministically, and do not join a table with it)."""


def eval_seed(seed: int) -> int:
    """Env seed of the held-out evaluation episodes of training seed ``seed`` (the same for every agent)."""
    return HELD_OUT_SEED + 1000 * seed


class ExperimentError(ValueError):
    """A setting of a :class:`PPOExperiment`, or an input it names (env, encoder, folder), is unusable; the message
    names the flag of ``experiments/ppo_keypoints.py`` and what to do."""


@dataclasses.dataclass
class PPOExperiment:
    """PPO agents compared on one env: what to train, how long, how to evaluate, where to write.

    :param env: Gymnasium env id with image observations (``MintTasks/*``, ``ALE/*``).
    :param agents: agents to train, from :data:`AGENTS` (None: mint, pixels, plus ground_truth off ALE).
    :param seeds: how many training seeds per agent: ``first_seed .. first_seed+seeds-1`` (:attr:`seed_ids`; at
        most seed 9: the held-out seeds stay above them).
    :param first_seed: the first training seed (0; another adds seeds to a study in another folder or process).
    :param timesteps: env steps per run (None: 50k on object tasks, 1M on ALE).
    :param n_envs: parallel training envs (None: 4, ALE 8).
    :param eval_freq: env steps between evaluations (None: about 15 evaluations per run, on rollout ends).
    :param eval_episodes: held-out episodes per evaluation (None: 10, ALE 5).
    :param checkpoint_every: env steps between mid-way resume checkpoints (None: about 20 per run).
    :param threshold: return of the "steps to threshold" column (None: random + 0.8 × (best image agent − random)).
    :param encoder: a MINT checkpoint for the mint agent, or a shipped encoder's name (``pong``:
        :mod:`envs.shipped_encoders`) (None: pretrain one).
    :param online: co-train the mint agent's encoder during PPO with the MINT losses, on the frames PPO sees, starting
        from ``encoder``, or else from this run's own pretraining; with ``pretrain_steps`` 0, from scratch
        (None: off; on Catch it reached the pixel agent's return sooner on two encoders, on Dodge it learned later and
        ended lower, thirteenth session).
    :param online_updates: MINT steps after each rollout when ``online``.
    :param extractor: keypoint features extractor, a key of :data:`EXTRACTORS` (None: set, ALE mlp).
    :param relation_dim: keypoint agents with the ``relation`` extractor: the width of its pair MLP
        (``KeypointSetExtractor(relation_dim=...)``; None: the embedding size, :data:`RELATION_DIM`; another width
        adds ``-p<width>`` to the label and to the run settings). Refused with another extractor.
    :param fourier_features: keypoint and ladder agents with the ``mlp`` extractor: L > 0 gives the extractor
        each row's (x, y) also as sinusoids at L octaves (``KeypointMlpExtractor(fourier=L)``; label ``-ff<L>``,
        recorded in the run settings). 0: off. Refused with another extractor or without such an agent.
    :param glimpse_size: p×p frame glimpse per keypoint, 0 for none (None: 5, ALE 0).
    :param colour_codes: one-hot colour category among N colours instead of raw glimpses, 0 for none (None: 8,
        ALE 0; 0 without glimpses or when ``online`` starts from scratch).
    :param pretrain_steps: optimiser steps of encoder pretraining (0: none, only with ``online`` from scratch).
    :param glimpse_at: where glimpses are cut, from :data:`GLIMPSE_AT`.
    :param separate_critic: keypoint and ladder agents: the value function gets its own features extractor
        instead of sharing the policy's (SB3's ``share_features_extractor=False``), as ``MlpPolicy`` on the true
        state has separate policy and value networks; the value loss then does not shape the policy's features.
    :param lr_decay: keypoint agents only: their learning rate decays linearly from the shared PPO learning rate to 0
        over the run (rl-zoo's ``lin_``), where the other agents keep it constant; the other PPO settings and the
        protocol stay shared (the run records ``learning_rate_schedule``). None: on for object tasks, off on ALE
        (whose shared settings already decay it).
    :param keypoint_lr: keypoint and ladder agents: their (starting) learning rate instead of the shared one (None: the
        shared one); it decays linearly from there on ALE, where the shared rate decays, and for keypoint agents with
        ``lr_decay``. The
        other agents and the protocol are untouched (label suffix ``-lr<value>``; the run records it).
    :param aux_reward: keypoint and ladder agents: > 0 adds auxiliary reward prediction
        (:class:`agents.auxiliary.RewardPredictionCallback`), its learning rate this multiple of PPO's (label suffix
        ``-auxr<value>``); 0: off. The other agents are untouched. None: :data:`AUX_WEIGHT` on object tasks, 0 on ALE.
    :param aux_updates: with ``aux_reward``: its minibatch steps after each rollout (default
        :data:`AUX_UPDATES`; another value adds ``u<value>`` to the label's ``-auxr`` suffix and to the run
        settings).
    :param aux_horizon: with ``aux_reward``: H, the steps whose rewards class a step (its own and the next H - 1
        of its episode; default :data:`AUX_HORIZON`; a value other than 1, the form before the flag, adds
        ``h<value>`` to the ``-auxr`` suffix and to the run settings).
    :param aux_warmup: with ``aux_reward``: extra minibatch steps of reward prediction, once, after the rollout that
        brings training to :data:`AUX_WARMUP_STEPS` env steps (PPO's own steps, inside the budget; 0: none; another
        value adds ``w<value>`` to the ``-auxr`` suffix and to the run settings).
    :param equal_codes: keypoint agents with colour codes and a set extractor: the extractor's first-layer weights on
        the code columns start at zero, so every colour starts with the same embedding
        (``KeypointSetExtractor(equal_codes=N)``; label suffix ``-eqc``). None: on for object tasks wherever it
        applies (keypoint agents, colour codes, a set extractor: not ``mlp`` or ``map``), off otherwise and on ALE; an
        explicit True where it does not apply is refused.
    :param code_gain: with ``equal_codes``: the code weights start at this gain × a random orthogonal matrix instead
        of zero (``KeypointSetExtractor(code_gain=...)``; label suffix ``-eqc`` becomes ``-eqcg<gain>``, and the run
        settings record it); 0: zero.
    :param drop_background: keypoint agents with colour codes: keypoints whose code is the background's
        (:func:`mint_rl.appearance.background_code` on the pretraining frames) are reported inactive, so the
        policy reads only keypoints on something (None: off).
    :param track: persistent entity slots (``mint_rl.tracking``) instead of raw keypoints (None: off).
    :param refine: keypoint agents: w > 0 moves each keypoint to the centre of the object part under it, by colour
        mean shift in a w × w window (``mint_rl.refine``; odd, >= 3; label suffix ``-rf<w>``); 0: off (None: 0).
    :param refine_snap: with ``refine``: a keypoint on the background first moves to the nearest non-background pixel
        of an s × s window, then is refined (``mint_rl.refine``; odd, >= 3; label suffix ``s<s>`` after ``-rf<w>``);
        0: off (None: 0).
    :param encoder_features: keypoint agents: the rows carry the encoder's F features (True, the default; the
        MINT losses do not train the feature head, so they are fixed random projections); False leaves them out
        (label suffix ``-nf``, setting ``encoder_features``).
    :param keypoint_stack: frames of keypoints the keypoint agents see, newest last (None: 1 on object tasks,
        :data:`N_STACK` on ALE); pixel and object-ladder agents always see :data:`N_STACK`.
    :param object_properties: ``properties.json`` of ``experiments/keypoint_properties.py`` for the ladder rungs.
    :param object_properties_label: its encoder entry (None: the first).
    :param pretrain_frames: random-policy frames for pretraining.
    :param num_keypoints: K of pretrained encoders.
    :param feature_dim: F, per-keypoint features of pretrained encoders.
    :param overlay_every: keypoint agents log a keypoint overlay to TensorBoard every N rollouts (0: never).
    :param device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    :param threads: torch CPU threads.
    :param out: output folder, one subfolder per env.
    :param export: also copy the small result files here (None: no copy).
    :param no_progress: no progress bars.
    :param jobs: training runs at a time, each in its own process with ``threads`` torch threads (None: the
        number of CPU cores). Runs are seeded and independent, so their results do not depend on it.
    :param report_only: train nothing; report the runs already finished in ``out``.
    :raises ExperimentError: a setting is out of range or contradicts another.
    """

    env: str = "MintTasks/Catch-v0"
    agents: list[str] | None = None
    seeds: int = 1
    first_seed: int = 0
    timesteps: int | None = None
    n_envs: int | None = None
    eval_freq: int | None = None
    eval_episodes: int | None = None
    checkpoint_every: int | None = None
    threshold: float | None = None
    encoder: str | None = None
    online: bool | None = None
    online_updates: int = ONLINE_UPDATES
    extractor: str | None = None
    relation_dim: int | None = None
    fourier_features: int = 0
    glimpse_size: int | None = None
    colour_codes: int | None = None
    equal_codes: bool | None = None
    code_gain: float = 0.0
    glimpse_at: str = "keypoints"
    separate_critic: bool = False
    lr_decay: bool | None = None
    keypoint_lr: float | None = None
    aux_reward: float | None = None
    aux_updates: int = AUX_UPDATES
    aux_horizon: int = AUX_HORIZON
    aux_warmup: int = 0
    drop_background: bool | None = None
    track: bool | None = None
    refine: int | None = None
    refine_snap: int | None = None
    encoder_features: bool = True
    keypoint_stack: int | None = None
    object_properties: str | None = None
    object_properties_label: str | None = None
    pretrain_steps: int = 500
    pretrain_frames: int = 4000
    num_keypoints: int = 8
    feature_dim: int = 0
    overlay_every: int = 10
    device: str = "cpu"
    threads: int = 1
    out: str = "runs/ppo_keypoints"
    export: str | None = None
    no_progress: bool = False
    jobs: int | None = None
    report_only: bool = False
    # resolved from the fields above when the object is made
    atari: bool = dataclasses.field(init=False)
    """An ALE id: Atari defaults, hyperparameters and env wrappers."""
    deterministic_eval: bool = dataclasses.field(init=False)
    """Held-out evaluations act with the most likely action (object tasks) or sample it (ALE ids)."""
    ppo: dict[str, Any] = dataclasses.field(init=False)
    """PPO keyword arguments, the same for every agent (:data:`SCENE_PPO` or :data:`ATARI_PPO`)."""
    eval_envs: int = dataclasses.field(init=False)
    """Evaluation envs, stepped in one batch."""
    object_kwargs: dict[str, dict[str, Any]] = dataclasses.field(init=False)
    """Ladder rung → keyword arguments of :class:`envs.object_keypoints.ObjectKeypoints`."""

    def __post_init__(self) -> None:
        self.atari = self.env.startswith("ALE/")
        self.encoder_file: Path | None = None if self.encoder is None else Path(self.encoder)
        if is_encoder_name(self.encoder):  # a shipped encoder by name (envs.shipped_encoders), e.g. "pong": the run
            try:                           # settings keep the name, so a move of the install changes nothing
                self.encoder_file = shipped_encoder_path(self.encoder)
            except ValueError as exc:
                raise ExperimentError(f"--encoder: {exc}") from exc
        # held-out evaluation: the most likely action on object tasks; sampled actions on ALE, as rl-baselines3-zoo
        # evaluates Atari agents (a deterministic Atari policy can repeat one losing pattern: Boxing below random)
        self.deterministic_eval = not self.atari
        defaults = ATARI_DEFAULTS if self.atari else SCENE_DEFAULTS
        representation = dict(ATARI_REPRESENTATION if self.atari else SCENE_REPRESENTATION)
        if self.glimpse_size == 0:  # no window, so no colour to code, unless asked (and then refused below)
            representation["colour_codes"] = 0
        online_default = representation.pop("online")
        self.online = online_default if self.online is None else bool(self.online)
        if self.online and self.encoder is None and self.pretrain_steps == 0:  # co-trained from scratch: no
            if self.colour_codes:                                                 # pretrained keypoints to fit codes to
                raise ExperimentError(
                    f"--colour-codes {self.colour_codes}: the codebook is fitted to a pretrained encoder's keypoints, "
                    "and --online with --pretrain-steps 0 co-trains one from scratch; give --encoder PATH or "
                    "--pretrain-steps N to start from, or --colour-codes 0")
            representation.update(glimpse_size=0, colour_codes=0)
        aux_default = representation.pop("aux_reward")  # filled below, once the agents are known
        equal_default = representation.pop("equal_codes")  # likewise
        for key, value in {**defaults, **representation}.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        self.ppo = dict(ATARI_PPO if self.atari else SCENE_PPO)
        self._check()
        self.eval_envs = min(self.eval_episodes, self.n_envs)
        if self.agents is None:
            self.agents = ["mint", "pixels"] + ([] if self.atari else ["ground_truth"])
        self.agents = list(dict.fromkeys(self.agents))
        self._aux_given = self.aux_reward is not None  # (for the wording of errors)
        if self.aux_reward is None:  # the default applies to keypoint and ladder agents; none to apply it to: 0
            self.aux_reward = aux_default if set(self.agents) & set(KEYPOINT_AGENTS + OBJECT_AGENTS) else 0.0
        if self.equal_codes is None:  # the default applies where the keypoints carry codes read by a set extractor
            self.equal_codes = bool(equal_default and self.colour_codes and _set_extractor(self.extractor)
                                    and set(self.agents) & set(KEYPOINT_AGENTS))
        self._check_representation()
        self.object_kwargs = self._ladder_rungs()

    def _check(self) -> None:
        """Ranges of the numbers and folders; fills ``eval_freq`` and ``checkpoint_every``."""
        rollout = self.n_envs * self.ppo["n_steps"]
        if self.jobs is None:
            self.jobs = os.cpu_count() or 1
        for name in ("seeds", "n_envs", "eval_episodes", "num_keypoints", "threads", "jobs"):
            if getattr(self, name) < 1:
                raise ExperimentError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.pretrain_steps == 0 and "transporter" in (self.agents or []):
            raise ExperimentError("--pretrain-steps 0: the transporter agent's encoder is pretrained with those steps; "
                                  "give --pretrain-steps N >= 1, or leave transporter out of --agents")
        if self.pretrain_steps < 0 or (self.pretrain_steps == 0 and not (self.online and self.encoder is None)):
            raise ExperimentError(f"--pretrain-steps must be >= 1, got {self.pretrain_steps} (0, no pretraining, "
                                  "only with --online and no --encoder: the mint agent's encoder co-trained from "
                                  "scratch)")
        if self.online_updates < 1:
            raise ExperimentError(f"--online-updates must be >= 1 (MINT steps after each rollout), got "
                                  f"{self.online_updates}")
        for name in ("feature_dim", "overlay_every"):
            if getattr(self, name) < 0:
                raise ExperimentError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.keypoint_lr is not None and not (math.isfinite(self.keypoint_lr) and 0 < self.keypoint_lr < 1):
            raise ExperimentError(f"--keypoint-lr must be a learning rate in (0, 1), got {self.keypoint_lr}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ExperimentError(f"--threshold must be a finite return, got {self.threshold}")
        for name in ("out", "export"):
            folder = getattr(self, name)
            if folder and any(q.exists() and not q.is_dir() for q in (Path(folder), *Path(folder).parents)):
                raise ExperimentError(f"--{name} {folder} is a file (or inside one); give a folder")
        if self.first_seed < 0:
            raise ExperimentError(f"--first-seed must be >= 0, got {self.first_seed}")
        if self.first_seed + self.seeds > 10:
            raise ExperimentError(f"--first-seed {self.first_seed} --seeds {self.seeds} asks for training seeds up to "
                                  f"{self.first_seed + self.seeds - 1}; they must stay <= 9, below the held-out "
                                  "evaluation seeds: lower --seeds or --first-seed")
        if self.timesteps < rollout:
            raise ExperimentError(f"--timesteps {self.timesteps} is smaller than one PPO rollout (--n-envs "
                                  f"{self.n_envs} × n_steps {self.ppo['n_steps']} = {rollout} env steps); give at "
                                  f"least {rollout}")
        if self.pretrain_frames < 8 * 3:
            raise ExperimentError("--pretrain-frames must be >= 24 (a few clips of 3 frames)")
        if self.eval_freq is None:  # ~15 evaluations, on rollout ends
            self.eval_freq = rollout * max(1, round(self.timesteps / (15 * rollout)))
        if self.checkpoint_every is None:
            self.checkpoint_every = rollout * max(1, round(self.timesteps / (20 * rollout)))
        if self.checkpoint_every < 1:
            raise ExperimentError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        if self.eval_freq < self.n_envs:
            raise ExperimentError(f"--eval-freq {self.eval_freq} is smaller than one step of the {self.n_envs} envs")

    def _check_representation(self) -> None:
        """The agents, the extractor and the appearance settings of the keypoint agents."""
        unknown = [a for a in self.agents if a not in AGENTS]
        if unknown:
            raise ExperimentError(f"--agents {' '.join(unknown)}: not an agent; choose from {', '.join(AGENTS)}")
        if self.extractor not in EXTRACTORS:
            raise ExperimentError(f"--extractor {self.extractor}: choose from {', '.join(EXTRACTORS)}")
        if self.relation_dim is not None:
            if self.extractor != "relation" or not set(self.agents) & set(KEYPOINT_AGENTS):
                raise ExperimentError(f"--relation-dim {self.relation_dim} sets the width of the relation network of the "
                                      f"keypoint agents ({', '.join(KEYPOINT_AGENTS)}): give --extractor relation (now "
                                      f"{self.extractor}) and one of them in --agents, or drop the flag")
            if isinstance(self.relation_dim, bool) or not isinstance(self.relation_dim, numbers.Integral) \
                    or not 1 <= self.relation_dim <= 1024:
                raise ExperimentError(f"--relation-dim must be a whole number in [1, 1024] (the width of the relation "
                                      f"network's pair MLP), got {self.relation_dim!r}")
        if self.fourier_features != 0:
            if isinstance(self.fourier_features, bool) or not isinstance(self.fourier_features, numbers.Integral) \
                    or not 0 <= self.fourier_features <= MAX_FOURIER_OCTAVES:
                raise ExperimentError(f"--fourier-features must be a whole number of octaves in [0, "
                                      f"{MAX_FOURIER_OCTAVES}] (0: off), got {self.fourier_features!r}")
            if self.extractor != "mlp" or not set(self.agents) & set(KEYPOINT_AGENTS + OBJECT_AGENTS):
                raise ExperimentError(f"--fourier-features {self.fourier_features} gives the flat extractor of the "
                                      f"keypoint and ladder agents sinusoids of the coordinates: give --extractor mlp "
                                      f"(now {self.extractor}) and a keypoint or objects agent in --agents, or drop "
                                      "the flag")
        if self.keypoint_lr is not None and not set(self.agents) & set(KEYPOINT_AGENTS + OBJECT_AGENTS):
            raise ExperimentError(f"--keypoint-lr {self.keypoint_lr} sets the learning rate of the keypoint agents "
                                  f"({', '.join(KEYPOINT_AGENTS)}) and the ladder's objects agents, and --agents has "
                                  "none; add one or drop the flag")
        if self.equal_codes and not set(self.agents) & set(KEYPOINT_AGENTS):
            raise ExperimentError(f"--equal-codes acts on the extractor of the keypoint agents "
                                  f"({', '.join(KEYPOINT_AGENTS)}), and --agents has none; add one or drop the flag")
        if not (math.isfinite(self.aux_reward) and 0 <= self.aux_reward <= 10):
            raise ExperimentError(f"--aux-reward must be in [0, 10] (0: off; else the auxiliary learning rate as a "
                                  f"multiple of PPO's), got {self.aux_reward}")
        for name, value in (("--aux-updates", self.aux_updates), ("--aux-horizon", self.aux_horizon),
                            ("--aux-warmup", self.aux_warmup)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ExperimentError(f"{name} must be a whole number, got {value!r}")
        if not 1 <= self.aux_updates <= 256:
            raise ExperimentError(f"--aux-updates must be in [1, 256] (minibatch steps of reward prediction per "
                                  f"rollout), got {self.aux_updates}")
        if not 0 <= self.aux_warmup <= 4096:
            raise ExperimentError(f"--aux-warmup must be in [0, 4096] (extra minibatch steps of reward prediction, "
                                  f"once, after {AUX_WARMUP_STEPS} env steps; 0: none), got {self.aux_warmup}")
        n_steps = int(self.ppo["n_steps"])
        if not 1 <= self.aux_horizon <= n_steps // 2:  # a longer window leaves most steps of a rollout unknown
            raise ExperimentError(f"--aux-horizon must be in [1, {n_steps // 2}] (half of PPO's {n_steps} steps per "
                                  f"rollout: a step's window must fit in the rollout), got {self.aux_horizon}")
        off = ("off (--aux-reward 0)" if self.aux_reward == 0 and self._aux_given else
               "off here by default (ALE ids, or no keypoint or ladder agent)")
        if self.aux_horizon != AUX_HORIZON and not self.aux_reward:
            raise ExperimentError(f"--aux-horizon {self.aux_horizon} sets the window of reward prediction, which is "
                                  f"{off}; give --aux-reward > 0 or drop the flag")
        if self.aux_updates != AUX_UPDATES and not self.aux_reward:
            raise ExperimentError(f"--aux-updates {self.aux_updates} sets the steps of reward prediction, which is "
                                  f"{off}; give --aux-reward > 0 or drop the flag")
        if self.aux_warmup and not self.aux_reward:
            raise ExperimentError(f"--aux-warmup {self.aux_warmup} adds steps of reward prediction, which is "
                                  f"{off}; give --aux-reward > 0 or drop the flag")
        if self.aux_reward and not set(self.agents) & set(KEYPOINT_AGENTS + OBJECT_AGENTS):
            raise ExperimentError(f"--aux-reward {self.aux_reward} trains the features extractor of the keypoint and "
                                  "ladder agents, and --agents has none; add one or drop the flag")
        if self.glimpse_at not in GLIMPSE_AT:
            raise ExperimentError(f"--glimpse-at {self.glimpse_at}: choose from {', '.join(GLIMPSE_AT)}")
        if self.glimpse_size < 0:
            raise ExperimentError(f"--glimpse-size must be >= 0 pixels, got {self.glimpse_size}")
        if self.colour_codes < 0 or (self.colour_codes and not self.glimpse_size):
            raise ExperimentError(f"--colour-codes {self.colour_codes}: give N >= 1 colours together with "
                                  "--glimpse-size (the window whose colour is coded), or 0 for none")
        if self.track and self.glimpse_size and not self.colour_codes:
            raise ExperimentError("--track keeps (x, y, status, colour code) per entity: raw glimpses (--glimpse-size "
                                  "without --colour-codes) would be dropped; add --colour-codes N or leave out "
                                  "--glimpse-size")
        if self.equal_codes and (not self.colour_codes or not _set_extractor(self.extractor)):
            raise ExperimentError(f"--equal-codes starts every colour code with the same embedding in a set extractor: "
                                  f"give --colour-codes N (now {self.colour_codes}) and a set extractor, not mlp or "
                                  f"map (now --extractor {self.extractor}), or leave it out")
        if self.extractor == "map" and self.glimpse_size and not self.colour_codes \
                and set(self.agents) & set(KEYPOINT_AGENTS):
            raise ExperimentError(f"--extractor map draws each keypoint's position and features on a grid; raw glimpses "
                                  f"(--glimpse-size {self.glimpse_size} with --colour-codes 0) are not features it can "
                                  "draw: give --colour-codes N (one channel per colour) or --glimpse-size 0")
        if isinstance(self.code_gain, bool) or not isinstance(self.code_gain, numbers.Real) \
                or not (math.isfinite(self.code_gain) and 0 <= self.code_gain <= 2):
            raise ExperimentError(f"--code-gain must be in [0, 2] (the start of the colour-code weights, × a random "
                                  f"orthogonal matrix; 0: zero), got {self.code_gain!r}")
        if self.code_gain and not self.equal_codes:
            raise ExperimentError(f"--code-gain {self.code_gain} sets the start of the weights of codes that start "
                                  "(nearly) equal, which are off here (--no-equal-codes, no --colour-codes, an "
                                  "extractor that is not a set extractor (mlp, map), or ALE); turn them on or drop the "
                                  "flag")
        if self.drop_background and not self.colour_codes:
            raise ExperimentError("--drop-background drops the keypoints whose colour code is the background's: give "
                                  "--colour-codes N (and --glimpse-size p), or leave it out")
        if self.keypoint_stack < 1:
            raise ExperimentError(f"--keypoint-stack must be >= 1 frame, got {self.keypoint_stack}")
        if self.refine and (self.refine < 3 or self.refine % 2 == 0):
            raise ExperimentError(f"--refine {self.refine}: give an odd window >= 3 pixels (each keypoint moves to the "
                                  "centre of the object part in it), or 0 for none")
        if self.refine_snap and (self.refine_snap < 3 or self.refine_snap % 2 == 0):
            raise ExperimentError(f"--refine-snap {self.refine_snap}: give an odd window >= 3 pixels (a keypoint on the "
                                  "background moves to the nearest non-background pixel in it), or 0 for none")
        if self.refine_snap and not self.refine:
            raise ExperimentError(f"--refine-snap {self.refine_snap} snaps keypoints before the refinement: give "
                                  "--refine W too (e.g. --refine 5), or leave --refine-snap out")
        if not self.encoder_features and not set(self.agents) & set(KEYPOINT_AGENTS):
            raise ExperimentError("--no-encoder-features leaves the encoder's features out of the keypoint agents' "
                                  "rows, and --agents has no keypoint agent; add one or drop the flag")
        if (not self.encoder_features and self.encoder is None and not self.feature_dim
                and set(self.agents) & set(KEYPOINT_AGENTS)):
            raise ExperimentError("--no-encoder-features: the encoders pretrained here have no feature head with "
                                  "--feature-dim 0, so there is nothing to leave out; drop the flag (or give "
                                  "--feature-dim F, or an --encoder with features)")
        if self.track and self.feature_dim and self.encoder_features:
            raise ExperimentError(f"--track keeps (x, y, status, colour code) per entity: the encoder's --feature-dim "
                                  f"{self.feature_dim} features would be dropped; use --feature-dim 0")

    def _ladder_rungs(self) -> dict[str, dict[str, Any]]:
        """Keyword arguments of each requested ladder rung, degraded to the measured ``object_properties``."""
        properties = None
        objects = [a for a in self.agents if a in OBJECT_AGENTS]
        if self.atari and objects:  # RAM objects (envs.atari_objects), without the flag Atari lacks
            from envs.atari_objects import SUPPORTED_GAMES, game_layout

            try:
                game_layout(self.env)
            except ValueError:
                raise ExperimentError(f"--agents {' '.join(objects)}: {self.env} has no RAM object reader; the "
                                      f"supported games are {', '.join(f'ALE/{g}-v5' for g in SUPPORTED_GAMES)}") from None
            flagged = [a for a in objects if a in ("objects-noflag", "objects-mint-flag")]
            if flagged:
                raise ExperimentError(f"--agents {' '.join(flagged)}: Atari objects carry no good/bad flag (each slot "
                                      "is one category); use objects / objects-mint instead")
            degraded = [a for a in objects if a not in ("objects", "objects-colour")]
            if degraded and self.object_properties is None:
                raise ExperimentError(f"--agents {' '.join(degraded)}: the degraded rungs need the keypoint properties "
                                      f"measured on {self.env}: --object-properties PATH from `python "
                                      f"experiments/keypoint_properties.py --env {self.env} --encoder ...`")
        if self.object_properties is not None:
            try:
                entries = json.loads(Path(self.object_properties).read_text())["encoders"]
            except (OSError, ValueError, KeyError) as exc:
                raise ExperimentError(f"--object-properties {self.object_properties}: not a properties.json of "
                                      f"experiments/keypoint_properties.py ({exc})") from exc
            measured_on = json.loads(Path(self.object_properties).read_text()).get("meta", {}).get("env")
            if measured_on is not None and measured_on != self.env:
                raise ExperimentError(f"--object-properties {self.object_properties} was measured on {measured_on}, "
                                      f"not on --env {self.env}; measure them there with "
                                      f"experiments/keypoint_properties.py --env {self.env}")
            label = self.object_properties_label or next(iter(entries))
            if label not in entries:
                raise ExperimentError(f"--object-properties-label {label}: not in {self.object_properties} (it has "
                                      f"{list(entries)})")
            properties = entries[label]
        rungs = {}
        for agent in self.agents:
            if agent in OBJECT_AGENTS:
                try:
                    rungs[agent] = ladder_rung_kwargs(agent, properties)
                except ValueError as exc:
                    raise ExperimentError(f"--agents {agent}: {exc}") from exc
                if self.atari and rungs[agent].get("flag", True) is True:  # Atari's slots are the identity
                    rungs[agent]["flag"] = False
        return rungs

    def label(self, agent: str) -> str:
        """Name of an agent in folders and tables: ``mint``, ``mint-online`` (``mint-online<N>`` with N online
        updates other than the default), ``mint-set``, ``mint-set-c8w5``, ..."""
        label = agent
        if agent == "mint" and self.online:
            label += "-online" + (f"{self.online_updates}" if self.online_updates != ONLINE_UPDATES else "")
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.extractor != "mlp":
            label += f"-{self.extractor}"
        if agent in KEYPOINT_AGENTS and self.relation_dim not in (None, RELATION_DIM):
            label += f"-p{self.relation_dim}"
        if agent in KEYPOINT_AGENTS and self.glimpse_size:
            label += (f"-c{self.colour_codes}w{self.glimpse_size}" if self.colour_codes
                      else f"-g{self.glimpse_size}") + ("" if self.glimpse_at == "keypoints" else f"{self.glimpse_at}")
        if agent in KEYPOINT_AGENTS and self.equal_codes:
            label += "-eqc" + (f"g{self.code_gain:g}" if self.code_gain else "")
        if agent in KEYPOINT_AGENTS and self.drop_background:
            label += "-nobg"
        if agent in KEYPOINT_AGENTS and self.track:
            label += "-track"
        if agent in KEYPOINT_AGENTS and self.refine:
            label += f"-rf{self.refine}" + (f"s{self.refine_snap}" if self.refine_snap else "")
        if agent in KEYPOINT_AGENTS and not self.encoder_features:
            label += "-nf"
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.fourier_features:
            label += f"-ff{self.fourier_features}"
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.separate_critic:
            label += "-sc"
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.keypoint_lr is not None:
            label += f"-lr{self.keypoint_lr:g}"
        if agent in KEYPOINT_AGENTS and self.lr_decay:
            label += "-lrlin"
        if agent in KEYPOINT_AGENTS and self.keypoint_stack != N_STACK:
            label += f"-n{self.keypoint_stack}"
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.aux_reward:
            label += f"-auxr{self.aux_reward:g}" + (f"u{self.aux_updates}" if self.aux_updates != AUX_UPDATES else "")
            label += f"h{self.aux_horizon}" if self.aux_horizon != 1 else ""  # (1: the form of runs before the flag)
            label += f"w{self.aux_warmup}" if self.aux_warmup else ""
        return label

    @property
    def seed_ids(self) -> range:
        """The training seeds of every agent: ``first_seed .. first_seed + seeds - 1``."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def run_settings(self, agent: str) -> dict[str, Any]:
        """What a run of ``agent`` must share with this experiment to be reused (``settings.json``, compared on
        resume and for finished runs)."""
        ppo = {k: (f"linear({v.args[0]})" if isinstance(v, functools.partial) else v) for k, v in self.ppo.items()}
        settings = dict(env=self.env, timesteps=self.timesteps, n_envs=self.n_envs, eval_freq=self.eval_freq,
                        eval_episodes=self.eval_episodes, ppo=ppo)
        if self.atari:
            settings["fire_on_reset"] = "auto"
            settings["eval_policy"] = "stochastic"  # (ALE runs made before the eleventh session evaluated deterministically)
        if agent in KEYPOINT_AGENTS:
            settings.update(extractor=self.extractor, n_stack=self.keypoint_stack, online=agent == "mint" and self.online,
                            encoder=self.encoder if agent == "mint" else None)
            if settings["encoder"] is None:
                settings.update(num_keypoints=self.num_keypoints, feature_dim=self.feature_dim,
                                pretrain_steps=self.pretrain_steps, pretrain_frames=self.pretrain_frames)
            if settings["online"]:
                settings["online_updates"] = self.online_updates
                if settings["encoder"] is None:  # (online runs before the thirteenth session started from scratch)
                    settings["online_start"] = "pretrained" if self.pretrain_steps else "scratch"
            if self.glimpse_size:
                settings.update(glimpse_size=self.glimpse_size, glimpse_at=self.glimpse_at)
            if self.colour_codes:
                settings["colour_codes"] = self.colour_codes
            if self.equal_codes:
                settings["equal_codes"] = True
                if self.code_gain:  # (runs made before the flag started at zero)
                    settings["code_gain"] = self.code_gain
            if self.relation_dim not in (None, RELATION_DIM):  # (the default width: no setting, as before the flag)
                settings["relation_dim"] = self.relation_dim
            if self.drop_background:
                settings["drop_background"] = True
            if self.track:
                settings["track"] = True
            if self.refine:
                settings["refine"] = self.refine
            if self.refine_snap:
                settings["refine_snap"] = self.refine_snap
            if not self.encoder_features:  # (runs before the flag kept the features: no setting, as before)
                settings["encoder_features"] = False
        if agent in OBJECT_AGENTS:
            settings.update(extractor=self.extractor, n_stack=N_STACK, objects=self.object_kwargs[agent])
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.fourier_features:
            settings["fourier_features"] = self.fourier_features
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.separate_critic:
            settings["separate_critic"] = True
        if agent in KEYPOINT_AGENTS and self.lr_decay:
            settings["learning_rate_schedule"] = "linear"
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.keypoint_lr is not None:
            settings["keypoint_learning_rate"] = self.keypoint_lr
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS and self.aux_reward:
            settings["aux_reward"] = self.aux_reward
            if self.aux_updates != AUX_UPDATES:  # (runs made before the flag existed used AUX_UPDATES)
                settings["aux_updates"] = self.aux_updates
            if self.aux_horizon != 1:  # (runs made before the flag had 1: their settings stay valid)
                settings["aux_horizon"] = self.aux_horizon
            if self.aux_warmup:  # (runs made before the flag had none)
                settings["aux_warmup"] = self.aux_warmup
        return settings

    def ppo_kwargs(self, agent: str) -> dict[str, Any]:
        """PPO keyword arguments of ``agent``: :attr:`ppo`, with ``keypoint_lr`` for keypoint and ladder agents and
        ``lr_decay``'s linear schedule for keypoint agents."""
        ppo = dict(self.ppo)
        if agent in KEYPOINT_AGENTS + OBJECT_AGENTS:
            lr = ppo["learning_rate"]
            decays = isinstance(lr, functools.partial)
            if self.keypoint_lr is not None:
                lr = linear(self.keypoint_lr) if decays else self.keypoint_lr
            decay = self.lr_decay and agent in KEYPOINT_AGENTS
            ppo["learning_rate"] = linear(lr) if decay and not isinstance(lr, functools.partial) else lr
        return ppo

    def protocol(self) -> dict[str, Any]:
        """The run settings every agent shares (:data:`PROTOCOL_KEYS`): runs under the same protocol share a table."""
        settings = self.run_settings("pixels")
        return {k: settings.get(k) for k in PROTOCOL_KEYS}  # (a key a protocol does not record: None, as when read)
