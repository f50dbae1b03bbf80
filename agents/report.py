"""Results of a PPO experiment: evaluation CSVs read back, a summary over seeds, a markdown table, learning curves.

From the run folders of one env (:mod:`agents.run_folders`), :func:`write_results` writes into ``<env_dir>``::

    evaluations.csv       every evaluation of every run in the table (columns agents.run_folders.EVALUATION_FIELDS)
    summary.json          per agent over finished seeds (:func:`summarise`)
    table.md              final return ± 95 % t-interval, return at T/3, env steps to the threshold and to the pixel
                          agent's final return, return at equal training time, training speed (:func:`markdown_table`)
    learning_curves.png   mean and 95 % band over seeds against env steps and against training seconds
                          (:func:`learning_curves`)

Equal training time: every agent is read at the mean training seconds the fastest image agent took for the whole
budget (:func:`equal_time_seconds`; the references on true objects when no image agent finished; seconds of
``PPO.learn`` without evaluation, from each evaluation's ``train_seconds``; an agent that finished earlier holds its
final return). Encoder pretraining is not in it. Seconds compare only runs made on the same machine under the same
load (e.g. the runs of one ``--jobs`` experiment, side by side).

Mean ± interval over seeds is :func:`mint_rl.metrics.aggregate` (Student t). The plotting helper
:func:`plot_mean_band` and the CSV writer :func:`write_rows` serve other reports too
(:mod:`agents.atari_study_report`, :mod:`agents.atari_detection_report`).

``summary.json`` is also a file contract: other programs (the Atari study) read it back with
:func:`read_summary`, which checks the keys they use (:class:`ExperimentSummary`, :class:`AgentSummary`) and
raises :class:`SummaryError` naming the file and the missing key.

Example::

    summary, table = write_results(exp, env_dir, ["mint-set-c8w5", "pixels"], random=[-2.9], extra={})
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.experiment_settings import PROTOCOL_KEYS, PPOExperiment
from agents.run_folders import EVALUATION_FIELDS, run_folder
from mint_rl.metrics import aggregate
from mint_rl.utils import write_json

__all__ = ["RESUMED", "SMOOTH", "AgentSummary", "ExperimentSummary", "SummaryError", "equal_time_seconds",
           "learning_curves", "markdown_table", "per_seed_curves", "per_seed_time_curves", "plot_mean_band",
           "read_curves", "read_summary", "result_labels", "return_at_seconds", "steps_to_threshold", "summarise",
           "write_results", "write_rows"]

SMOOTH = 3  # steps-to-threshold reads a trailing mean over this many evaluations (one lucky evaluation is not enough)
RESUMED = "†"  # marks, in table.md, an agent whose n includes resumed seeds


# --------------------------------------------------------------------------- reading
def read_curves(env_dir: Path, labels: Sequence[str], seeds: int | Iterable[int]) -> list[dict[str, Any]]:
    """Every evaluation row of the requested runs (finished or not), from the runs' CSVs.

    :param seeds: the training seeds, or their number ``n`` for seeds ``0 .. n-1``.
    """
    rows = []
    for label in labels:
        for seed in (range(seeds) if isinstance(seeds, int) else seeds):
            path = run_folder(env_dir, label, seed) / "evaluations.csv"
            if path.is_file():
                with path.open(newline="") as f:
                    rows += list(csv.DictReader(f))
    return rows


def per_seed_curves(rows: Iterable[Mapping[str, Any]], label: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed → (steps, mean returns) of one agent, sorted by step."""
    curves: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        if r["agent"] == label:
            curves.setdefault(int(r["seed"]), []).append((int(r["step"]), float(r["mean_return"])))
    return {s: (np.array([p[0] for p in sorted(c)]), np.array([p[1] for p in sorted(c)])) for s, c in curves.items()}


def per_seed_time_curves(rows: Iterable[Mapping[str, Any]], label: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed → (training seconds, mean returns) of one agent, sorted by step; rows without ``train_seconds``
    (evaluation files older than that column) are left out."""
    curves: dict[int, list[tuple[int, float, float]]] = {}
    for r in rows:
        if r["agent"] == label and r.get("train_seconds") not in (None, ""):
            curves.setdefault(int(r["seed"]), []).append((int(r["step"]), float(r["train_seconds"]),
                                                          float(r["mean_return"])))
    return {s: (np.array([p[1] for p in sorted(c)]), np.array([p[2] for p in sorted(c)])) for s, c in curves.items()}


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> None:
    """Rows as a CSV with columns ``fields`` (other keys ignored), written atomically (``<path>.tmp``, replace)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- summary
def steps_to_threshold(steps: np.ndarray, returns: np.ndarray, threshold: float) -> float:
    """First evaluated env step at which the trailing mean of the last ``SMOOTH`` evaluations (fewer at the
    start) is >= threshold; nan if never."""
    smoothed = np.array([returns[max(0, i - SMOOTH + 1):i + 1].mean() for i in range(len(returns))])
    hit = np.flatnonzero(smoothed >= threshold)
    return float(steps[hit[0]]) if hit.size else float("nan")


def return_at_seconds(seconds: np.ndarray, returns: np.ndarray, t: float) -> float:
    """A run's return after ``t`` training seconds: linear between evaluations, the final return after its last
    evaluation (a finished run keeps its policy); nan before its first evaluation or when ``t`` is nan."""
    if not np.isfinite(t) or seconds.size == 0 or seconds[0] > t:
        return float("nan")
    return float(np.interp(t, seconds, returns))


def equal_time_seconds(train_seconds: Mapping[str, Sequence[float]]) -> tuple[float, str | None]:
    """The training time at which agents are compared: the smallest, over agents, of the mean training seconds
    their finished seeds took for the whole budget; returns (seconds, that agent), or (nan, None) without any.

    :param train_seconds: agent → the ``train_seconds`` of its finished seeds (``done.json``).
    """
    means = {label: float(np.mean(v)) for label, v in train_seconds.items() if len(v)}
    if not means:
        return float("nan"), None
    fastest = min(means, key=means.__getitem__)
    return means[fastest], fastest


def summarise(exp: PPOExperiment, env_dir: Path, labels: Sequence[str], random: Sequence[float]) -> dict[str, Any]:
    """Per agent, over finished seeds: final return, return at T/3, env steps to the threshold and to the
    pixel agent's final return, return at equal training time (:func:`equal_time_seconds` of the image agents),
    speed.

    The default threshold is ``random + 0.8 × (best − random)`` where best is the best final mean return of
    the agents that see images (``ground_truth`` and the ``objects*`` ladder rungs are references that see the
    true objects, left out unless they are alone).

    :param random: the random policy's mean return on each seed's held-out episodes.
    """
    done = {label: [json.loads((run_folder(env_dir, label, s) / "done.json").read_text())
                    for s in exp.seed_ids if (run_folder(env_dir, label, s) / "done.json").is_file()]
            for label in labels}
    random_mean = float(np.mean(random))
    finals = {label: aggregate([d["final_return"] for d in runs]) for label, runs in done.items() if runs}
    image_agents = [label for label in finals
                    if label != "ground_truth" and not label.startswith("objects")] or list(finals)
    best = max((finals[label]["mean"] for label in image_agents), default=float("nan"))
    threshold = exp.threshold if exp.threshold is not None else random_mean + 0.8 * (best - random_mean)
    pixels_final = finals["pixels"]["mean"] if "pixels" in finals else float("nan")
    rows = read_curves(env_dir, labels, exp.seed_ids)
    third = exp.timesteps / 3
    equal_seconds, fastest = equal_time_seconds(
        {label: [d["train_seconds"] for d in done[label] if "train_seconds" in d] for label in image_agents})
    agents: dict[str, Any] = {}
    for label, runs in done.items():
        if not runs:
            continue
        curves = per_seed_curves(rows, label)
        finished = [curves[d["seed"]] for d in runs if d["seed"] in curves]
        at_third = [float(np.interp(third, s, r)) if s[0] <= third else float("nan") for s, r in finished]
        reach = [steps_to_threshold(s, r, threshold) for s, r in finished]
        reach_pixels = [steps_to_threshold(s, r, pixels_final) for s, r in finished]
        timed = per_seed_time_curves(rows, label)
        at_equal = [return_at_seconds(*timed[d["seed"]], equal_seconds) if d["seed"] in timed else float("nan")
                    for d in runs]
        agents[label] = {
            "final_return": finals[label], "return_at_third": aggregate(at_third),
            "steps_to_threshold": aggregate(reach), "reached": int(np.isfinite(reach).sum()),
            "steps_to_pixels_final": aggregate(reach_pixels),
            "reached_pixels_final": int(np.isfinite(reach_pixels).sum()),
            "return_at_equal_time": aggregate(at_equal),
            "n": len(runs), "train_steps_per_s": aggregate([d["train_steps_per_s"] for d in runs]),
            "learn_seconds": aggregate([d["learn_seconds"] for d in runs]),
            "final_return_per_seed": [d["final_return"] for d in runs],
            "seeds": [d["seed"] for d in runs if d["seed"] in curves],  # the seeds of the per-seed steps below
            "steps_to_threshold_per_seed": [int(v) if np.isfinite(v) else None for v in reach],  # None: never
            "resumed_seeds": [d["seed"] for d in runs if d.get("resumed")],  # not bit-identical to uninterrupted
        }
    rule = "given" if exp.threshold is not None else "random + 0.8 × (best image agent's final − random)"
    return {"env": exp.env, "timesteps": exp.timesteps, "threshold": threshold, "threshold_rule": rule,
            "eval_policy": "deterministic" if exp.deterministic_eval else "stochastic",
            "pixels_final_return": pixels_final, "random_return": aggregate(random),
            "equal_time_seconds": equal_seconds, "equal_time_agent": fastest, "agents": agents}


# --------------------------------------------------------------------------- table
def _fmt(stats: Mapping[str, float], spec: str = "{:.2f}") -> str:
    if not np.isfinite(stats["mean"]):
        return "–"
    cell = spec.format(stats["mean"])
    return cell + (" ± " + spec.format(stats["half_width"]) if np.isfinite(stats["half_width"]) else "")


def _seconds(value: Any) -> str:
    return f"{value:.0f}" if value is not None and np.isfinite(value) else "equal"


def _equal_cell(agent: Mapping[str, Any]) -> str:
    """Return at equal training time, with (k/n) when only k of the n seeds had evaluated by then."""
    if "return_at_equal_time" not in agent:  # a summary written before the column existed
        return "–"
    stats, n = agent["return_at_equal_time"], agent["n"]
    return _fmt(stats) + (f" ({int(stats['n'])}/{n})" if int(stats["n"]) < n else "")


def _reach_cell(stats: Mapping[str, float], reached: int, n: int) -> str:
    """Mean env steps over the seeds that reached (k/n), or 'not reached'."""
    return (f"{stats['mean']:.0f}" if reached else "not reached") + f" ({reached}/{n})"


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The table of :func:`summarise`'s summary: one row per agent and one for the random policy; agents whose n
    includes resumed seeds are marked with :data:`RESUMED` and named below."""
    t = summary["timesteps"]
    lines = [f"{summary['env']}, {t} env steps per run; mean ± 95% t-interval half-width over n seeds "
             f"(env steps: first evaluation whose trailing {SMOOTH}-evaluation mean return reaches the level, mean "
             f"over the seeds that reached it); threshold {summary['threshold']:.2f} "
             f"({summary['threshold_rule']})"
             + (f"; pixels' final return {summary['pixels_final_return']:.2f}"
                if np.isfinite(summary["pixels_final_return"]) else ""), "",
             ("| agent | n | final return | return at T/3 | env steps to threshold | env steps to pixels' final return "
              f"| return at {_seconds(summary.get('equal_time_seconds'))} train s | train steps/s | learn wall s |"),
             "|---|---|---|---|---|---|---|---|---|"]
    have_pixels = np.isfinite(summary["pixels_final_return"])
    for label, s in summary["agents"].items():
        to_pixels = (_reach_cell(s["steps_to_pixels_final"], s["reached_pixels_final"], s["n"]) if have_pixels
                     else "– (no pixel agent)")
        lines.append(f"| {label} | {s['n']}{RESUMED if s.get('resumed_seeds') else ''} | {_fmt(s['final_return'])} | "
                     f"{_fmt(s['return_at_third'])} | "
                     f"{_reach_cell(s['steps_to_threshold'], s['reached'], s['n'])} | "
                     f"{to_pixels} | {_equal_cell(s)} | "
                     f"{_fmt(s['train_steps_per_s'], '{:.0f}')} | {_fmt(s['learn_seconds'], '{:.0f}')} |")
    r = summary["random_return"]
    lines.append(f"| random policy | {int(r['n'])} | {_fmt(r)} | | | | | | |")
    if summary.get("equal_time_agent"):
        lines += ["", f"Return at equal training time: every agent after the mean training seconds "
                      f"{summary['equal_time_agent']} took for the whole budget (seconds in PPO.learn without "
                      "evaluation, read between evaluations; encoder pretraining not included)."]
    resumed = [f"{label} seed{'s' if len(s['resumed_seeds']) > 1 else ''} {', '.join(map(str, s['resumed_seeds']))}"
               for label, s in summary["agents"].items() if s.get("resumed_seeds")]
    if resumed:
        lines += ["", f"{RESUMED} resumed from a mid-way checkpoint after an interruption, so not bit-identical to an "
                      f"uninterrupted run (env episodes restart at the resume): {'; '.join(resumed)}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures
def plot_mean_band(ax: Any, curves: Mapping[Any, Mapping[int, float]], label: str, **plot_kwargs: Any) -> None:
    """One agent's learning curve on a matplotlib ``ax``: the mean over seeds at the steps every seed evaluated,
    labelled ``"<label> (n=<seeds>)"``, with the 95 % t-band (:func:`mint_rl.metrics.aggregate`) when n >= 2.

    :param curves: seed → {env step: return}.
    :param plot_kwargs: passed to ``ax.plot`` (``marker``, ...).
    """
    steps = sorted(set.intersection(*(set(c) for c in curves.values())))
    stats = [aggregate([c[x] for c in curves.values()]) for x in steps]
    line, = ax.plot(steps, [st["mean"] for st in stats], label=f"{label} (n={len(curves)})", **plot_kwargs)
    if len(curves) >= 2:
        ax.fill_between(steps, [st["ci_low"] for st in stats], [st["ci_high"] for st in stats],
                        color=line.get_color(), alpha=0.2)


def learning_curves(summary: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], path: Path) -> Any:
    """Mean eval return over seeds with the 95 % t-band (n >= 2) per agent, the random policy and the threshold,
    against env steps (left) and against training seconds (right: each seed read by :func:`return_at_seconds` on a
    common grid from the latest first evaluation to the end of its agent's shortest seed, left out when the seeds'
    times do not overlap; the dotted line is the equal training time), as a PNG; returns the matplotlib figure."""
    from matplotlib.figure import Figure

    rows = list(rows)
    fig = Figure(figsize=(12, 4.2), dpi=110, layout="constrained")
    by_steps, by_time = fig.subplots(1, 2, sharey=True)
    for label in summary["agents"]:
        curves = per_seed_curves(rows, label)
        if curves:
            plot_mean_band(by_steps, {seed: dict(zip(s.tolist(), r.tolist())) for seed, (s, r) in curves.items()},
                           label)
        timed = per_seed_time_curves(rows, label)
        start = max((float(t[0]) for t, _ in timed.values()), default=np.inf)
        end = min((float(t[-1]) for t, _ in timed.values()), default=-np.inf)
        if end >= start:  # the times every seed has evaluated through (runs in progress: to the shortest)
            grid = np.linspace(start, end, 50) if end > start else np.array([end])
            plot_mean_band(by_time, {seed: {float(x): return_at_seconds(t, r, float(x)) for x in grid}
                                     for seed, (t, r) in timed.items()}, label, marker="." if grid.size == 1 else None)
    for ax in (by_steps, by_time):
        ax.axhline(summary["random_return"]["mean"], color="grey", ls=":", label="random policy")
        ax.axhline(summary["threshold"], color="black", ls="--", lw=0.8, label="threshold")
    if np.isfinite(summary.get("equal_time_seconds", float("nan"))):
        by_time.axvline(summary["equal_time_seconds"], color="black", ls=":", lw=0.8, label="equal training time")
    by_steps.set_xlabel("env steps")
    by_steps.set_ylabel("mean eval return (held-out episodes)")
    by_steps.set_title(f"PPO on {summary['env']}")
    by_time.set_xlabel("training seconds (PPO.learn, evaluation excluded)")
    by_time.set_title("against training time")
    by_steps.legend(fontsize=8)
    by_time.legend(fontsize=8)
    fig.savefig(path, format="png")
    return fig


# --------------------------------------------------------------------------- all of it
def result_labels(exp: PPOExperiment, env_dir: Path, labels: Sequence[str]) -> list[str]:
    """This experiment's agents, then those of earlier ones in the same folder with finished runs under the
    same protocol (env, budget, evaluation, PPO), so that e.g. an ablation row run later joins the table."""
    protocol = exp.protocol()
    more = []
    for folder in sorted(p for p in env_dir.iterdir() if p.is_dir() and p.name not in labels):
        for marker in sorted(folder.glob("seed*/done.json")):
            stored = json.loads(marker.read_text()).get("settings", {})
            if {k: stored.get(k) for k in PROTOCOL_KEYS} == protocol:
                more.append(folder.name)
                break
    return list(labels) + more


def write_results(exp: PPOExperiment, env_dir: Path, labels: Sequence[str], random: Sequence[float],
                  extra: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Write ``evaluations.csv``, ``summary.json`` (with ``extra`` added), ``table.md`` and
    ``learning_curves.png`` (once an agent has finished) of ``labels`` and the agents that join them
    (:func:`result_labels`); returns the summary and the table."""
    labels = result_labels(exp, env_dir, labels)
    rows = read_curves(env_dir, labels, exp.seed_ids)
    write_rows(env_dir / "evaluations.csv", rows, EVALUATION_FIELDS)
    summary = summarise(exp, env_dir, labels, random)
    summary.update(extra)
    write_json(env_dir / "summary.json", summary)
    table = markdown_table(summary)
    (env_dir / "table.md").write_text(table + "\n")
    if summary["agents"]:
        learning_curves(summary, rows, env_dir / "learning_curves.png")
    return summary, table


# --------------------------------------------------------------------------- reading summary.json back
class SummaryError(ValueError):
    """A ``summary.json`` of :func:`write_results` is unreadable or lacks a key its readers use."""


@dataclass(frozen=True)
class AgentSummary:
    """One agent of a ``summary.json``: the keys of :func:`summarise`'s ``agents[label]`` that other programs read.

    :param final_return: :func:`mint_rl.metrics.aggregate` of the final held-out return over finished seeds
        (``mean``, ``half_width``, ``ci_low``, ``ci_high``, ``n``).
    :param final_return_per_seed: the final return of each finished seed.
    :param n: finished seeds.
    :param train_steps_per_s: aggregate of the training env steps per second.
    :param learn_seconds: aggregate of the seconds in ``PPO.learn``.
    """

    final_return: Mapping[str, float]
    final_return_per_seed: tuple[float, ...]
    n: int
    train_steps_per_s: Mapping[str, float]
    learn_seconds: Mapping[str, float]


@dataclass(frozen=True)
class ExperimentSummary:
    """The ``<env_dir>/summary.json`` of one env of the PPO experiment, as other programs read it back.

    Written by :func:`write_results` (what ``experiments/ppo_keypoints.py`` and
    :func:`agents.ppo_experiment.run_ppo_experiment` run; ``--export`` copies it); read by the Atari study
    (:mod:`agents.atari_study_report`) through :func:`read_summary`. Only the keys those readers use are here; a
    summary has more (thresholds, steps to them, ...).

    :param path: the file it was read from.
    :param timesteps: env steps per run.
    :param random_return: aggregate of the random policy's mean held-out return over seeds.
    :param agents: per agent label (``pixels``, ``mint``, ``mint-set-c8w5``, ...) its :class:`AgentSummary`.
    """

    path: Path
    timesteps: int
    random_return: Mapping[str, float]
    agents: Mapping[str, AgentSummary]


SUMMARY_KEYS = ("timesteps", "random_return", "agents")
AGENT_KEYS = ("final_return", "final_return_per_seed", "n", "train_steps_per_s", "learn_seconds")
AGGREGATE_KEYS = ("final_return", "train_steps_per_s", "learn_seconds")  # aggregates: need at least a mean


def read_summary(path: str | os.PathLike) -> ExperimentSummary:
    """Read a ``summary.json`` written by :func:`write_results` and check the keys its readers use.

    :raises SummaryError: the file is missing or not JSON, or lacks a key (the message names the file and the
        key, e.g. ``agents.mint.final_return``).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SummaryError(f"{path}: cannot read the PPO experiment's summary.json ({exc})") from exc

    def need(mapping: Any, key: str, where: str) -> Any:
        if not isinstance(mapping, Mapping) or key not in mapping:
            raise SummaryError(f"{path} lacks '{where}{key}': not a summary.json of the PPO experiment's "
                               "write_results (agents/report.py), or written by an older version; rerun "
                               "experiments/ppo_keypoints.py --report-only on its run folder to rewrite it")
        return mapping[key]

    for key in SUMMARY_KEYS:
        need(data, key, "")
    need(data["random_return"], "mean", "random_return.")
    agents = {}
    for label, entry in need(data, "agents", "").items():
        for key in AGENT_KEYS:
            need(entry, key, f"agents.{label}.")
        for key in AGGREGATE_KEYS:
            need(entry[key], "mean", f"agents.{label}.{key}.")
        agents[label] = AgentSummary(
            final_return=entry["final_return"], final_return_per_seed=tuple(float(v) for v in
                                                                            entry["final_return_per_seed"]),
            n=int(entry["n"]), train_steps_per_s=entry["train_steps_per_s"], learn_seconds=entry["learn_seconds"])
    return ExperimentSummary(path=path, timesteps=data["timesteps"], random_return=data["random_return"],
                             agents=agents)
