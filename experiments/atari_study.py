"""Atari-100k study: PPO on MINT keypoints vs PPO on pixels over several ALE games.

    python experiments/atari_study.py                                   # 4 games × (pixels, mint) × 3 seeds
    python experiments/atari_study.py --games ALE/Pong-v5 --seeds 5 --device auto
    python experiments/atari_study.py --summary-only                    # only rebuild results/atari/summary.*

Budget: 100k agent steps per run (``--timesteps``, default 100000), i.e. the Atari 100k benchmark
(100k agent steps = 400k emulator frames with the ``-v5`` frame skip of 4). Every (game, agent,
seed) run is one run of ``experiments/ppo_keypoints.py``: per game the study calls the library function
that script runs, ``agents.ppo_experiment.run_ppo_experiment(PPOExperiment(env=GAME, agents=..., seeds=N,
timesteps=T, out=OUT, export="results/atari/<game>", ...))``; nothing of it is copied here. So the study
inherits its whole protocol: rl-baselines3-zoo's Atari PPO hyperparameters for every agent, the
``-v5`` emulator settings (frame skip 4, sticky actions 0.25, up to 30 no-op starts), training
envs with ``EpisodicLifeEnv`` + ``ClipRewardEnv``, and evaluation on held-out episodes (env seeds
``10000 + 1000 × seed + i``, actions sampled from the policy as rl-baselines3-zoo evaluates Atari
agents (deterministic before the eleventh session: a finished run of that protocol stops the study as written with
other settings, an interrupted one starts over), true game over, raw unclipped score, 5
episodes per evaluation); the "final return" of a run is its last evaluation. Finished
(agent, seed) runs leave ``done.json`` and are skipped, so re-running the command resumes.

Encoder pretraining frames are NOT part of the 100k: the ``mint`` agent's encoder is pretrained
(by the PPO experiment, once per game, cached) on ``--pretrain-frames`` random-policy frames (default
4000) of the same game. That number is reported separately in summary.md / summary.json
(``pretrain_frames``) and never added to the agent-step budget.

Summary (``results/atari/summary.md`` and ``summary.json``): per game and agent the mean final
return with its 95 % t-interval over seeds (read from ppo_keypoints' per-game ``summary.json`` by
its contract, ``agents.report.read_summary``),
the human-normalised score HNS = (score − random) / (human − random) with the reference scores of
``agents.aggregates.REFERENCE_SCORES``, and over games the IQM and median of HNS with stratified-bootstrap
95 % percentile intervals (seeds resampled with replacement within each game, 2000 resamples, seeded), as
in Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice"), computed with their
``rliable`` by ``agents.aggregates``. Next to it: ``evaluations.csv`` (every evaluation of every game,
agent and seed, as the runs appended them) and ``learning_curves.png`` (one panel per game: mean
held-out return over seeds against agent steps, 95 % t-band). The summary table also gives, per agent,
the encoder's pretraining frames (their own column, 0 for pixels), agent steps/s while training and
wall seconds per run. ``agents.atari_study_report`` writes the summary.

Top to bottom: 1. the flags (every game's PPO settings are checked before the first game trains); 2. one PPO
experiment per game; 3. the summary over games.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agents.aggregates import BOOTSTRAP_RESAMPLES
from agents.atari_study_report import AtariStudy, write_atari_study_results
from agents.experiment_settings import ExperimentError, PPOExperiment
from agents.report import SummaryError
from agents.run_folders import env_slug

DEFAULT_GAMES = ("ALE/Breakout-v5", "ALE/Boxing-v5", "ALE/MsPacman-v5", "ALE/Seaquest-v5")
DEFAULT_AGENTS = ("pixels", "mint")
STUDY_AGENTS = ("pixels", "mint", "transporter")  # ground_truth does not exist on ALE
DEFAULT_TIMESTEPS = 100_000  # Atari 100k: agent steps (frame skip 4 → 400k frames)
DEFAULT_PRETRAIN_FRAMES = 4000  # ppo_keypoints' --pretrain-frames default (encoder frames, outside the budget)
DEFAULT_PRETRAIN_STEPS = 1000  # MINT optimiser steps on those frames (ppo_keypoints' default 500 is for Catch)
DEFAULT_KEYPOINTS = 16  # Atari frames hold more objects than Catch (K=8 there)
DEFAULT_EVAL_EPISODES = 10  # Atari-100k protocol: 10 held-out episodes (each capped by the ALE at 108k frames)
DEFAULT_EVAL_FREQ = 20_480  # env steps between evaluations: 5 per 100k run (20 rollouts of 8 envs × 128)


# --------------------------------------------------------------------------- 1. arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", nargs="+", default=list(DEFAULT_GAMES), metavar="ENV_ID",
                   help=f"ALE env ids (default: {' '.join(DEFAULT_GAMES)})")
    p.add_argument("--agents", nargs="+", default=list(DEFAULT_AGENTS), choices=STUDY_AGENTS, metavar="AGENT",
                   help=f"agents, from {', '.join(STUDY_AGENTS)} (default: {' '.join(DEFAULT_AGENTS)})")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0 .. N-1 per (game, agent) (default %(default)s)")
    p.add_argument("--timesteps", type=int, default=DEFAULT_TIMESTEPS,
                   help="agent (env) steps per run (default %(default)s: Atari 100k)")
    p.add_argument("--pretrain-frames", type=int, default=DEFAULT_PRETRAIN_FRAMES,
                   help="random-policy frames pretraining each game's encoder, outside the step budget "
                        "(default %(default)s)")
    p.add_argument("--pretrain-steps", type=int, default=DEFAULT_PRETRAIN_STEPS,
                   help="MINT optimiser steps of each game's encoder (default %(default)s)")
    p.add_argument("--num-keypoints", "-k", type=int, default=DEFAULT_KEYPOINTS,
                   help="K of the pretrained encoders (default %(default)s)")
    p.add_argument("--extractor", choices=["mlp", "set"], default="mlp",
                   help="keypoint features extractor of the mint agent (default %(default)s; 'set' gives the "
                        "ablation row mint-set)")
    p.add_argument("--online", action="store_true",
                   help="co-train the mint agent's encoder during PPO from the pretrained one (row mint-online)")
    p.add_argument("--eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES,
                   help="held-out episodes per evaluation (default %(default)s)")
    p.add_argument("--eval-freq", type=int, default=DEFAULT_EVAL_FREQ,
                   help="env steps between evaluations (default %(default)s; the last step is always evaluated)")
    p.add_argument("--out", default="runs/atari_study", help="training output folder (default %(default)s)")
    p.add_argument("--results", default="results/atari",
                   help="per-game exports (<results>/<game>/) and summary.md/json (default %(default)s)")
    p.add_argument("--summary-only", action="store_true", help="train nothing: summarise what exists")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES,
                   help="stratified-bootstrap resamples (default %(default)s)")
    args = p.parse_args(argv)
    for game in args.games:
        if not game.startswith("ALE/"):
            p.error(f"--games: {game} is not an ALE id (ALE/<Game>-v5)")
    for name in ("seeds", "timesteps", "resamples", "pretrain_steps", "num_keypoints", "eval_episodes", "eval_freq"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    args.agents = list(dict.fromkeys(args.agents))
    args.games = list(dict.fromkeys(args.games))
    if not args.summary_only:  # every game's PPO settings checked before the first game trains
        for game in args.games:
            try:
                ppo_experiment(args, game)
            except ExperimentError as exc:
                p.error(str(exc))
    return args


def ppo_experiment(args: argparse.Namespace, game: str) -> PPOExperiment:
    """The PPO experiment of one game (what ``experiments/ppo_keypoints.py`` runs for the same flags)."""
    return PPOExperiment(env=game, agents=list(args.agents), seeds=args.seeds, timesteps=args.timesteps,
                         pretrain_frames=args.pretrain_frames, pretrain_steps=args.pretrain_steps,
                         num_keypoints=args.num_keypoints, extractor=args.extractor,
                         eval_episodes=args.eval_episodes, eval_freq=args.eval_freq, out=args.out,
                         export=str(Path(args.results) / env_slug(game)), device=args.device, online=args.online,
                         no_progress=args.no_progress)


def study(args: argparse.Namespace) -> AtariStudy:
    """What the summary covers: the games and agents, the folders it reads, the settings it reports."""
    return AtariStudy(games=tuple(args.games), agents=tuple(args.agents), results=Path(args.results),
                      out=Path(args.out), timesteps=args.timesteps, pretrain_frames=args.pretrain_frames,
                      seeds=args.seeds, resamples=args.resamples)


# --------------------------------------------------------------------------- 2. one PPO experiment per game
def train(args: argparse.Namespace) -> None:
    """One PPO experiment per game, in ``--out``, exported to ``--results/<game>/``."""
    from agents.ppo_experiment import EXPERIMENT_ERRORS, run_ppo_experiment  # heavy (torch, SB3, ALE)

    for game in args.games:
        try:
            run_ppo_experiment(ppo_experiment(args, game))
        except EXPERIMENT_ERRORS as exc:  # an unusable input, found before that game's training
            raise SystemExit(str(exc)) from exc


# --------------------------------------------------------------------------- 3. the study
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if not args.summary_only:
        train(args)
    try:  # the summary over games, from each game's summary.json and evaluations.csv (agents.atari_study_report)
        summary, table = write_atari_study_results(study(args))
    except SummaryError as exc:  # a game's summary.json lacks a key the study reads: the message names both
        raise SystemExit(str(exc)) from exc
    print(table)
    out = Path(args.results)
    print(f"\nsummary: {out / 'summary.md'}, {out / 'summary.json'}; every evaluation: {out / 'evaluations.csv'}; "
          f"figure: {out / 'learning_curves.png'}")
    return {"summary": summary, "table": table}


if __name__ == "__main__":
    main()
