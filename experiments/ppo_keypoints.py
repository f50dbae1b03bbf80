"""PPO on MINT keypoints vs PPO on pixels (and on Transporter keypoints, and on the true state).

    python experiments/ppo_keypoints.py                                  # the default run (50k steps, <15 min, 2 cores)
    python experiments/ppo_keypoints.py --seeds 3 --timesteps 100000     # the README table
    python experiments/ppo_keypoints.py --agents mint pixels transporter ground_truth
    python experiments/ppo_keypoints.py --online                         # the pretrained encoder fine-tuned during PPO
    python experiments/ppo_keypoints.py --env ALE/Pong-v5 --timesteps 1000000 --device auto

Every agent trains on the same env id, with the same training seeds, timestep budget and
PPO hyperparameters; only what it observes differs:

``mint``          K = 8 MINT keypoints per frame (x, y, status; F features with ``--feature-dim``)
                  from a frozen encoder; the current frame on object tasks, 2 stacked on ALE
                  (``--keypoint-stack``). On object tasks each keypoint also carries its colour
                  code (below), the policy reads them as a set with a relation network over
                  keypoint pairs (``agents.extractors.KeypointSetExtractor(relations=True)``), whose
                  weights on the code columns start at zero (``--equal-codes``: every colour starts
                  with the same embedding), and
                  the keypoint agent's learning rate decays linearly (``--lr-decay``; every other
                  agent keeps the shared constant rate): the configuration that learned Catch and
                  Dodge best (docs/keypoint_ladder.md); on ALE ids plain keypoints and the flat
                  status-gated MLP (``KeypointMlpExtractor``), as the Atari study measured.
                  ``--extractor``, ``--relation-dim``, ``--fourier-features``, ``--glimpse-size``,
                  ``--colour-codes``, ``--equal-codes``, ``--code-gain``, ``--lr-decay``, ``--keypoint-lr`` and
                  ``--track`` override.
                  The encoder is pretrained by ``experiments/pretrain.py`` on random-policy
                  frames of the same env (cached in ``<out>/<env>/encoders/``, so the next run
                  reuses it), or given with ``--encoder PATH`` or a shipped name (``--encoder pong``; their
                  untrained 8-wide feature head is best left out with ``--no-encoder-features``,
                  docs/pong_keypoint_agent.md). With ``--online`` that encoder
                  goes on training with the MINT losses on the frames PPO sees (20 MINT steps between rollouts; the colour
                  codebook stays the pretrained encoder's); ``--online --pretrain-steps 0``
                  co-trains one from scratch.
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
                  (``--object-properties``, from ``experiments/keypoint_properties.py``). On ALE ids
                  only ``objects`` runs: the RAM's objects (``envs.atari_objects``) in the game's slot
                  order, without a flag (the slot says what the object is), the upper reference there.

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

This script reads the flags into an ``agents.experiment_settings.PPOExperiment`` and runs it with
``agents.ppo_experiment.run_ppo_experiment`` (which ``experiments/atari_study.py`` runs per game).
Top to bottom: check the inputs (everything that can be wrong fails here, before any
training); score a uniformly random policy on the held-out episodes; collect random-policy frames
and pretrain the encoders (with ``--jobs`` > 1 the first runs that need no encoder, such as the pixel
agent's, train meanwhile on the other cores); then for every (agent, seed): build train and eval envs,
train PPO with an ``EvalCallback`` that evaluates on held-out episodes (env seeds
``10000 + 1000 × seed + i`` for eval env i, the same episodes at every evaluation and for every agent,
deterministic actions; on ALE ids sampled actions, as rl-baselines3-zoo evaluates Atari agents) every ``--eval-freq`` steps and appends each evaluation to
``evaluations.csv`` as it happens; save the model (keypoint agents: with a copy of their
encoder and ``agent.json`` holding its sha256 and config, checked by ``agents.saved_agent.load_agent``).

Outputs in ``<out>/<env>/``: ``evaluations.csv`` (every evaluation of every run),
``summary.json`` (also per seed: final return, env steps to ``--threshold``), ``table.md`` (final return ± 95 % t-interval over seeds, return at a third
of the budget, env steps to reach ``--threshold``, return at equal training time, training steps/s),
``learning_curves.png`` (mean and 95 % band over seeds against env steps and against training seconds), TensorBoard runs in ``tb/`` (keypoint
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
from typing import Any

from agents.experiment_settings import (AGENTS, ATARI_DEFAULTS, AUX_HORIZON, AUX_UPDATES, AUX_WARMUP_STEPS, AUX_WEIGHT,
                                        EXTRACTORS, GLIMPSE_AT, ONLINE_UPDATES, RELATION_DIM, SCENE_DEFAULTS, ExperimentError,
                                        PPOExperiment)
from agents.ppo_experiment import EXPERIMENT_ERRORS, run_ppo_experiment


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> PPOExperiment:
    """The command line as a :class:`~agents.experiment_settings.PPOExperiment` (defaults resolved); a bad flag
    exits with argparse's usage and one line naming it (status 2), before any work."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="MintTasks/Catch-v0", help="Gymnasium env id with image observations "
                   "(MintTasks/*, ALE/*)")
    p.add_argument("--agents", nargs="+", default=None, choices=AGENTS, metavar="AGENT",
                   help=f"agents to train, from {', '.join(AGENTS)} (default: mint pixels, plus ground_truth "
                        "where the env has it)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds 0 .. N-1 per agent (from --first-seed)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="first training seed: seeds F .. F+N-1, e.g. to add seeds to a study in another folder "
                        "(default %(default)s)")
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
    p.add_argument("--encoder", default=None, help="MINT checkpoint for the mint agent, or a shipped encoder's name (pong, breakout, "
                        "mspacman: envs.shipped_encoders) (default: pretrain one)")
    p.add_argument("--online", action=argparse.BooleanOptionalAction, default=None,
                   help="co-train the mint agent's encoder during PPO with the MINT losses, on the frames PPO sees, "
                        "from --encoder or else from this run's pretraining (--pretrain-steps 0: from scratch); "
                        "label suffix -online (-online<N> with --online-updates N other than the default); several times "
                        "slower per env step. Default: off")
    p.add_argument("--online-updates", type=int, default=ONLINE_UPDATES,
                   help="--online: MINT steps after each rollout (label suffix -online<N> when not "
                        "%(default)s; default %(default)s)")
    p.add_argument("--extractor", choices=list(EXTRACTORS), default=None,
                   help="keypoint features extractor: KeypointMlpExtractor ('mlp'), KeypointSetExtractor ('set') or "
                        "KeypointSetExtractor with one 4-head self-attention layer over the keypoints ('attention'), "
                        "with a relation network over keypoint pairs ('relation'), or reading the keypoints in a "
                        "canonical order instead of pooling them: lowest in the image first ('sort-y') or by a learned "
                        "score ('sort-learned'), or KeypointMapExtractor, a CNN over the keypoints drawn as blobs on a "
                        "32x32 grid per stacked frame, blind to which row a keypoint came from ('map'); default: "
                        "'relation' on object tasks, 'mlp' on ALE ids")
    p.add_argument("--relation-dim", type=int, default=None,
                   help="mint/transporter with --extractor relation: the width of the relation network's pair MLP "
                        f"(its cost follows the present keypoint pairs times this width); default {RELATION_DIM}, the "
                        "keypoint embedding size; another width adds -p<width> to the label (32: about 8-16 %% faster "
                        "on Catch, lower returns on Catch and Dodge, docs/keypoint_ladder.md)")
    p.add_argument("--fourier-features", type=int, default=0, metavar="OCTAVES",
                   help="keypoint and objects agents with --extractor mlp: also give each row's (x, y) as sines and "
                        "cosines at this many octaves (frequencies pi, 2 pi, 4 pi, ...), so the policy can read "
                        "positions finely; label suffix -ff<OCTAVES>; default 0 (off)")
    p.add_argument("--glimpse-size", type=int, default=None,
                   help="mint/transporter: append to each keypoint the p×p glimpse of the frame around it, encoded by "
                        "a small CNN inside the features extractor, trained by PPO (K glimpses may cover at most "
                        "1/8 of the frame); with --colour-codes, the window whose colour is coded. Default: 5 on "
                        "object tasks, 0 (none) on ALE ids")
    p.add_argument("--colour-codes", type=int, default=None,
                   help="mint/transporter: instead of raw glimpses, each keypoint's one-hot colour category among N "
                        "colours fitted by k-means to the keypoint colours of the pretraining frames "
                        "(mint_rl.appearance; needs --glimpse-size). Default: 8 on object tasks, 0 (off) on ALE ids")
    p.add_argument("--separate-critic", action="store_true",
                   help="keypoint and objects agents: the value function gets its own features extractor instead of "
                        "sharing the policy's (SB3 share_features_extractor=False), as MlpPolicy on the true state has")
    p.add_argument("--lr-decay", action=argparse.BooleanOptionalAction, default=None,
                   help="mint/transporter: their learning rate decays linearly to 0 over the run (label suffix "
                        "-lrlin); every other agent keeps the shared constant rate. Default: on for object tasks, "
                        "off on ALE ids (whose PPO settings already decay it for every agent)")
    p.add_argument("--keypoint-lr", type=float, default=None,
                   help="mint/transporter and the ladder's objects agents: their (starting) learning rate instead of "
                        "the shared PPO one (label suffix -lr<value>); the keypoint agents' decays from there with "
                        "--lr-decay, and every one of them decays on ALE ids, where the shared rate decays; every "
                        "other agent keeps the shared rate")
    p.add_argument("--aux-reward", type=float, default=None,
                   help="mint/transporter and ladder agents: > 0 adds auxiliary reward prediction "
                        "(agents.auxiliary.RewardPredictionCallback: after each rollout the features extractor and a "
                        "small head learn to predict the sign of each step's reward (or reward window, "
                        "--aux-horizon), from a per-class replay of "
                        "recent steps), at this multiple of PPO's learning rate (label suffix -auxr<value>); 0: off. "
                        f"Default: {AUX_WEIGHT:g} on object tasks, 0 on ALE ids")
    p.add_argument("--aux-updates", type=int, default=AUX_UPDATES,
                   help="with --aux-reward: minibatch steps of reward prediction after each rollout (default "
                        "%(default)s; another value adds u<value> to the -auxr label suffix)")
    p.add_argument("--aux-horizon", type=int, default=AUX_HORIZON,
                   help="with --aux-reward: H, a step's class is the sign of its reward plus those of the next H - 1 "
                        "steps of its episode (default %(default)s; a value other than 1, the step's own reward, adds "
                        "h<value> to the -auxr label suffix)")
    p.add_argument("--aux-warmup", type=int, default=0,
                   help="with --aux-reward: extra minibatch steps of reward prediction, once, after the rollout that "
                        f"reaches {AUX_WARMUP_STEPS} env steps (PPO's own steps, inside the budget), so the extractor "
                        "learns what pays before the policy leans on it (default 0: none; another value adds "
                        "w<value> to the -auxr label suffix)")
    p.add_argument("--code-gain", type=float, default=0.0,
                   help="with equal codes: the colour-code weights start at this gain times a random orthogonal matrix "
                        "instead of zero (close, not equal; SB3 gives the rest of the first layer gain 1.41); label "
                        "suffix -eqcg<gain>; default 0")
    p.add_argument("--equal-codes", action=argparse.BooleanOptionalAction, default=None,
                   help="mint/transporter with --colour-codes and a set extractor (not mlp or map): the extractor's "
                        "first-layer weights on the colour-code columns start at zero, so every colour starts with the "
                        "same embedding and training is free to separate them (label suffix -eqc); default: on for "
                        "object tasks wherever it applies, off on ALE ids")
    p.add_argument("--drop-background", action=argparse.BooleanOptionalAction, default=None,
                   help="mint/transporter with --colour-codes: keypoints whose colour code is the background's (the "
                        "code nearest the median colour of the pretraining frames) are reported inactive (label "
                        "suffix -nobg); default: off")
    p.add_argument("--glimpse-at", choices=list(GLIMPSE_AT), default="keypoints",
                   help="where glimpses are cut: at the keypoints (default) or, as a control, at random positions")
    p.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                   help="mint/transporter: persistent entity slots instead of raw keypoints (mint_rl.tracking: "
                        "duplicates of one colour code merged, slots matched over time, misses of up to 3 frames "
                        "bridged); rows (x, y, status, colour code). Default: off")
    p.add_argument("--refine", type=int, default=None,
                   help="mint/transporter: move each keypoint to the centre of the object part under it, by colour "
                        "mean shift in a WINDOW x WINDOW pixel square (mint_rl.refine; odd, >= 3; label suffix "
                        "-rf<w>); 0: off. Default: 0")
    p.add_argument("--refine-snap", type=int, default=None, metavar="WINDOW",
                   help="with --refine: a keypoint on the background first moves to the nearest non-background pixel "
                        "of a WINDOW x WINDOW square (odd, >= 3; label suffix s<WINDOW> after -rf<w>), so keypoints "
                        "beside a thin object land on it; 0: off. Default: 0")
    p.add_argument("--encoder-features", action=argparse.BooleanOptionalAction, default=True,
                   help="mint/transporter: each keypoint's row carries the encoder's F features (default); "
                        "--no-encoder-features leaves them out (label suffix -nf): the MINT losses do not train the "
                        "feature head, so they are fixed random projections of the frame")
    p.add_argument("--keypoint-stack", type=int, default=None,
                   help="mint/transporter: frames of keypoints per observation, newest last (default: 1 on object "
                        "tasks, where a keypoint's previous-frame row is often another object; 2 on ALE ids)")
    p.add_argument("--object-properties", default=None,
                   help="objects-* ladder rungs: measured keypoint properties (properties.json of "
                        "experiments/keypoint_properties.py) that the true objects are degraded to")
    p.add_argument("--object-properties-label", default=None,
                   help="which encoder's entry of --object-properties (default: the first)")
    p.add_argument("--pretrain-steps", type=int, default=500,
                   help="optimiser steps of encoder pretraining (default %(default)s; 0, no pretraining, only with "
                        "--online and no --encoder: the mint agent's encoder co-trained from scratch)")
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
    p.add_argument("--jobs", type=int, default=None,
                   help="training runs at a time, each in its own process with --threads torch threads (default: "
                        "the number of CPU cores; 1: one after the other in this process, with progress bars). "
                        "Runs are seeded and independent: results do not depend on it")
    p.add_argument("--out", default="runs/ppo_keypoints",
                   help="output folder, one subfolder per env (default %(default)s)")
    p.add_argument("--export", default=None, help="also copy the small result files (CSV, JSON, table, PNG) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the table, summary and curves of the runs already finished in --out")
    args = p.parse_args(argv)
    try:
        return PPOExperiment(**vars(args))
    except ExperimentError as exc:
        p.error(str(exc))


# --------------------------------------------------------------------------- 2. the experiment
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the experiment of the command line (``sys.argv`` when None): checks, encoders, random-policy
    reference, the runs, the report (:func:`agents.ppo_experiment.run_ppo_experiment`).

    :return: ``summary``, ``table``, ``out`` (the env folder) and ``wall_seconds``.
    """
    experiment = parse_args(argv)
    try:
        return run_ppo_experiment(experiment)
    except EXPERIMENT_ERRORS as exc:  # an unusable input, found before any training
        raise SystemExit(str(exc)) from exc


if __name__ == "__main__":
    main()
