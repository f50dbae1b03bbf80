"""Table of the merged-codes probe (eighteenth session) against the default on the same encoder and seeds.

    python results/ladder/merged_codes/tabulate.py runs results/ppo/catch_s17/evaluations.csv results/ladder/merged_codes

Reads ``RUNS/{merged,equal}_codes/seed<S>/evaluations.csv`` (finished runs only: 16 evaluations), copies them to
``OUT/<mode>_seed<S>.csv`` and writes ``OUT/table.md``: per seed the return at 33k, the final return and the env steps
to 5.26 and 5.52 (trailing 3-evaluation mean, ``agents.report.steps_to_threshold``), for the default (its rows in the
main job's ``evaluations.csv``) and each mode, on the seeds every mode finished, then each mode on every seed it finished; means over the seeds
that reach.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import numpy as np

from agents.report import steps_to_threshold

MODES = {"merged": "good codes merged (oracle)", "equal": "`--equal-codes` (codes start equal)"}
LEVELS = (5.26, 5.52)


def curve(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    rows = sorted(rows, key=lambda r: int(r["step"]))
    return np.array([int(r["step"]) for r in rows]), np.array([float(r["mean_return"]) for r in rows])


def cells(curves: dict[int, tuple[np.ndarray, np.ndarray]], seeds: list[int]) -> list[str]:
    final = [curves[s][1][-1] for s in seeds]
    at33 = [curves[s][1][4] for s in seeds]  # the 5th evaluation, 33,280 env steps
    out = [" ".join(f"{v:.1f}" for v in at33), " ".join(f"{v:.1f}" for v in final) + f" (mean {np.mean(final):.2f})"]
    for level in LEVELS:
        reach = [steps_to_threshold(*curves[s], level) for s in seeds]
        hit = [r for r in reach if r == r]
        out.append(", ".join("never" if r != r else f"{r / 1000:.1f}k" for r in reach)
                   + f" ({len(hit)}/{len(seeds)}" + (f", mean {np.mean(hit) / 1000:.1f}k" if hit else "") + ")")
    return out


def main(runs: str, default_csv: str, out: str) -> None:
    out_dir = Path(out)
    done: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for mode in MODES:
        done[mode] = {}
        for path in sorted(Path(runs).glob(f"{mode}_codes/seed*/evaluations.csv")):
            rows = list(csv.DictReader(open(path)))
            if len(rows) >= 16:
                seed = int(rows[0]["seed"])
                done[mode][seed] = curve(rows)
                shutil.copy2(path, out_dir / f"{mode}_seed{seed}.csv")
    default_rows = [r for r in csv.DictReader(open(default_csv)) if r["agent"].startswith("mint")]
    default = {s: curve([r for r in default_rows if int(r["seed"]) == s]) for s in {int(r["seed"]) for r in default_rows}}
    seeds = sorted(set(default).intersection(*(set(d) for d in done.values())))
    lines = [f"Encoder s1, seeds {', '.join(map(str, seeds))} (in that order in every cell); return at 33k, final return, "
             "env steps to 5.26 and 5.52 (trailing 3-evaluation mean; mean over the seeds that reach).", "",
             "| keypoint agent | return at 33k | final return | reaches 5.26 | reaches 5.52 |", "|---|---|---|---|---|",
             "| codes not equal (the seventeenth session's default) | " + " | ".join(cells(default, seeds)) + " |"]
    lines += [f"| {name} | " + " | ".join(cells(done[mode], seeds)) + " |" for mode, name in MODES.items()]
    for mode, name in MODES.items():  # each mode against the default on every seed both finished (nineteenth session)
        own = sorted(set(default) & set(done[mode]))
        if own != seeds:
            lines += ["", f"{name} against codes not equal (then the default) on seeds {', '.join(map(str, own))}:", "",
                      "| keypoint agent | return at 33k | final return | reaches 5.26 | reaches 5.52 |", "|---|---|---|---|---|",
                      "| codes not equal (the seventeenth session's default) | " + " | ".join(cells(default, own)) + " |",
                      f"| {name} | " + " | ".join(cells(done[mode], own)) + " |"]
    (out_dir / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
