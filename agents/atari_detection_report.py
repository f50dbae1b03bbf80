"""Results of ``experiments/atari_objects_detection.py``: which Atari objects keypoints find, per category.

Each scored (game, method, setting, seed) adds one row per object category to the experiment's rows
(:data:`COLUMNS`: the setting, the category's detection rate on the undilated boxes, on boxes grown by one
pixel and on the boxes of both emulator frames the observation max-pools, DOP and TOP, the linear read-out's error in pixels and the constant guess's, the frame's UAK and active
keypoints, the training seconds; as :meth:`envs.atari_detection.Detection.rows` and
:func:`envs.atari_detection.readout_by_category` give them). Rows written before a column existed (``refine``, ``snap``,
``detection_1px``, ``detection_pooled``, ``probe_px``, ``probe_base_px``) read back with it empty: no refinement, and "–" in the table. From
those rows :func:`write_atari_detection_results` (re)writes into ``out``::

    results.csv   every row (:data:`COLUMNS`), read back by :func:`read_results` when the command runs again
    table.md      per game, category, method and setting the mean ± 95 % t half-width over seeds
                  (:func:`markdown_table`, :func:`mint_rl.metrics.aggregate`)

Example::

    rows = read_results(out / "results.csv")
    table = write_atari_detection_results(out, rows, budget)
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.report import write_rows
from mint_rl.metrics import aggregate
from mint_rl.utils import atomic_write_text

__all__ = ["COLUMNS", "markdown_table", "read_results", "write_atari_detection_results"]

COLUMNS = ["game", "method", "setting", "k", "grid", "steps", "w_mce", "refine", "snap", "seed", "category", "detection",
           "detection_1px", "detection_pooled", "DOP", "TOP", "probe_px", "probe_base_px", "objects", "UAK", "active", "frames", "train_seconds"]
"""The columns of ``results.csv``: one row per game, method, setting, seed and object category."""


def read_results(path: Path) -> list[dict[str, str]]:
    """The rows of a ``results.csv`` written by :func:`write_atari_detection_results` (strings); none if there is
    no such file yet."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def markdown_table(rows: Sequence[Mapping[str, Any]], budget: Mapping[str, Any]) -> str:
    """Per game, category, method and setting (in run order) the mean ± 95 % t half-width over seeds of the
    detection rate (undilated boxes, boxes grown by one pixel, the boxes of both pooled frames), DOP, TOP, the read-out's and the constant
    guess's error in pixels, UAK and active keypoints, under a note of the budget (``eval_frames``, ``frames``,
    ``image_size``)."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["game"], r["category"], r["method"], r["setting"]), []).append(r)

    def cell(values: list[str], fmt: str) -> str:
        if any(v in ("", None) for v in values):  # a column the row was written without
            return "–"
        stats = aggregate([float(v) for v in values])
        if not np.isfinite(stats["mean"]):
            return "–"
        return fmt.format(stats["mean"]) + (f" ± {fmt.format(stats['half_width'])}"
                                            if np.isfinite(stats["half_width"]) else "")

    lines = [f"Held-out: {budget['eval_frames']} random-policy frames per game (env seeds 10000+); pretraining "
             f"here: {budget['frames']} frames, {budget['image_size']}² RGB. Detection: % of (frame, visible object) "
             "with an active keypoint inside its undilated box; ±1 px: inside the box grown by one pixel on every "
             "side (a side measure for objects of a pixel or two); both frames: inside the object's boxes in either of the "
             "two emulator frames the observation max-pools (a fast ball is drawn twice; its last-frame box holds the "
             "later image only). A setting ending -rW has its keypoints refined "
             "in a W × W window (mint_rl.refine); -rWsS: keypoints on the background first snap to the nearest "
             "non-background pixel of an S × S window. Read-out px: mean error, in pixels, of each object's centre read from the "
             "frame's keypoints by a linear map fitted on the other held-out videos (mint_rl.readout); constant px: "
             "the same for the other videos' mean centre. UAK: active keypoints on no box per frame. Mean ± "
             "95 % t half-width over n seeds.", "",
             "| game | category | method | setting | n | detection % ↑ | ±1 px % ↑ | both frames % ↑ | DOP % ↑ | TOP % ↑ | "
             "read-out px ↓ | constant px | UAK ↓ | active |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (game, category, method, setting), group in sorted(groups.items(), key=lambda item: item[0][:3]):
        cells = [cell([r.get(m, "") for r in group], "{:.1f}") for m in ("detection", "detection_1px", "detection_pooled",
                                                                          "DOP", "TOP", "probe_px", "probe_base_px")]
        cells += [cell([r[m] for r in group], "{:.2f}") for m in ("UAK", "active")]
        lines.append(f"| {game} | {category} | {method} | {setting} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_atari_detection_results(out: Path, rows: Sequence[Mapping[str, Any]], budget: Mapping[str, Any]) -> str:
    """Rewrite ``<out>/results.csv`` (:data:`COLUMNS`) and ``<out>/table.md`` (:func:`markdown_table`) from every
    row, each atomically; returns the table."""
    write_rows(out / "results.csv", rows, COLUMNS)
    table = markdown_table(rows, budget)
    atomic_write_text(out / "table.md", table + "\n")
    return table
