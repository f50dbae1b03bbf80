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
``10000 + 1000 × seed + i``, deterministic actions, true game over, raw unclipped score, 5
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
wall seconds per run.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout too

from agents.aggregates import (  # noqa: E402
    AGGREGATES,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    REFERENCE_SCORES,
    game_name,
    human_normalised,
    stratified_bootstrap,
)
from agents.run_folders import env_slug  # noqa: E402
from mint_rl.utils import write_json  # noqa: E402

if TYPE_CHECKING:
    from agents.experiment_settings import PPOExperiment
    from agents.report import ExperimentSummary

DEFAULT_GAMES = ("ALE/Breakout-v5", "ALE/Boxing-v5", "ALE/MsPacman-v5", "ALE/Seaquest-v5")
DEFAULT_AGENTS = ("pixels", "mint")
STUDY_AGENTS = ("pixels", "mint", "transporter")  # ground_truth does not exist on ALE
DEFAULT_TIMESTEPS = 100_000  # Atari 100k: agent steps (frame skip 4 → 400k frames)
DEFAULT_PRETRAIN_FRAMES = 4000  # ppo_keypoints' --pretrain-frames default (encoder frames, outside the budget)
DEFAULT_PRETRAIN_STEPS = 1000  # MINT optimiser steps on those frames (ppo_keypoints' default 500 is for Catch)
DEFAULT_KEYPOINTS = 16  # Atari frames hold more objects than Catch (K=8 there)
DEFAULT_EVAL_EPISODES = 10  # Atari-100k protocol: 10 held-out episodes (each capped by the ALE at 108k frames)
DEFAULT_EVAL_FREQ = 20_480  # env steps between evaluations: 5 per 100k run (20 rollouts of 8 envs × 128)

# --------------------------------------------------------------------------- study
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
        from agents.experiment_settings import ExperimentError

        for game in args.games:
            try:
                ppo_experiment(args, game)
            except ExperimentError as exc:
                p.error(str(exc))
    return args


def ppo_experiment(args: argparse.Namespace, game: str) -> PPOExperiment:
    """The PPO experiment of one game (what ``experiments/ppo_keypoints.py`` runs for the same flags)."""
    from agents.experiment_settings import PPOExperiment  # imports SB3: only when training

    return PPOExperiment(env=game, agents=list(args.agents), seeds=args.seeds, timesteps=args.timesteps,
                         pretrain_frames=args.pretrain_frames, pretrain_steps=args.pretrain_steps,
                         num_keypoints=args.num_keypoints, extractor=args.extractor,
                         eval_episodes=args.eval_episodes, eval_freq=args.eval_freq, out=args.out,
                         export=str(Path(args.results) / env_slug(game)), device=args.device, online=args.online,
                         no_progress=args.no_progress)


def train(args: argparse.Namespace) -> None:
    """One PPO experiment per game, in ``--out``, exported to ``--results/<game>/``."""
    from agents.ppo_experiment import EXPERIMENT_ERRORS, run_ppo_experiment  # heavy (torch, SB3, ALE)

    for game in args.games:
        try:
            run_ppo_experiment(ppo_experiment(args, game))
        except EXPERIMENT_ERRORS as exc:  # an unusable input, found before that game's training
            raise SystemExit(str(exc)) from exc


def read_game_summary(args: argparse.Namespace, game: str) -> ExperimentSummary | None:
    """The PPO experiment's summary.json of a game (the exported copy, else the one in the training folder), read
    by its contract ``agents.report.read_summary``; None if the game has none. A summary without the keys the
    study reads is refused, naming the file and the key."""
    from agents.report import SummaryError, read_summary  # heavy (torch, SB3)

    for folder in (Path(args.results), Path(args.out)):
        path = folder / env_slug(game) / "summary.json"
        if path.is_file():
            try:
                return read_summary(path)
            except SummaryError as exc:
                raise SystemExit(str(exc)) from exc
    return None


def _labels_of(agent: str, agents: Mapping[str, Any]) -> list[str]:
    """The PPO experiment's labels of an agent (``mint``, ``mint-online``, ``mint-set``, ...)."""
    return [label for label in agents if label == agent or label.startswith(agent + "-")]


def summarise_study(args: argparse.Namespace) -> dict[str, Any]:
    games: dict[str, Any] = {}
    labels: list[str] = []
    for game in args.games:
        summary = read_game_summary(args, game)
        entry: dict[str, Any] = {"found": summary is not None, "agents": {}}
        name = game_name(game)
        ref = REFERENCE_SCORES.get(name)
        entry["reference"] = ref
        if summary is not None:
            entry["timesteps"] = summary.timesteps
            entry["random_return_measured"] = summary.random_return["mean"]
            for agent in args.agents:
                for label in _labels_of(agent, summary.agents):
                    s = summary.agents[label]
                    per_seed = list(s.final_return_per_seed)
                    final = s.final_return
                    hns_seed = [human_normalised(v, name) for v in per_seed] if ref else []
                    entry["agents"][label] = {
                        "n": s.n, "final_return": final,
                        "pretrain_frames": 0 if label == "pixels" else args.pretrain_frames,
                        "train_steps_per_s": s.train_steps_per_s["mean"],
                        "learn_seconds": s.learn_seconds["mean"],
                        "final_return_per_seed": per_seed,
                        "hns": human_normalised(final["mean"], name) if ref else None,
                        "hns_per_seed": hns_seed,
                    }
                    if label not in labels:
                        labels.append(label)
        games[game] = entry
    aggregates: dict[str, Any] = {}
    for label in labels:
        per_game = [games[g]["agents"][label]["hns_per_seed"] for g in args.games
                    if label in games[g]["agents"] and games[g]["agents"][label]["hns_per_seed"]]
        aggregates[label] = {key: stratified_bootstrap(per_game, fn, resamples=args.resamples)
                             for key, fn in AGGREGATES.items()}
    return {"timesteps": args.timesteps, "budget": f"{args.timesteps} agent steps per run (Atari 100k at 100000; frame skip 4)", "pretrain_frames": args.pretrain_frames,
            "pretrain_frames_note": ("random-policy frames pretraining each game's MINT encoder; not counted in "
                                     "the agent-step budget"),
            "seeds": args.seeds, "agents": labels, "games": games, "aggregates": aggregates,
            "bootstrap": {"method": "stratified (seeds within each game), percentile 95% CI",
                          "resamples": args.resamples, "seed": BOOTSTRAP_SEED},
            "reference_source": "Mnih et al. 2015 (DQN Nature), as tabulated in the Atari-100k literature"}


def _num(x: float | None, spec: str = "{:.2f}") -> str:
    return "–" if x is None or not math.isfinite(x) else spec.format(x)


def markdown(study: dict[str, Any]) -> str:
    lines = [(f"Atari study: {study['budget']}; up to {study['seeds']} seed(s); final return = last evaluation on "
              "held-out episodes (ppo_keypoints' protocol), mean ± 95% t-interval half-width over seeds; "
              f"HNS = (score − random) / (human − random), references: {study['reference_source']}. "
              f"Encoder pretraining: {study['pretrain_frames']} random-policy frames per game, reported separately "
              "(not in the agent-step budget)."), "",
             "| game | agent | n | final return | HNS | random (ref) | human (ref) | pretrain frames | agent steps/s "
             "| wall s per run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for game, entry in study["games"].items():
        ref = entry["reference"] or {}
        if not entry["agents"]:
            lines.append(f"| {game} | – | 0 | {'not run' if not entry['found'] else 'no finished run'} | – | "
                         f"{_num(ref.get('random'), '{:g}')} | {_num(ref.get('human'), '{:g}')} | – | – | – |")
        for label, a in entry["agents"].items():
            f = a["final_return"]
            cell = _num(f["mean"]) + (f" ± {_num(f['half_width'])}" if math.isfinite(f.get("half_width", math.nan))
                                      else "")
            lines.append(f"| {game} | {label} | {a['n']} | {cell} | {_num(a['hns'], '{:.3f}')} | "
                         f"{_num(ref.get('random'), '{:g}')} | {_num(ref.get('human'), '{:g}')} | "
                         f"{a.get('pretrain_frames', '–')} | {_num(a.get('train_steps_per_s'), '{:.0f}')} | "
                         f"{_num(a.get('learn_seconds'), '{:.0f}')} |")
    lines += ["", (f"Aggregate HNS over games (stratified bootstrap over seeds, {study['bootstrap']['resamples']} "
                   "resamples, 95% percentile CI; IQM over all runs, median over games of per-game mean HNS):"), "",
              "| agent | games | runs | IQM HNS [95% CI] | median HNS [95% CI] |", "|---|---|---|---|---|"]
    for label, agg in study["aggregates"].items():
        i, m = agg["iqm"], agg["median"]
        lines.append(f"| {label} | {i['n_games']} | {i['n_runs']} | {_num(i['estimate'], '{:.3f}')} "
                     f"[{_num(i['ci_low'], '{:.3f}')}, {_num(i['ci_high'], '{:.3f}')}] | "
                     f"{_num(m['estimate'], '{:.3f}')} [{_num(m['ci_low'], '{:.3f}')}, {_num(m['ci_high'], '{:.3f}')}] |")
    return "\n".join(lines)


def read_evaluations(args: argparse.Namespace) -> list[dict[str, str]]:
    """Every evaluation row of every game (the PPO experiment's per-game ``evaluations.csv``: exported copy, else
    the training folder's)."""
    rows: list[dict[str, str]] = []
    for game in args.games:
        for folder in (Path(args.results), Path(args.out)):
            path = folder / env_slug(game) / "evaluations.csv"
            if path.is_file():
                with path.open(newline="") as f:
                    rows += list(csv.DictReader(f))
                break
    return rows


def write_evaluations(rows: list[dict[str, str]], path: Path) -> None:
    """All games' evaluations in one CSV (atomic)."""
    from agents.report import write_rows

    write_rows(path, rows, list(rows[0]) if rows else ["env", "agent", "seed", "step", "mean_return"])


def learning_curves_figure(study: dict[str, Any], rows: list[dict[str, str]], path: Path) -> bool:
    """One panel per game with results: mean held-out return over seeds against agent steps per agent, with the
    95 % t-band over seeds (at the steps every seed evaluated), the random-policy and human references. Returns
    False (no file) when there is nothing to plot."""
    from matplotlib.figure import Figure

    from agents.report import plot_mean_band

    games = [g for g, e in study["games"].items() if e["agents"]]
    if not games:
        return False
    cols = min(3, len(games))
    nrows = math.ceil(len(games) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    for ax, game in zip(axes, games, strict=False):
        for label in study["games"][game]["agents"]:
            curves: dict[str, dict[int, float]] = {}
            for r in rows:
                if r["env"] == game and r["agent"] == label:
                    curves.setdefault(r["seed"], {})[int(r["step"])] = float(r["mean_return"])
            if curves:
                plot_mean_band(ax, curves, label, marker=".")
        ref = study["games"][game]["reference"] or {}
        measured = study["games"][game].get("random_return_measured")
        if measured is not None:
            ax.axhline(measured, color="grey", ls=":", lw=1, label="random policy (measured)")
        ax.set_title(game_name(game) + (f"  (human {ref['human']:g})" if ref else ""), fontsize=10)
        ax.set_xlabel("agent steps")
        ax.set_ylabel("held-out return")
        ax.legend(fontsize=7)
    for ax in axes[len(games):]:
        ax.set_visible(False)
    fig.suptitle(f"Atari study: PPO on MINT keypoints vs pixels ({study['timesteps']} agent steps; mean and 95% "
                 "t-band over seeds)", fontsize=10)
    fig.savefig(path, format="png")
    return True


def write_summary(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    study = summarise_study(args)
    table = markdown(study)
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_evaluations(args)
    write_evaluations(rows, out / "evaluations.csv")
    learning_curves_figure(study, rows, out / "learning_curves.png")
    write_json(out / "summary.json", study)
    (out / "summary.md").write_text(table + "\n")
    return study, table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if not args.summary_only:
        train(args)
    study, table = write_summary(args)
    print(table)
    out = Path(args.results)
    print(f"\nsummary: {out / 'summary.md'}, {out / 'summary.json'}; every evaluation: {out / 'evaluations.csv'}; "
          f"figure: {out / 'learning_curves.png'}")
    return {"summary": study, "table": table}


if __name__ == "__main__":
    main()
