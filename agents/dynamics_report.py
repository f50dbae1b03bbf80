"""Results of the keypoint-dynamics experiment (``experiments/object_dynamics.py``): tables, comparisons, figures.

Each finished (scene, seed, encoder, model) run leaves ``metrics.json`` in
``run_folder(out, scene, seed, encoder) / model`` with its budget, timings and every held-out episode's
:func:`envs.dynamics_evaluation.episode_metrics`. From those, :func:`write_dynamics_results` (re)writes into
``out``::

    results.csv                     one row per scene, encoder, model, seed, metric (the seed's episode mean)
    summary.json                    the budget, per-run timings and losses, and per scene / encoder / model the
                                    mean ± 95 % Student-t half-width over seeds of every metric
    comparisons.json                paired (same-seed) differences: interaction − gru and − constant velocity,
                                    mint − transporter, and each encoder's keypoint coverage
                                    (:func:`paired_comparisons`)
    table.md                        one table encoder × model × h, then the paired differences at the largest h
    success_vs_horizon_<scene>.png  success rate against the horizon (:func:`horizon_figure`)

and :func:`rollout_figure` writes ``rollouts_<scene>.png``: observed keypoints of frame ``t + horizon`` (filled
discs) with the predictions made for it at t (rings), around collisions. Aggregation over seeds is
:func:`mint_rl.metrics.summarize` (episode metrics → mean per seed → mean ± t-interval), paired differences
:func:`mint_rl.metrics.aggregate`.

Example::

    runs = DynamicsRuns(Path("runs/object_dynamics"), ("Collisions",), ("mint", "ground_truth"),
                        ("interaction", "constant_velocity"), seeds=3, budget=budget)
    report = write_dynamics_results(runs, wall=0.0)
    print(report["table"])
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.dynamics_evaluation import GT_KEYS, HELD_OUT_SEED, collision_events, held_out_cache
from envs.keypoint_evaluation import format_cell
from mint_rl.metrics import aggregate, finite_mean, summarize
from mint_rl.utils import write_json

__all__ = ["COLUMNS", "COMPARED", "DynamicsRuns", "run_folder", "finished_runs", "seed_means", "markdown_table",
           "paired_comparisons", "format_diff", "comparisons_markdown", "horizon_figure", "overlay",
           "rollout_frames", "rollout_figure", "write_dynamics_results"]

# (key, column title, format, scale) of the printed table; ↑ higher is better, ↓ lower is better.
COLUMNS = [("success", "success % ↑", "{:.1f}", 100.0), ("success_coll", "success coll % ↑", "{:.1f}", 100.0),
           ("success_border", "success border % ↑", "{:.1f}", 100.0), ("err_px", "err px ↓", "{:.2f}", 1.0),
           ("err_px_coll", "err coll px ↓", "{:.2f}", 1.0), ("motion_err_px", "motion err px ↓", "{:.2f}", 1.0),
           ("motion_err_px_coll", "motion err coll px ↓", "{:.2f}", 1.0),
           ("status_acc", "status acc % ↑", "{:.1f}", 100.0)]

COMPARED = ("success", "success_coll", "success_border", "motion_err_px_coll")
"""The metrics of the paired comparisons, at every horizon."""

RunKey = tuple[str, str, str, int]  # (scene, encoder, model, seed)


@dataclass(frozen=True)
class DynamicsRuns:
    """The runs one command covers: every (scene, seed, encoder, model) under ``out``, and their budget.

    :param out: the experiment's folder.
    :param scenes: short scene names (keys of :data:`envs.dynamics_evaluation.SCENES`).
    :param encoders: encoder names, in table order.
    :param models: dynamics model names (:data:`agents.dynamics.DYNAMICS_MODELS`), in table order.
    :param seeds: seeds ``0 .. seeds − 1``.
    :param budget: what the results depend on; needs ``history``, ``horizon``, ``eval_episodes``,
        ``eval_length`` and, for the table's note, the encoder and dynamics budget (``encoder_steps``,
        ``batch_size``, ``num_keypoints``, ``train_episodes``, ``episode_length``, ``dyn_steps``, ``dyn_batch``).
    """

    out: Path
    scenes: tuple[str, ...]
    encoders: tuple[str, ...]
    models: tuple[str, ...]
    seeds: int
    budget: Mapping[str, Any]

    @property
    def horizon(self) -> int:
        """Predicted steps H."""
        return int(self.budget["horizon"])

    @property
    def history(self) -> int:
        """History frames of the dynamics models."""
        return int(self.budget["history"])


def run_folder(out: Path, scene: str, seed: int, encoder: str) -> Path:
    """``<out>/<scene>/seed<seed>/<encoder>/``: an encoder's checkpoint and keypoints, one folder per model."""
    return out / scene / f"seed{seed}" / encoder


# --------------------------------------------------------------------------- reading
def finished_runs(runs: DynamicsRuns) -> dict[RunKey, dict[str, Any]]:
    """Every finished run of ``runs``: (scene, encoder, model, seed) → its ``metrics.json``."""
    done = {}
    for scene in runs.scenes:
        for encoder in runs.encoders:
            for model in runs.models:
                for seed in range(runs.seeds):
                    path = run_folder(runs.out, scene, seed, encoder) / model / "metrics.json"
                    if path.is_file():
                        done[(scene, encoder, model, seed)] = json.loads(path.read_text())
    return done


def seed_means(result: Mapping[str, Any]) -> dict[str, float]:
    """Mean over a run's episodes of each metric (nan where no episode defines it)."""
    return {metric: finite_mean([ep[metric] for ep in result["episodes"]]) for metric in result["metric_names"]}


# --------------------------------------------------------------------------- tables
def markdown_table(summary: Mapping[str, Any], runs: DynamicsRuns) -> str:
    """One table per scene: a row per encoder, model and horizon, the :data:`COLUMNS` as mean ± half-width."""
    lines = []
    for scene in runs.scenes:
        if scene not in summary:
            continue
        lines += [f"**{scene}**", "", "| encoder | model | h | n | " + " | ".join(c[1] for c in COLUMNS) + " |",
                  "|---|---|---|---|" + "---|" * len(COLUMNS)]
        for encoder in runs.encoders:
            for model in runs.models:
                stats = summary[scene].get(encoder, {}).get(model)
                if stats is None:
                    continue
                for h in range(1, runs.horizon + 1):
                    n = int(stats[f"success@{h}"]["n"])
                    cells = [_scaled_cell(stats.get(f"{key}@{h}"), fmt, scale) for key, _, fmt, scale in COLUMNS]
                    lines.append(f"| {encoder} | {model} | {h} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _scaled_cell(stats: Mapping[str, float] | None, fmt: str, scale: float) -> str:
    if stats is None:
        return format_cell(None, fmt)
    return format_cell({"mean": stats["mean"] * scale, "half_width": stats["half_width"] * scale}, fmt)


def paired_comparisons(done: Mapping[RunKey, Mapping[str, Any]], runs: DynamicsRuns) -> dict[str, Any]:
    """Paired (same seed) differences with 95 % t-intervals over seeds, and keypoint coverage.

    - ``models``: per scene and encoder, interaction − gru and interaction − constant_velocity;
    - ``encoders``: per scene and model, mint − transporter;
    on :data:`COMPARED` at every horizon. ``coverage``: per scene and encoder, the mean number
    of (frame, object) pairs per held-out episode with ≥ 1 keypoint on the object (``n_pairs@1``).
    """
    means = {key: seed_means(r) for key, r in done.items()}
    out: dict[str, Any] = {"models": {}, "encoders": {}, "coverage": {}}

    def diff(a: tuple, b: tuple) -> dict[str, Any]:
        seeds = [s for s in range(runs.seeds) if (*a, s) in means and (*b, s) in means]
        result = {}
        for metric in COMPARED:
            for h in range(1, runs.horizon + 1):
                key = f"{metric}@{h}"
                result[key] = aggregate([means[(*a, s)][key] - means[(*b, s)][key] for s in seeds])
        return result

    for scene in runs.scenes:
        for encoder in runs.encoders:
            for other in ("gru", "constant_velocity"):
                if "interaction" in runs.models and other in runs.models:
                    out["models"].setdefault(scene, {}).setdefault(encoder, {})[f"interaction-{other}"] = diff(
                        (scene, encoder, "interaction"), (scene, encoder, other))
            counts = [means[(scene, encoder, m, s)]["n_pairs@1"] for m in runs.models for s in range(runs.seeds)
                      if (scene, encoder, m, s) in means]
            if counts:
                out["coverage"].setdefault(scene, {})[encoder] = float(np.mean(counts))
        if "mint" in runs.encoders and "transporter" in runs.encoders:
            for model in runs.models:
                out["encoders"].setdefault(scene, {})[f"{model}: mint-transporter"] = diff(
                    (scene, "mint", model), (scene, "transporter", model))
    return out


def format_diff(stats: Mapping[str, float] | None, scale: float) -> str:
    """``+1.6 ± 4.3`` (signed mean, unsigned half-width), ``*`` when the interval excludes 0."""
    if stats is None or not np.isfinite(stats["mean"]):
        return "–"
    digits = 1 if scale == 100.0 else 2
    cell = f"{stats['mean'] * scale:+.{digits}f}"
    if np.isfinite(stats["half_width"]):
        cell += f" ± {stats['half_width'] * scale:.{digits}f}"
        if abs(stats["mean"]) > stats["half_width"]:
            cell += " *"
    return cell


def comparisons_markdown(comparisons: Mapping[str, Any], horizon: int) -> str:
    """Paired differences of :func:`paired_comparisons` at the largest horizon (percentage points; px for the
    motion error), then the keypoint coverage."""
    h = horizon
    cols = [(f"{m}@{h}", f"Δ {m} @{h}" + (" px" if "px" in m else " pp"), 1.0 if "px" in m else 100.0)
            for m in COMPARED]
    lines = [f"Paired differences (same seed; mean ± 95% t-interval over seeds; * the interval excludes 0) "
             f"at h = {h}:", "",
             "| scene | comparison | " + " | ".join(c[1] for c in cols) + " |", "|---|---|" + "---|" * len(cols)]
    for group in ("models", "encoders"):
        for scene, by_key in comparisons[group].items():
            items = ([(f"{enc}: {name}", d) for enc, by_name in by_key.items() for name, d in by_name.items()]
                     if group == "models" else list(by_key.items()))
            for label, d in items:
                cells = [format_diff(d.get(key), scale) for key, _, scale in cols]
                lines.append(f"| {scene} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Keypoint coverage: mean (frame, object) pairs per held-out episode with ≥ 1 keypoint on the "
              "object (ground truth: every visible object):", ""]
    for scene, by_encoder in comparisons["coverage"].items():
        lines.append(f"- {scene}: " + ", ".join(f"{e} {v:.0f}" for e, v in by_encoder.items()))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figures
def horizon_figure(summary: Mapping[str, Any], scene: str, runs: DynamicsRuns, path: Path) -> None:
    """Success rate vs horizon (all / collision / border windows), one line per encoder and model."""
    from matplotlib.figure import Figure

    panels = [("success", "all windows"), ("success_coll", "collision windows"), ("success_border", "border windows")]
    panels = [p for p in panels if any(np.isfinite(summary[scene].get(e, {}).get(m, {}).get(f"{p[0]}@1", {})
                                                   .get("mean", np.nan))
                                       for e in runs.encoders for m in runs.models)]
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    colours = {"mint": "tab:blue", "transporter": "tab:orange", "ground_truth": "tab:green"}
    styles = {"interaction": "-", "gru": "--", "constant_velocity": ":"}
    hs = np.arange(1, runs.horizon + 1)
    for ax, (key, title) in zip(axes, panels):
        for encoder in runs.encoders:
            for model in runs.models:
                stats = summary[scene].get(encoder, {}).get(model)
                if stats is None:
                    continue
                mean = np.array([stats[f"{key}@{h}"]["mean"] for h in hs]) * 100
                half = np.array([stats[f"{key}@{h}"]["half_width"] for h in hs]) * 100
                ax.errorbar(hs + 0.04 * (list(runs.models).index(model) - 1), mean,
                            yerr=np.where(np.isfinite(half), half, 0.0), capsize=2, color=colours.get(encoder),
                            linestyle=styles.get(model, "-"), marker="o", markersize=3, label=f"{encoder} / {model}")
        ax.set_title(f"{scene}: {title}", fontsize=10)
        ax.set_xlabel("horizon h (steps)")
        ax.set_xticks(hs)
        ax.set_ylabel("h-step success %")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.savefig(path, format="png")


def overlay(frame: np.ndarray, observed: np.ndarray, observed_status: np.ndarray, predicted: np.ndarray,
            scale: int = 4) -> np.ndarray:
    """Observed keypoints as filled discs (inactive: rings), predicted ones as thinner rings on top.

    :param frame: ``(H, W, 3)`` uint8 RGB.
    :param observed: ``(K, 2)`` keypoints of the frame; :param observed_status: ``(K,)``.
    :param predicted: ``(K, 2)`` predictions for the frame.
    :return: ``(scale·H, scale·W, 3)`` uint8 RGB.
    """
    from mint_rl.draw import draw_keypoints

    image = draw_keypoints(frame, observed, observed_status, scale=scale)
    return draw_keypoints(image, predicted, np.zeros(len(predicted)), radius=max(2.0, image.shape[0] / 25.0))


def rollout_frames(frames: np.ndarray, coords: np.ndarray, status: np.ndarray, pred: np.ndarray, history: int,
                   sources: np.ndarray, scale: int = 4) -> list[np.ndarray]:
    """Frame ``t + H`` with its observed keypoints and the predictions made for it at source t, for each source.

    :param frames: ``(T, H, W, 3)``; :param coords: ``(T, K, 2)``; :param status: ``(T, K)``.
    :param pred: ``(T, H, K, 2)`` from :func:`agents.dynamics.predict_sequence`.
    """
    horizon = pred.shape[1]
    return [overlay(frames[t + horizon], coords[t + horizon], status[t + horizon], pred[t, horizon - 1], scale)
            for t in sources]


def rollout_figure(runs: DynamicsRuns, columns: int = 4) -> None:
    """``rollouts_<scene>.png``: seed 0, held-out episode 0, frames around collisions; one row per encoder/model.

    Each tile is frame ``t + horizon`` with its observed keypoints (filled) and the predictions
    made for it at t (rings); the first tile of a row names the encoder and model. Reads the
    held-out cache, each encoder's ``keypoints.npz`` and each model's ``rollout_episode0.npz``.
    """
    import cv2

    from mint_rl.draw import image_grid

    history, horizon = runs.history, runs.horizon
    for scene in runs.scenes:
        data = held_out_cache(runs.out, scene, runs.budget["eval_episodes"], runs.budget["eval_length"])
        if not data.is_file():
            continue
        with np.load(data) as d:
            gt = {key: d[key][0] for key in GT_KEYS}
            frames = d["frames"][0]
        events = collision_events(gt, frames.shape[1], frames.shape[2]).any(axis=1)
        candidates = [t for t in range(history - 1, len(frames) - horizon) if events[t: t + horizon + 1].any()]
        if not candidates:
            candidates = list(range(history - 1, len(frames) - horizon))
        sources = np.array(candidates)[np.linspace(0, len(candidates) - 1, columns).round().astype(int)]
        tiles = []
        for encoder in runs.encoders:
            folder = run_folder(runs.out, scene, 0, encoder)
            kp_cache = folder / "keypoints.npz"
            if encoder == "ground_truth":
                with np.load(data) as d:
                    coords, status = d["centres"][0].astype(np.float32), d["visible"][0].astype(np.float32)
            elif kp_cache.is_file():
                with np.load(kp_cache) as d:
                    coords, status = d["eval_coords"][0], d["eval_status"][0]
            else:
                continue
            for model in runs.models:
                rollout = folder / model / "rollout_episode0.npz"
                if not rollout.is_file():
                    continue
                with np.load(rollout) as d:
                    pred = d["pred_coords"]
                row = rollout_frames(frames, coords, status, pred, history, sources, scale=2)
                cv2.putText(row[0], f"{encoder}/{model}", (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1,
                            cv2.LINE_AA)
                tiles += row
        if tiles:
            grid = image_grid(tiles, ncols=columns)
            cv2.imwrite(str(runs.out / f"rollouts_{scene}.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


# --------------------------------------------------------------------------- writing
def write_dynamics_results(runs: DynamicsRuns, wall: float, figures: bool = True) -> dict[str, Any]:
    """Rewrite results.csv, summary.json, comparisons.json, table.md (and the horizon figures) from every
    finished run of ``runs``.

    :param wall: seconds of this invocation so far (recorded in summary.json).
    :param figures: also draw ``success_vs_horizon_<scene>.png``.
    :return: ``summary`` (scene → encoder → model → metric → aggregate), ``table`` (the markdown) and ``rows``.
    """
    out, budget = runs.out, runs.budget
    done = finished_runs(runs)
    rows = []
    for (scene, encoder, model, seed), result in sorted(done.items()):
        for metric in result["metric_names"]:
            values = np.array([ep[metric] for ep in result["episodes"]], dtype=np.float64)
            rows.append({"scene": scene, "encoder": encoder, "model": model, "seed": seed, "metric": metric,
                         "value": finite_mean(values), "n_episodes": int(np.isfinite(values).sum())})
    tmp = out / "results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["scene", "encoder", "model", "seed", "metric", "value", "n_episodes"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "results.csv")

    summary: dict[str, Any] = {}
    for (scene, encoder, model, _), _r in done.items():
        summary.setdefault(scene, {}).setdefault(encoder, {}).setdefault(model, None)
    for scene, by_encoder in summary.items():
        for encoder, by_model in by_encoder.items():
            for model in by_model:
                per_seed = {seed: r["episodes"] for (s, e, m, seed), r in done.items()
                            if (s, e, m) == (scene, encoder, model)}
                by_model[model] = summarize(per_seed)
    run_info = {f"{s}/seed{seed}/{e}/{m}": {k: r[k] for k in ("train_seconds", "eval_seconds", "final_loss",
                                                                "encoder_seconds")}
                for (s, e, m, seed), r in sorted(done.items())}
    write_json(out / "summary.json", {
        "budget": budget, "held_out_env_seeds": [HELD_OUT_SEED, HELD_OUT_SEED + budget["eval_episodes"] - 1],
        "aggregation": "episode metrics → mean per seed → mean ± 95% Student-t half-width over n seeds",
        "success_and_status_acc_are_fractions": True, "errors_in_frame_pixels": True,
        "wall_seconds_this_invocation": wall, "runs": run_info, "summary": summary})
    note = (f"mean ± 95% t-interval half-width over n seeds; encoders: {budget['encoder_steps']} steps × "
            f"{budget['batch_size']} clips, K = {budget['num_keypoints']}, {budget['train_episodes']} training "
            f"episodes × {budget['episode_length']} frames; dynamics: history {budget['history']} → horizon "
            f"{budget['horizon']}, {budget['dyn_steps']} steps × {budget['dyn_batch']} windows; held-out: "
            f"{budget['eval_episodes']} episodes × {budget['eval_length']} frames. Errors in frame pixels (64 × 64).")
    comparisons = paired_comparisons(done, runs)
    write_json(out / "comparisons.json", comparisons)
    table = note + "\n\n" + markdown_table(summary, runs) + "\n" + comparisons_markdown(comparisons, runs.horizon)
    (out / "table.md").write_text(table + "\n")
    if figures:
        for scene in summary:
            horizon_figure(summary, scene, runs, out / f"success_vs_horizon_{scene}.png")
    return {"summary": summary, "table": table, "rows": rows}
