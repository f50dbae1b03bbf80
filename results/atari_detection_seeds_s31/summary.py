"""#16 item 2 (s31): one table of the per-object detection runs made with 3 pretraining seeds, and the sweeps.

Reads the committed ``results.csv`` files (written by ``experiments/atari_objects_detection.py`` through the
``run.sh`` scripts of ``results/atari_detection_pong_3seeds/``, ``results/atari_detection_seeds_s31/`` and
``results/atari_detection_sweep_s31/``) and prints, per game, object and (method, setting), the mean ± 95 % t
half-width over seeds of detection on the last frame's undilated box, on the boxes of both pooled frames, within
one pixel, and the linear read-out's error against the constant guess's, with UAK. Refined rows (-r5) only. A seed
of a setting scored in two folders (the sweeps retrain their base) is taken from the first source listed.
``python results/atari_detection_seeds_s31/summary.py > results/atari_detection_seeds_s31/summary.md``
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mint_rl.metrics import aggregate

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["atari_detection_pong_3seeds/results.csv", "atari_detection_pong_3seeds/mspacman/results.csv",
           *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("atari_detection_seeds_s31/*/results.csv")),
           *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("atari_detection_sweep_s31/*/results.csv"))]
NAMES = {"player": {"Pong": "player paddle", "Breakout": "paddle", "MsPacman": "Ms Pac-Man"},
         "enemy": {"Pong": "enemy paddle"}, "ghost": {"MsPacman": "ghosts"}}


def cell(values: list[str], digits: int = 1) -> str:
    numbers = [float(v) for v in values if v not in ("", None)]
    if len(numbers) < len(values) or not np.isfinite(numbers).all():
        return "–"
    stats = aggregate(numbers)
    hw = f" ± {stats['half_width']:.{digits}f}" if len(numbers) > 1 else ""
    return f"{stats['mean']:.{digits}f}{hw}"


def main() -> None:
    groups: dict[tuple, list[dict]] = {}
    for source in SOURCES:
        with (ROOT / source).open(newline="") as f:
            for r in csv.DictReader(f):
                if r["refine"] != "5" or r["category"] == "fruit":
                    continue
                group = groups.setdefault((r["game"], r["category"], r["method"], r["setting"]), [])
                if r["seed"] not in {g["seed"] for g in group}:  # a seed scored in two folders: the first source's
                    group.append({**r, "source": source})
    print("Refined in 5 px; mean ± 95 % t half-width over n pretraining seeds (one seed: no ±). Last box: detection "
          "on the object's undilated box in the last emulator frame; both frames: on its boxes in both frames the "
          "observation max-pools; read-out: linear read-out error in px (constant guess in brackets).\n")
    print("| game | object | method | setting | n | last box % | both frames % | ±1 px % | read-out px | UAK | source |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (game, category, method, setting), rows in sorted(groups.items()):
        name = NAMES.get(category, {}).get(game, category)
        col = lambda k: [r.get(k, "") for r in rows]  # noqa: E731
        print(f"| {game} | {name} | {method} | {setting} | {len(rows)} | {cell(col('detection'))} | "
              f"{cell(col('detection_pooled'))} | {cell(col('detection_1px'))} | {cell(col('probe_px'))} "
              f"({cell(col('probe_base_px'))}) | {cell(col('UAK'), 2)} | {rows[0]['source'].rsplit('/', 1)[0]} |")


if __name__ == "__main__":
    main()
