"""Results of the online-vs-pretrained experiment (``experiments/online_vs_pretrained.py``): relative differences,
the verdict, the result files.

The question: does an encoder co-trained online reach keypoint metrics (DOP, TOP) within a tolerance (10 %) of
an encoder pretrained offline with the same number of optimiser steps? Each finished (arm, seed) run leaves
``<out>/<arm>/seed<s>/metrics.json`` (its budget, ``run`` record and every held-out episode's
:func:`mint_rl.metrics.video_metrics`). From those, :func:`write_online_results` (re)writes into the results
folder::

    results.csv    one row per arm, seed and metric (the seed's episode mean)
    summary.json   the budgets, checks (same initial weights and frame stream per seed, optimiser steps), per arm
                   the mean ± 95 % Student-t half-width over seeds, the relative differences and the verdict
    table.md       the arms' table, the relative differences and the verdict

:func:`relative_differences` gives online / pretrained − 1 per metric two ways: of the means over seeds, and per
seed (paired: same seed, frames, initial weights and held-out episodes) with its 95 % interval; for DOP and TOP
(higher is better), "within the tolerance" means the online encoder is at most that much worse at the point
estimate (the stricter reading also asks it of the lower end of the paired interval). :func:`verdict` says it in
words.

Example::

    report = write_online_results(Path("runs/online_vs_pretrained"), Path("results/online"), budgets, seeds=3,
                                  tolerance=0.10, wall=0.0)
    print(report["verdict"])
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.report import write_rows
from envs.keypoint_evaluation import HELD_OUT_SEED, format_cell, mean_area
from mint_rl.metrics import aggregate, finite_mean, summarize
from mint_rl.utils import write_json

__all__ = ["ARMS", "HIGHER_IS_BETTER", "RELATIVE_METRICS", "COLUMNS", "finished_runs", "seed_value",
           "relative_differences", "verdict", "write_online_results"]

ARMS = ("pretrained", "online")
HIGHER_IS_BETTER = ("DOP", "TOP")  # the metrics the question is about
RELATIVE_METRICS = ("DOP", "TOP", "UAK", "RAK")
# (key, column title, format) of the arms' table; ↑ higher is better, ↓ lower is better.
COLUMNS = [("DOP", "DOP % ↑", "{:.1f}"), ("TOP", "TOP % ↑", "{:.1f}"), ("UAK", "UAK ↓", "{:.2f}"),
           ("RAK", "RAK ↓", "{:.2f}"), ("DOP_static", "DOP static ↑", "{:.1f}"),
           ("DOP_moving", "DOP moving ↑", "{:.1f}"), ("match_dist_px", "match dist px ↓", "{:.2f}"),
           ("id_switches", "id switches ↓", "{:.1f}")]

RunKey = tuple[str, int]  # (arm, seed)


def finished_runs(out: Path, seeds: int) -> dict[RunKey, dict[str, Any]]:
    """Every finished run under ``out``: (arm, seed) → its ``<out>/<arm>/seed<s>/metrics.json``."""
    done = {}
    for arm in ARMS:
        for seed in range(seeds):
            path = Path(out) / arm / f"seed{seed}" / "metrics.json"
            if path.is_file():
                done[(arm, seed)] = json.loads(path.read_text())
    return done


def seed_value(result: Mapping[str, Any], metric: str) -> float:
    """A run's mean of ``metric`` over its episodes (nan where no episode defines it)."""
    return finite_mean([ep[metric] for ep in result["episodes"]])


def relative_differences(done: Mapping[RunKey, Mapping[str, Any]], summary: Mapping[str, Any], seeds: int,
                         tolerance: float) -> dict[str, Any]:
    """online / pretrained − 1 per metric of :data:`RELATIVE_METRICS`: of the means over seeds, and paired per
    seed (mean ± 95 % CI).

    :param done: finished runs, (arm, seed) → a record with ``episodes`` (see :func:`finished_runs`).
    :param summary: per arm, :func:`mint_rl.metrics.summarize` of its seeds.
    :param seeds: seeds ``0 .. seeds − 1`` to pair.
    :param tolerance: the allowed relative shortfall on :data:`HIGHER_IS_BETTER`, e.g. 0.10.
    :return: per metric ``of_means``, ``per_seed`` and ``paired`` (an :func:`~mint_rl.metrics.aggregate` or None);
        for DOP and TOP also ``within_tolerance``, ``within_tolerance_both_ways`` and ``ci_low_within_tolerance``
        (None where undefined). Empty until both arms have a finished seed.
    """
    out: dict[str, Any] = {}
    if not all(arm in summary for arm in ARMS):
        return out
    for metric in RELATIVE_METRICS:
        pre, onl = summary["pretrained"][metric]["mean"], summary["online"][metric]["mean"]
        per_seed = []
        for s in range(seeds):
            if ("online", s) in done and ("pretrained", s) in done:
                p_s, o_s = seed_value(done[("pretrained", s)], metric), seed_value(done[("online", s)], metric)
                if math.isfinite(p_s) and math.isfinite(o_s) and p_s != 0:
                    per_seed.append(o_s / p_s - 1.0)
        of_means = onl / pre - 1.0 if math.isfinite(pre) and math.isfinite(onl) and pre != 0 else float("nan")
        entry = {"of_means": of_means, "per_seed": per_seed, "paired": aggregate(per_seed) if per_seed else None}
        if metric in HIGHER_IS_BETTER:
            paired = entry["paired"]
            entry["within_tolerance"] = bool(of_means >= -tolerance) if math.isfinite(of_means) else None
            entry["within_tolerance_both_ways"] = bool(abs(of_means) <= tolerance) if math.isfinite(of_means) else None
            entry["ci_low_within_tolerance"] = (bool(paired["ci_low"] >= -tolerance)
                                                if paired and math.isfinite(paired["ci_low"]) else None)
        out[metric] = entry
    return out


def verdict(rel: Mapping[str, Any], tolerance: float, complete: bool) -> str:
    """The answer to the question in one paragraph, from :func:`relative_differences`: within the tolerance or
    not at the point estimate, and what the paired 95 % intervals add (``complete``: every seed has finished)."""
    if not rel:
        return "no verdict yet: both arms need at least one finished seed"
    pct = f"{100 * tolerance:.0f} %"
    parts = []
    for metric in HIGHER_IS_BETTER:
        r = rel[metric]
        paired = r["paired"]
        ci = (f"paired per-seed {100 * paired['mean']:+.1f} % [{100 * paired['ci_low']:+.1f}, "
              f"{100 * paired['ci_high']:+.1f}]" if paired and math.isfinite(paired["ci_low"])
              else "no paired interval" if paired is None else "no interval with n = 1")
        parts.append(f"{metric} {100 * r['of_means']:+.1f} % ({ci})")
    if any(rel[m]["within_tolerance"] is None for m in HIGHER_IS_BETTER):
        return ("no verdict: the relative difference is undefined (a pretrained DOP or TOP of 0, or no finite value): "
                + "; ".join(parts))
    ok = all(rel[m]["within_tolerance"] for m in HIGHER_IS_BETTER)
    paired = [rel[m]["paired"] for m in HIGHER_IS_BETTER]
    has_ci = all(p is not None and math.isfinite(p["ci_low"]) for p in paired)
    text = ("online vs pretrained, relative difference of the means: " + "; ".join(parts) + ". "
            + (f"WITHIN {pct}: the online encoder is at most {pct} worse on DOP and TOP at the point estimate"
               if ok else f"NOT within {pct}: the online encoder is more than {pct} worse on DOP or TOP at the "
                          "point estimate"))
    if not has_ci:
        text += " (no paired 95 % interval: fewer than 2 seeds)."
    elif ok and all(p["ci_low"] >= -tolerance for p in paired):
        text += f"; the lower ends of the paired 95 % intervals are also above −{pct}."
    elif ok:
        text += (f"; but a paired 95 % interval reaches below −{pct}, so these seeds cannot rule a larger shortfall "
                 "out.")
    elif any(p["ci_high"] < -tolerance for p in paired):
        text += (f"; a paired 95 % interval lies wholly below −{pct}, so the shortfall is beyond the seed-to-seed "
                 "noise.")
    else:
        text += (f"; the paired 95 % intervals also reach above −{pct}, so with these seeds the shortfall is not "
                 "distinguishable from seed-to-seed noise either.")
    if not complete:
        text += " (partial: not every seed has finished)"
    return text


def write_online_results(out: Path, results: Path, budgets: Mapping[str, Mapping[str, Any]], seeds: int,
                         tolerance: float, wall: float) -> dict[str, Any]:
    """Rewrite results.csv, summary.json and table.md in ``results`` from every finished run under ``out``.

    :param out: the experiment's work folder (``<out>/<arm>/seed<s>/metrics.json``).
    :param results: the folder of the small result files.
    :param budgets: per arm what its results depend on (recorded in summary.json): both need ``env``, ``steps``,
        ``batch_size``, ``clip_length``, ``num_keypoints``, ``eval_episodes`` and ``eval_frames``; ``pretrained``
        also ``frames``, ``online`` also ``updates_per_round``, ``update_every`` and ``buffer_size``.
    :param seeds: seeds ``0 .. seeds − 1``.
    :param tolerance: the allowed relative shortfall of the online encoder on DOP and TOP, e.g. 0.10.
    :param wall: seconds of this invocation so far.
    :return: ``summary``, ``relative``, ``verdict``, ``table``, ``rows``, ``complete`` and ``checks``.
    """
    pre, onl = budgets["pretrained"], budgets["online"]
    env = pre["env"]
    scene = env.split("/")[1].removesuffix("-v0")
    res = Path(results)
    res.mkdir(parents=True, exist_ok=True)
    done = finished_runs(out, seeds)
    rows = [{"arm": arm, "env": env, "seed": seed, "metric": metric, "value": seed_value(result, metric),
             "n_episodes": len(result["episodes"])}
            for (arm, seed), result in sorted(done.items()) for metric in result["metric_names"]]
    write_rows(res / "results.csv", rows, ["arm", "env", "seed", "metric", "value", "n_episodes"])

    summary = {}
    for arm in ARMS:
        per_seed = {seed: r["episodes"] for (a, seed), r in done.items() if a == arm}
        if per_seed:
            summary[arm] = summarize(per_seed)
    rel = relative_differences(done, summary, seeds, tolerance)
    complete = len(done) == len(ARMS) * seeds
    text = verdict(rel, tolerance, complete)
    runs = {f"{arm}/seed{seed}": r["run"] for (arm, seed), r in sorted(done.items())}
    pairs = [s for s in range(seeds) if ("online", s) in done and ("pretrained", s) in done]
    checks = {"seeds_with_both_arms": pairs,
              "same_initial_weights": all(done[("online", s)]["run"]["init_checksum"]
                                          == done[("pretrained", s)]["run"]["init_checksum"] for s in pairs),
              "same_frame_stream": all(done[("online", s)]["run"]["same_frames_as_pretrained"] for s in pairs),
              "optimizer_steps": sorted({r["run"]["optimizer_steps"] for r in done.values()})}
    write_json(res / "summary.json", {
        "question": f"does MintKeypointWrapper(online=True) reach DOP/TOP within {100 * tolerance:.0f} % of a "
                    "pretrained encoder with the same number of optimiser steps?",
        "budget": budgets, "held_out_env_seeds": [HELD_OUT_SEED, HELD_OUT_SEED + pre["eval_episodes"] - 1],
        "mean_object_area": mean_area(scene),
        "aggregation": "episode metrics → mean per seed → mean ± 95% Student-t half-width over n seeds",
        "relative_difference": "online / pretrained − 1 (of the means over seeds; and per seed, paired)",
        "wall_seconds_this_invocation": wall,
        "seconds_in_finished_runs": sum(r["run"].get("collect_seconds", 0.0) + r["run"]["train_seconds"]
                                        + r["run"]["eval_seconds"] for r in done.values()),
        "complete": complete, "checks": checks, "runs": runs, "summary": summary,
        "relative_difference_online_vs_pretrained": rel, "verdict": text})

    note = (f"{env}; both arms: {pre['steps']} Adam steps × {pre['batch_size']} clips of {pre['clip_length']} "
            f"frames, K = {pre['num_keypoints']}, same initial weights per seed; pretrained: {pre['frames']} "
            "random-policy frames; "
            f"online: a round of {onl['updates_per_round']} steps every {onl['update_every']} env steps, buffer "
            f"{onl['buffer_size']} frames; held-out: {pre['eval_episodes']} episodes × {pre['eval_frames']} frames "
            f"(env seeds {HELD_OUT_SEED}+). Mean ± 95 % t-interval half-width over n seeds. Checks over the "
            f"{len(pairs)} seed(s) with both arms: same initial weights {checks['same_initial_weights']}, "
            f"same frame stream (the first {pre['frames']} frames) {checks['same_frame_stream']}, optimiser steps "
            f"{checks['optimizer_steps']}.")
    lines = ["| arm | n | " + " | ".join(c[1] for c in COLUMNS) + " | train s |",
             "|---|---|" + "---|" * (len(COLUMNS) + 1)]
    for arm in ARMS:
        if arm in summary:
            n = int(max(s["n"] for s in summary[arm].values()))
            secs = [r["run"]["train_seconds"] for (a, _), r in done.items() if a == arm]
            cells = [format_cell(summary[arm].get(key), fmt) for key, _, fmt in COLUMNS]
            lines.append(f"| {arm} | {n} | " + " | ".join(cells) + f" | {np.mean(secs):.0f} |")
    table = [note, "\n".join(lines)]
    if rel:
        header = ("| metric | online / pretrained − 1 (of means) | paired per seed, mean ± 95 % CI | per seed | "
                  f"within {100 * tolerance:.0f} %? |")
        rl = [header, "|---|---|---|---|---|"]
        for metric in RELATIVE_METRICS:
            r = rel[metric]
            paired = r["paired"]
            cell = (format_cell({k: 100 * paired[k] for k in ("mean", "half_width")}, "{:+.1f}") + " %"
                    if paired else "–")
            per_seed = ", ".join(f"{100 * v:+.1f}" for v in r["per_seed"])
            if metric in HIGHER_IS_BETTER:
                ok = {True: "yes", False: "no", None: "undefined"}[r["within_tolerance"]]
                strict = {True: "yes", False: "no", None: "n/a"}[r["ci_low_within_tolerance"]]
                within = f"{ok} (CI low end: {strict})"
            else:
                within = "(lower is better; not part of the criterion)"
            of_means = f"{100 * r['of_means']:+.1f} %" if math.isfinite(r["of_means"]) else "–"
            rl.append(f"| {metric} | {of_means} | {cell} | {per_seed or '–'} | {within} |")
        table += ["Relative difference online vs pretrained (> 0: online higher):", "\n".join(rl)]
    table.append("Verdict: " + text)
    table_text = "\n\n".join(table)
    (res / "table.md").write_text(table_text + "\n")
    return {"summary": summary, "relative": rel, "verdict": text, "table": table_text, "rows": rows,
            "complete": complete, "checks": checks}

