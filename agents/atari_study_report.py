"""Results of the Atari-100k study (``experiments/atari_study.py``): scores over games, a table, learning curves.

The study runs one PPO experiment per game (:func:`agents.ppo_experiment.run_ppo_experiment`); each leaves its
``summary.json`` (read back by its contract, :func:`agents.report.read_summary`) and ``evaluations.csv`` in the
game's export ``<results>/<game>/`` (else in the training folder ``<out>/<game>/``). From those,
:func:`write_atari_study_results` writes into ``<results>``::

    summary.json         per game and agent (each agent's labels: ``mint``, ``mint-set``, ``mint-online``, ...) the
                         final return over seeds and the human-normalised score (HNS, :mod:`agents.aggregates`), and
                         per agent the IQM and median HNS over games with stratified-bootstrap 95 % intervals
                         (:func:`summarise_study`)
    summary.md           the per-game table and the aggregate table (:func:`markdown_table`)
    evaluations.csv      every evaluation of every game, agent and seed, as the runs appended them
    learning_curves.png  one panel per game: mean held-out return over seeds against agent steps, 95 % t-band
                         (:func:`learning_curves_figure`)

Example::

    study = AtariStudy(games=("ALE/Breakout-v5", "ALE/Boxing-v5"), agents=("pixels", "mint"),
                       results=Path("results/atari"), out=Path("runs/atari_study"), timesteps=100_000,
                       pretrain_frames=4000, seeds=3)
    summary, table = write_atari_study_results(study)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.aggregates import (AGGREGATES, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, REFERENCE_SCORES, game_name,
                               human_normalised, stratified_bootstrap)
from agents.report import ExperimentSummary, plot_mean_band, read_summary, write_rows
from agents.run_folders import env_slug
from mint_rl.utils import write_json

__all__ = ["AtariStudy", "agent_labels", "learning_curves_figure", "markdown_table", "read_evaluations",
           "read_game_summary", "summarise_study", "write_atari_study_results"]


@dataclass(frozen=True)
class AtariStudy:
    """What one study covers: its games and agents, where their PPO experiments are, and the settings its summary
    reports.

    :param games: ALE ids (``ALE/<Game>-v5``), in table order.
    :param agents: agent names (``pixels``, ``mint``, ``transporter``), in table order; each covers the PPO
        experiment's labels of that agent (:func:`agent_labels`).
    :param results: the study's folder: per-game exports ``<results>/<game>/`` and the files written here.
    :param out: the training folder, read for a game without an export (``<out>/<game>/``).
    :param timesteps: agent steps per run.
    :param pretrain_frames: random-policy frames pretraining each game's encoder (outside the step budget).
    :param seeds: training seeds per (game, agent).
    :param resamples: stratified-bootstrap resamples of the aggregates.
    """

    games: Sequence[str]
    agents: Sequence[str]
    results: Path
    out: Path
    timesteps: int
    pretrain_frames: int
    seeds: int
    resamples: int = BOOTSTRAP_RESAMPLES


# --------------------------------------------------------------------------- reading the PPO experiments
def read_game_summary(study: AtariStudy, game: str) -> ExperimentSummary | None:
    """The PPO experiment's summary.json of a game (the exported copy, else the one in the training folder), read
    by its contract :func:`agents.report.read_summary`; None if the game has none.

    :raises agents.report.SummaryError: the summary lacks a key the study reads (the message names the file and
        the key).
    """
    for folder in (Path(study.results), Path(study.out)):
        path = folder / env_slug(game) / "summary.json"
        if path.is_file():
            return read_summary(path)
    return None


def read_evaluations(study: AtariStudy) -> list[dict[str, str]]:
    """Every evaluation row of every game (the PPO experiment's per-game ``evaluations.csv``: exported copy, else
    the training folder's)."""
    rows: list[dict[str, str]] = []
    for game in study.games:
        for folder in (Path(study.results), Path(study.out)):
            path = folder / env_slug(game) / "evaluations.csv"
            if path.is_file():
                with path.open(newline="") as f:
                    rows += list(csv.DictReader(f))
                break
    return rows


def agent_labels(agent: str, labels: Sequence[str]) -> list[str]:
    """The PPO experiment's labels of an agent (``mint``, ``mint-online``, ``mint-set``, ...) among ``labels``."""
    return [label for label in labels if label == agent or label.startswith(agent + "-")]


# --------------------------------------------------------------------------- summary
def summarise_study(study: AtariStudy) -> dict[str, Any]:
    """Per game and agent label: final return over seeds (mean ± 95 % t-interval, per seed), HNS (of the mean and
    per seed), pretraining frames, speed; per label: IQM and median HNS over games with stratified-bootstrap
    intervals; and the budget, bootstrap and reference notes.

    :raises agents.report.SummaryError: a game's summary lacks a key the study reads.
    """
    games: dict[str, Any] = {}
    labels: list[str] = []
    for game in study.games:
        summary = read_game_summary(study, game)
        entry: dict[str, Any] = {"found": summary is not None, "agents": {}}
        name = game_name(game)
        ref = REFERENCE_SCORES.get(name)
        entry["reference"] = ref
        if summary is not None:
            entry["timesteps"] = summary.timesteps
            entry["random_return_measured"] = summary.random_return["mean"]
            for agent in study.agents:
                for label in agent_labels(agent, list(summary.agents)):
                    s = summary.agents[label]
                    per_seed = list(s.final_return_per_seed)
                    final = s.final_return
                    hns_seed = [human_normalised(v, name) for v in per_seed] if ref else []
                    entry["agents"][label] = {
                        "n": s.n, "final_return": final,
                        "pretrain_frames": 0 if label == "pixels" else study.pretrain_frames,
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
        per_game = [games[g]["agents"][label]["hns_per_seed"] for g in study.games
                    if label in games[g]["agents"] and games[g]["agents"][label]["hns_per_seed"]]
        aggregates[label] = {key: stratified_bootstrap(per_game, fn, resamples=study.resamples)
                             for key, fn in AGGREGATES.items()}
    return {"timesteps": study.timesteps,
            "budget": f"{study.timesteps} agent steps per run (Atari 100k at 100000; frame skip 4)",
            "pretrain_frames": study.pretrain_frames,
            "pretrain_frames_note": ("random-policy frames pretraining each game's MINT encoder; not counted in "
                                     "the agent-step budget"),
            "seeds": study.seeds, "agents": labels, "games": games, "aggregates": aggregates,
            "bootstrap": {"method": "stratified (seeds within each game), percentile 95% CI",
                          "resamples": study.resamples, "seed": BOOTSTRAP_SEED},
            "reference_source": "Mnih et al. 2015 (DQN Nature), as tabulated in the Atari-100k literature"}


# --------------------------------------------------------------------------- table
def _num(x: float | None, spec: str = "{:.2f}") -> str:
    return "–" if x is None or not math.isfinite(x) else spec.format(x)


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The study's tables of :func:`summarise_study`'s summary: one row per game and agent label (a game without
    results gets one row saying so), then one row per label of the aggregates over games."""
    lines = [(f"Atari study: {summary['budget']}; up to {summary['seeds']} seed(s); final return = last evaluation "
              "on held-out episodes (ppo_keypoints' protocol), mean ± 95% t-interval half-width over seeds; "
              f"HNS = (score − random) / (human − random), references: {summary['reference_source']}. "
              f"Encoder pretraining: {summary['pretrain_frames']} random-policy frames per game, reported "
              "separately (not in the agent-step budget)."), "",
             "| game | agent | n | final return | HNS | random (ref) | human (ref) | pretrain frames | agent steps/s "
             "| wall s per run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for game, entry in summary["games"].items():
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
    lines += ["", (f"Aggregate HNS over games (stratified bootstrap over seeds, {summary['bootstrap']['resamples']} "
                   "resamples, 95% percentile CI; IQM over all runs, median over games of per-game mean HNS):"), "",
              "| agent | games | runs | IQM HNS [95% CI] | median HNS [95% CI] |", "|---|---|---|---|---|"]
    for label, agg in summary["aggregates"].items():
        i, m = agg["iqm"], agg["median"]
        lines.append(f"| {label} | {i['n_games']} | {i['n_runs']} | {_num(i['estimate'], '{:.3f}')} "
                     f"[{_num(i['ci_low'], '{:.3f}')}, {_num(i['ci_high'], '{:.3f}')}] | "
                     f"{_num(m['estimate'], '{:.3f}')} "
                     f"[{_num(m['ci_low'], '{:.3f}')}, {_num(m['ci_high'], '{:.3f}')}] |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- figure
def learning_curves_figure(summary: Mapping[str, Any], rows: Sequence[Mapping[str, str]], path: Path) -> bool:
    """One panel per game with results: mean held-out return over seeds against agent steps per agent, with the
    95 % t-band over seeds (at the steps every seed evaluated, :func:`agents.report.plot_mean_band`), the measured
    random-policy return and the human reference in the title. Returns False (no file) when there is nothing to
    plot."""
    from matplotlib.figure import Figure

    games = [g for g, e in summary["games"].items() if e["agents"]]
    if not games:
        return False
    cols = min(3, len(games))
    nrows = math.ceil(len(games) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    for ax, game in zip(axes, games, strict=False):
        for label in summary["games"][game]["agents"]:
            curves: dict[str, dict[int, float]] = {}
            for r in rows:
                if r["env"] == game and r["agent"] == label:
                    curves.setdefault(r["seed"], {})[int(r["step"])] = float(r["mean_return"])
            if curves:
                plot_mean_band(ax, curves, label, marker=".")
        ref = summary["games"][game]["reference"] or {}
        measured = summary["games"][game].get("random_return_measured")
        if measured is not None:
            ax.axhline(measured, color="grey", ls=":", lw=1, label="random policy (measured)")
        ax.set_title(game_name(game) + (f"  (human {ref['human']:g})" if ref else ""), fontsize=10)
        ax.set_xlabel("agent steps")
        ax.set_ylabel("held-out return")
        ax.legend(fontsize=7)
    for ax in axes[len(games):]:
        ax.set_visible(False)
    fig.suptitle(f"Atari study: PPO on MINT keypoints vs pixels ({summary['timesteps']} agent steps; mean and 95% "
                 "t-band over seeds)", fontsize=10)
    fig.savefig(path, format="png")
    return True


# --------------------------------------------------------------------------- all of it
def write_atari_study_results(study: AtariStudy) -> tuple[dict[str, Any], str]:
    """Write ``evaluations.csv``, ``learning_curves.png`` (when a game has results), ``summary.json`` and
    ``summary.md`` into ``study.results``; returns the summary and the table.

    :raises agents.report.SummaryError: a game's summary lacks a key the study reads.
    """
    summary = summarise_study(study)
    table = markdown_table(summary)
    out = Path(study.results)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_evaluations(study)
    write_rows(out / "evaluations.csv", rows,
               list(rows[0]) if rows else ["env", "agent", "seed", "step", "mean_return"])  # the runs' columns
    learning_curves_figure(summary, rows, out / "learning_curves.png")
    write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(table + "\n")
    return summary, table
