"""Results of the keypoint-quality experiment (``experiments/evaluate_keypoints.py``): tables, paired
differences, a figure.

Each finished (encoder, scene, seed) run leaves ``<out>/<encoder>/<scene>/seed<s>/metrics.json`` (its budget,
timings and every held-out episode's :func:`mint_rl.metrics.video_metrics` and
:func:`mint_rl.metrics.enter_leave_metrics`). From those, :func:`write_keypoint_quality_results` (re)writes into
``out``::

    results.csv    one row per encoder, scene, seed and metric (the seed's episode mean)
    summary.json   the budget, Ā per scene, per-run timings and losses, per scene and encoder the mean ± 95 %
                   Student-t half-width over seeds of every metric, and the paired MINT − Transporter differences
    table.md       the main table (:data:`MAIN_COLUMNS`), the enter / leave table (:data:`ENTER_LEAVE_COLUMNS`) and,
                   with both encoders, the paired differences (:data:`PAIRED_COLUMNS`)
    metrics.png    DOP, TOP, UAK and RAK per scene and encoder with 95 % t-intervals (:func:`metrics_figure`)

Runs made with ``--curve`` also keep the held-out metrics at earlier optimiser steps (``metrics.json["curve"]``);
:func:`write_curve_results` turns them, with each run's final step, into ``curve.csv``, ``curve.md`` and
``convergence.png`` (DOP and TOP against training steps).

Runs evaluated before a metric was added get nan for it. Aggregation over seeds is
:func:`mint_rl.metrics.summarize` (episode metrics → mean per seed → mean ± t-interval); the paired
differences are :func:`mint_rl.metrics.aggregate` of the per-seed differences (per seed both encoders saw the
same training frames and held-out episodes).

Example::

    report = write_keypoint_quality_results(Path("runs/evaluate_keypoints"), ["Collisions"],
                                            ["mint", "transporter"], seeds=3, budget=budget, wall=0.0)
    print(report["table"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.report import write_rows
from envs.keypoint_evaluation import HELD_OUT_SEED, format_cell, mean_area
from mint_rl.metrics import ENTER_WINDOW, aggregate, finite_mean, summarize
from mint_rl.utils import write_json

__all__ = ["MAIN_COLUMNS", "ENTER_LEAVE_COLUMNS", "PAIRED_NOTE", "PAIRED_COLUMNS", "run_folder", "finished_runs",
           "markdown_table", "paired_table", "metrics_figure", "write_keypoint_quality_results", "CURVE_METRICS",
           "write_curve_results"]

# (key, column title, format) of the printed tables; ↑ higher is better, ↓ lower is better.
MAIN_COLUMNS = [("DOP", "DOP % ↑", "{:.1f}"), ("TOP", "TOP % ↑", "{:.1f}"), ("UAK", "UAK ↓", "{:.2f}"),
                ("RAK", "RAK ↓", "{:.2f}"), ("DOP_static", "DOP static ↑", "{:.1f}"),
                ("DOP_moving", "DOP moving ↑", "{:.1f}"), ("match_dist_px", "match dist px ↓", "{:.2f}"),
                ("id_switches", "id switches ↓", "{:.1f}")]
ENTER_LEAVE_COLUMNS = [("active_pct", "active kp %", "{:.1f}"),
                       ("on_object_pct", "active kp on objects % ↑", "{:.1f}"), ("DOP", "DOP % ↑", "{:.1f}"),
                       ("DOP_enter", f"DOP 0-{ENTER_WINDOW - 1} after enter % ↑", "{:.1f}"),
                       ("leave_off_pct", "kp off after leave % ↑", "{:.1f}"),
                       ("leave_bg_pct", "kp on background after leave % ↓", "{:.1f}"),
                       ("leave_other_pct", "kp on another object after leave %", "{:.1f}")]
PAIRED_NOTE = ("Paired difference MINT − Transporter (per seed: same training frames and held-out episodes; "
               "mean ± 95% t-interval over n seeds; > 0 favours MINT for ↑ metrics, < 0 for ↓ metrics):")
PAIRED_COLUMNS = [("DOP", "Δ DOP % (↑)", "{:+.1f}"), ("TOP", "Δ TOP % (↑)", "{:+.1f}"),
                  ("UAK", "Δ UAK (↓)", "{:+.2f}"), ("RAK", "Δ RAK (↓)", "{:+.2f}"),
                  ("DOP_static", "Δ DOP static % (↑)", "{:+.1f}"), ("DOP_enter", "Δ DOP 0-5 after enter % (↑)", "{:+.1f}")]


def run_folder(out: Path, encoder: str, scene: str, seed: int) -> Path:
    """``<out>/<encoder>/<scene>/seed<seed>/``: a run's checkpoint, TensorBoard log, keypoints and metrics."""
    return out / encoder / scene / f"seed{seed}"


def finished_runs(out: Path, scenes: Sequence[str], encoders: Sequence[str], seeds: int
                  ) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every finished run of these encoders, scenes and seeds: (encoder, scene, seed) → its metrics.json."""
    done = {}
    for encoder in encoders:
        for scene in scenes:
            for seed in range(seeds):
                path = run_folder(out, encoder, scene, seed) / "metrics.json"
                if path.is_file():
                    done[(encoder, scene, seed)] = json.loads(path.read_text())
    return done


def markdown_table(summary: Mapping[str, Any], scenes: Sequence[str], encoders: Sequence[str],
                   columns: Sequence[tuple[str, str, str]]) -> str:
    """A row per scene and encoder with a result: n seeds, then each of ``columns`` (key, title, format) as
    mean ± half-width."""
    lines = ["| scene | encoder | n | " + " | ".join(c[1] for c in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for scene in scenes:
        for encoder in encoders:
            stats = summary.get(scene, {}).get(encoder)
            if stats is None:
                continue
            n = int(max(s["n"] for s in stats.values()))
            cells = [format_cell(stats.get(key), fmt) for key, _, fmt in columns]
            lines.append(f"| {scene} | {encoder} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(paired: Mapping[str, Any], scenes: Sequence[str]) -> str:
    """A row per scene of the paired MINT − Transporter differences (:data:`PAIRED_COLUMNS`)."""
    lines = ["| scene | n | " + " | ".join(c[1] for c in PAIRED_COLUMNS) + " |",
             "|---|---|" + "---|" * len(PAIRED_COLUMNS)]
    for scene in scenes:
        if scene in paired:
            n = int(max(s["n"] for s in paired[scene].values()))
            cells = [format_cell(paired[scene].get(key), fmt) for key, _, fmt in PAIRED_COLUMNS]
            lines.append(f"| {scene} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_figure(summary: Mapping[str, Any], scenes: Sequence[str], encoders: Sequence[str], path: Path) -> None:
    """Bar chart of DOP, TOP, UAK and RAK per scene and encoder, with 95 % t-intervals."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.0), dpi=100, layout="constrained")
    axes = fig.subplots(1, 4)
    width = 0.8 / max(len(encoders), 1)
    for ax, key in zip(axes, ("DOP", "TOP", "UAK", "RAK")):
        for j, encoder in enumerate(encoders):
            means, errs = [], []
            for scene in scenes:
                s = summary.get(scene, {}).get(encoder, {}).get(key)
                means.append(s["mean"] if s else np.nan)
                errs.append(s["half_width"] if s and np.isfinite(s["half_width"]) else 0.0)
            ax.bar(np.arange(len(scenes)) + j * width, means, width, yerr=errs, capsize=2, label=encoder)
        ax.set_xticks(np.arange(len(scenes)) + width * (len(encoders) - 1) / 2, scenes, fontsize=8)
        ax.set_title(key + (" ↑" if key in ("DOP", "TOP") else " ↓"), fontsize=10)
    axes[0].legend(fontsize=8)
    fig.savefig(path, format="png")


def write_keypoint_quality_results(out: Path, scenes: Sequence[str], encoders: Sequence[str], seeds: int,
                                   budget: Mapping[str, Any], wall: float, figure: bool = True) -> dict[str, Any]:
    """Rewrite results.csv, summary.json, table.md (and metrics.png if ``figure``) from every finished run.

    :param out: the experiment's folder.
    :param scenes: short scene names (keys of :data:`envs.keypoint_evaluation.SCENES`), in table order.
    :param encoders: encoder names, in table order; with ``mint`` and ``transporter`` the paired differences
        are added.
    :param seeds: seeds ``0 .. seeds − 1``.
    :param budget: what the results depend on (recorded in summary.json); the table's note reads ``steps``,
        ``batch_size``, ``clip_length``, ``frames``, ``num_keypoints``, ``eval_episodes`` and ``eval_frames``.
    :param wall: seconds of this invocation so far.
    :return: ``summary`` (scene → encoder → metric → aggregate), ``table`` (the markdown) and ``rows``.
    """
    done = finished_runs(out, scenes, encoders, seeds)
    names = list(dict.fromkeys(name for r in done.values() for name in r["metric_names"]))
    for result in done.values():  # runs evaluated before a metric was added: nan for it
        result["episodes"] = [{name: ep.get(name, float("nan")) for name in names} for ep in result["episodes"]]
        result["metric_names"] = names
    rows = []
    for (encoder, scene, seed), result in sorted(done.items()):
        for metric in result["metric_names"]:
            values = np.array([ep[metric] for ep in result["episodes"]], dtype=np.float64)
            rows.append({"encoder": encoder, "scene": scene, "seed": seed, "metric": metric,
                         "value": finite_mean(values), "n_episodes": int(np.isfinite(values).sum())})
    write_rows(out / "results.csv", rows, ["encoder", "scene", "seed", "metric", "value", "n_episodes"])

    summary: dict[str, Any] = {}
    for scene in scenes:
        for encoder in encoders:
            per_seed = {seed: r["episodes"] for (e, s, seed), r in done.items() if e == encoder and s == scene}
            if per_seed:
                summary.setdefault(scene, {})[encoder] = summarize(per_seed)
    # Paired over seeds: for each seed both encoders saw the same frames and held-out episodes.
    paired: dict[str, Any] = {}
    if {"mint", "transporter"} <= set(encoders):
        seed_value = {(r["encoder"], r["scene"], r["seed"], r["metric"]): r["value"] for r in rows}
        for scene in scenes:
            for metric in (names if done else []):
                diffs = [seed_value[("mint", scene, seed, metric)] - seed_value[("transporter", scene, seed, metric)]
                         for seed in range(seeds) if ("mint", scene, seed, metric) in seed_value
                         and ("transporter", scene, seed, metric) in seed_value]
                if diffs:
                    paired.setdefault(scene, {})[metric] = aggregate(diffs)
    runs = {f"{e}/{s}/seed{seed}": {k: r[k] for k in ("train_seconds", "eval_seconds", "final_loss")}
            for (e, s, seed), r in sorted(done.items())}
    write_json(out / "summary.json", {
        "budget": budget, "mean_object_area": {s: mean_area(s) for s in scenes},
        "held_out_env_seeds": [HELD_OUT_SEED, HELD_OUT_SEED + budget["eval_episodes"] - 1],
        "aggregation": "episode metrics → mean per seed → mean ± 95% Student-t half-width over n seeds",
        "wall_seconds_this_invocation": wall, "runs": runs, "summary": summary,
        "paired_difference_mint_minus_transporter": paired,
    })
    note = (f"mean ± 95% t-interval half-width over n seeds; {budget['steps']} steps × {budget['batch_size']} clips "
            f"of {budget['clip_length']} frames, {budget['frames']} training frames, K = {budget['num_keypoints']}, "
            f"{budget['eval_episodes']} held-out episodes × {budget['eval_frames']} frames per scene")
    table = "\n\n".join([note, markdown_table(summary, scenes, encoders, MAIN_COLUMNS),
                         "Enter / leave analysis (EnterLeave is the scene where objects enter and leave):",
                         markdown_table(summary, scenes, encoders, ENTER_LEAVE_COLUMNS)]
                        + ([PAIRED_NOTE, paired_table(paired, scenes)] if paired else []))
    (out / "table.md").write_text(table + "\n")
    if summary and figure:
        metrics_figure(summary, scenes, encoders, out / "metrics.png")
    return {"summary": summary, "table": table, "rows": rows}


CURVE_METRICS = ("DOP", "TOP", "UAK")
"""Metrics of the convergence table and figure (:func:`write_curve_results`)."""


def write_curve_results(out: Path, scenes: Sequence[str], encoders: Sequence[str], seeds: int) -> dict[str, Any]:
    """Rewrite ``curve.csv``, ``curve.md`` and ``convergence.png`` from the finished runs' curves.

    A run's curve is its held-out metrics at each step of ``metrics.json["curve"]`` (``--curve``) plus its final
    step (``budget["steps"]``). Per (scene, encoder, step) the episode metrics are averaged per seed, then over
    the seeds evaluated at that step (mean ± 95 % Student-t half-width, :func:`mint_rl.metrics.summarize`).

    :return: ``summary`` (scene → encoder → step → metric → aggregate), ``table`` (the markdown) and ``rows``.
    """
    done = finished_runs(out, scenes, encoders, seeds)
    per_step: dict[tuple[str, str, int], dict[int, list[dict[str, float]]]] = {}
    for (encoder, scene, seed), result in done.items():
        points = {int(step): episodes for step, episodes in result.get("curve", {}).items()}
        points[int(result["budget"]["steps"])] = result["episodes"]
        for step, episodes in points.items():
            per_step.setdefault((scene, encoder, step), {})[seed] = episodes
    rows, summary = [], {}
    for (scene, encoder, step), per_seed in sorted(per_step.items()):
        for seed, episodes in sorted(per_seed.items()):
            for metric in CURVE_METRICS:
                values = np.array([ep.get(metric, np.nan) for ep in episodes], dtype=np.float64)
                rows.append({"encoder": encoder, "scene": scene, "seed": seed, "step": step, "metric": metric,
                             "value": finite_mean(values)})
        stats = summarize({seed: [{m: ep.get(m, np.nan) for m in CURVE_METRICS} for ep in episodes]
                           for seed, episodes in per_seed.items()})
        summary.setdefault(scene, {}).setdefault(encoder, {})[step] = stats
    write_rows(out / "curve.csv", rows, ["encoder", "scene", "seed", "step", "metric", "value"])
    steps = sorted({step for (_, _, step) in per_step})
    lines = ["DOP % / TOP % on the held-out episodes against optimiser steps (mean over the seeds evaluated at "
             "that step; n seeds in brackets):", "",
             "| scene | encoder | " + " | ".join(f"{s:,}" for s in steps) + " |", "|---|---|" + "---|" * len(steps)]
    for scene in scenes:
        for encoder in encoders:
            curve = summary.get(scene, {}).get(encoder)
            if not curve:
                continue
            cells = [f"{curve[s]['DOP']['mean']:.1f} / {curve[s]['TOP']['mean']:.1f} ({int(curve[s]['DOP']['n'])})"
                     if s in curve else "" for s in steps]
            lines.append(f"| {scene} | {encoder} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (out / "curve.md").write_text(table + "\n")
    if summary:
        curve_figure(summary, scenes, encoders, out / "convergence.png")
    return {"summary": summary, "table": table, "rows": rows}


def curve_figure(summary: Mapping[str, Any], scenes: Sequence[str], encoders: Sequence[str], path: Path) -> None:
    """DOP (solid) and TOP (dashed) against optimiser steps, one panel per scene, 95 % t-intervals shaded."""
    from matplotlib.figure import Figure

    shown = [s for s in scenes if s in summary]
    fig = Figure(figsize=(3.2 * len(shown), 3.0), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    for ax, scene in zip(axes, shown):
        for j, encoder in enumerate(encoders):
            curve = summary[scene].get(encoder)
            if not curve:
                continue
            steps = sorted(curve)
            for key, style in (("DOP", "-"), ("TOP", "--")):
                mean = np.array([curve[s][key]["mean"] for s in steps])
                half = np.array([curve[s][key]["half_width"] for s in steps])
                half = np.where(np.isfinite(half), half, 0.0)
                ax.plot(steps, mean, style, marker="o", ms=3, color=f"C{j}", label=f"{encoder} {key}")
                ax.fill_between(steps, mean - half, mean + half, color=f"C{j}", alpha=0.15)
        ax.set_xscale("log")
        ax.minorticks_off()
        steps = sorted({step for curve in summary[scene].values() for step in curve})
        ax.set_xticks(steps, [f"{step / 1000:g}k" for step in steps], fontsize=7)
        ax.set_title(scene, fontsize=10)
        ax.set_xlabel("optimiser steps", fontsize=8)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("% of objects", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.savefig(path, format="png")
