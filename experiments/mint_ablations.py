"""The paper's ablations of MINT, and each of our departures from the authors switched back, as one table.

    python experiments/mint_ablations.py                                   # every variant, 4 scene families, 4k steps
    python experiments/mint_ablations.py --variants full no_temporal --scenes Bouncing --steps 200   # a quick look
    python experiments/mint_ablations.py --list                            # the variants and what they set

Top to bottom:

1. The variants (:data:`VARIANTS`): the full method; the paper's ablations (without regularisers,
   w_O = w_S = m = 0; without temporal terms, w_MCE = w_IT = 0; the entropy window R ∈ {3, 5, 7};
   the transport target's κ ∈ {0, 0.5, 0.9, 1}); and each of our departures from the authors' code
   switched back to theirs, one at a time (MINT_METHOD §7): a fixed soft-argmax temperature instead
   of a learned one; their input scale with their τ = 15 and slope 1000 instead of [−1, 1] with τ
   calibrated on the first batch; their four loss quirks (wrap-around, attached status factor,
   averaging over the empty t = 0, |P| of one keypoint); their upsampled heatmap grid (1.4 × the
   input, as their 96 → 135; about 4× the cost of a step); and, between the two, a heatmap grid at the input
   size (64 × 64), which keeps the entropy window R at the input's pixel scale.
2. Each (variant, scene) is one run of ``experiments/evaluate_keypoints.py --encoders mint --mint
   FIELD=VALUE ...`` (run as a command, one per variant) with the same frames, held-out episodes, seed and budget, in its own folder
   ``<out>/<variant>/`` (resumable: a finished run is skipped, an interrupted one resumes).
3. The table (``ablations.md``, ``ablations.csv``, ``ablations.json`` in ``--out`` and ``--export``):
   DOP / TOP per scene family and variant, and the change against the full method.

Budget: 4,000 optimiser steps by default, not the authors' ~8k: on these scenes MINT's DOP at 4k is
within 2 points of 8k on every family and its TOP within 3 (``results/keypoints/convergence/curve.md``), and a
step costs 0.1–0.17 s on one CPU core (the upsampled grid about 0.63 s, the input-size grid more than the
default), so the 52 runs take 10–16 hours. One seed, as the issue asks.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agents.keypoint_quality_report import run_folder
from envs.keypoint_evaluation import SCENES
from mint_rl.config import MintConfig

EVALUATE = Path(__file__).resolve().parent / "evaluate_keypoints.py"

VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "full": ({}, "the full method (our defaults)"),
    "no_regularisers": (dict(w_overlap=0, w_status=0, movement_weight=0), "w_O = w_S = m = 0"),
    "no_temporal": (dict(w_mce=0, w_it=0), "w_MCE = w_IT = 0"),
    "R5": (dict(entropy_window=5), "entropy window R = 5 (default 3)"),
    "R7": (dict(entropy_window=7), "entropy window R = 7"),
    "kappa0": (dict(kappa=0.0), "κ = 0 (default 0.9)"),
    "kappa0.5": (dict(kappa=0.5), "κ = 0.5"),
    "kappa1": (dict(kappa=1.0), "κ = 1"),
    "fixed_temperature": (dict(learn_temperature=False), "soft-argmax temperature fixed at 0.1, not learned"),
    "authors_scale_tau": (dict(authors_input_scale=True, status_threshold=15.0, status_slope=1000.0),
                          "their input scale (x − 0.5)/0.5 on 0–255, τ = 15, slope 1000"),
    "authors_quirks": (dict(wrap_around=True, attach_status_factor=True, average_all_t=True, authors_patch_area=True),
                       "their four loss quirks (MINT_METHOD §7)"),
    "upsampled_grid": (dict(grid_size=[90, 90]), "their upsampled heatmap grid, 1.4 × the 64 px input"),
    "input_grid": (dict(grid_size=[64, 64]), "a heatmap grid at the input size, 64 × 64 (default: half, 32 × 32)"),
}
"""Variant name → (``--mint`` overrides of ``MintConfig``, what it is)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="VARIANT",
                   help=f"which variants (default all: {', '.join(VARIANTS)})")
    p.add_argument("--scenes", nargs="+", default=list(SCENES), metavar="SCENE",
                   help=f"scene families (default all of {', '.join(SCENES)})")
    p.add_argument("--steps", type=int, default=4000, help="optimiser steps per run (default %(default)s)")
    p.add_argument("--frames", type=int, default=6000, help="training frames per scene (default %(default)s)")
    p.add_argument("--eval-episodes", type=int, default=8, help="held-out episodes per scene (default %(default)s)")
    p.add_argument("--eval-frames", type=int, default=200, help="frames per held-out episode (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", default="runs/mint_ablations", help="output folder, one subfolder per variant")
    p.add_argument("--export", default=None, help="also copy the table files here")
    p.add_argument("--report-only", action="store_true", help="train nothing; table the finished runs")
    p.add_argument("--previous", default=None, metavar="ABLATIONS_JSON",
                   help="an earlier table's ablations.json (e.g. results/keypoints/ablations/ablations.json): its rows "
                        "fill the (variant, scene) cells that have no run in --out, which are then not trained again, "
                        "when its budget and the "
                        "variant's MINT fields are this table's (for runs whose folders are gone); the csv's "
                        "'source' column says which rows came from it")
    p.add_argument("--list", action="store_true", help="print the variants and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    bad = [s for s in args.scenes if s not in SCENES]
    if bad:
        p.error(f"unknown scene(s) {bad}; choose from {list(SCENES)}")
    for name in ("steps", "frames", "eval_episodes", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.eval_frames < 2:
        p.error(f"--eval-frames must be >= 2, got {args.eval_frames}")
    for variant in args.variants:  # every variant's overrides checked before the first run trains
        try:
            MintConfig(num_keypoints=10, image_size=(64, 64), feature_dim=0).replace(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in VARIANTS[variant][0].items()})
        except ValueError as exc:
            p.error(f"variant {variant}: {exc}")
    return args


def evaluate_argv(args: argparse.Namespace, variant: str, scenes: list[str]) -> list[str]:
    """The ``experiments/evaluate_keypoints.py`` command line of one variant."""
    overrides = [f"{k}={json.dumps(v)}" for k, v in VARIANTS[variant][0].items()]
    return (["--encoders", "mint", "--seeds", "1", "--scenes", *scenes, "--steps", str(args.steps),
             "--frames", str(args.frames), "--eval-episodes", str(args.eval_episodes),
             "--eval-frames", str(args.eval_frames), "--video-frames", "0", "--threads", str(args.threads),
             "--device", args.device, "--out", str(Path(args.out) / variant)]
            + (["--mint", *overrides] if overrides else []) + (["--no-progress"] if args.no_progress else []))


def budget_of(args: argparse.Namespace) -> dict[str, int]:
    """The budget every row of one table shares."""
    return dict(steps=args.steps, frames=args.frames, eval_episodes=args.eval_episodes, eval_frames=args.eval_frames)


def previous_rows(args: argparse.Namespace) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows of ``--previous`` (an earlier ``ablations.json``) by (variant, scene), checked against this table.

    :raises SystemExit: naming the file and the difference, if its budget or a variant's MINT fields differ.
    """
    if args.previous is None:
        return {}
    path = Path(args.previous)
    try:
        data = json.loads(path.read_text())
        made = {k: data[k] for k in budget_of(args)}
        variants, rows = data["variants"], data["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--previous {path}: not an ablations.json written by this script ({exc})")
    if made != budget_of(args):
        raise SystemExit(f"--previous {path} was made with {made}; this table asks for {budget_of(args)}: give the "
                         "same --steps/--frames/--eval-episodes/--eval-frames or drop --previous")
    kept = {}
    for row in rows:
        variant = row["variant"]
        if variant not in args.variants or row["scene"] not in args.scenes:
            continue
        if variants.get(variant, {}).get("overrides") != VARIANTS[variant][0]:
            raise SystemExit(f"--previous {path}: variant {variant} there set {variants.get(variant, {}).get('overrides')}"
                             f", here {VARIANTS[variant][0]}; drop --previous")
        kept[(variant, row["scene"])] = dict(row, source=str(path))
    return kept


def collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per finished (variant, scene): DOP, TOP and the rest of its held-out metrics; cells without a
    finished run in ``--out`` from ``--previous`` where it has them."""
    earlier = previous_rows(args)
    rows = []
    for variant in args.variants:
        for scene in args.scenes:
            path = run_folder(Path(args.out) / variant, "mint", scene, 0) / "metrics.json"
            if not path.is_file():
                if (variant, scene) in earlier:
                    rows.append(earlier[(variant, scene)])
                continue
            data = json.loads(path.read_text())
            budget = data["budget"]
            asked = budget_of(args)
            made = {k: budget.get(k) for k in asked}
            if made != asked or budget.get("mint", {}) != VARIANTS[variant][0]:
                raise SystemExit(f"{path} was made with {made} and MINT fields {budget.get('mint', {})}; this table "
                                 f"asks for {asked} and {VARIANTS[variant][0]}; use another --out")
            means = {k: float(np.nanmean([e[k] for e in data["episodes"]])) for k in ("DOP", "TOP", "UAK")}
            rows.append(dict(variant=variant, scene=scene, **means, train_seconds=data["train_seconds"],
                             source=str(path.parent)))
    return rows


def write_table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    """``ablations.md`` / ``.csv`` / ``.json``: DOP / TOP per scene and variant, and the change against full."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cell = {(r["variant"], r["scene"]): r for r in rows}
    scenes = [s for s in args.scenes if any(r["scene"] == s for r in rows)]
    lines = [f"MINT ablations: DOP / TOP % on the held-out episodes, one seed, {args.steps} optimiser steps, "
             f"K = 10 (`python experiments/mint_ablations.py --steps {args.steps}`); in brackets the change "
             "against the full method\n",
             "| variant | what | " + " | ".join(scenes) + " |", "|---|---|" + "---|" * len(scenes)]
    for variant in args.variants:
        cells = []
        for scene in scenes:
            r, full = cell.get((variant, scene)), cell.get(("full", scene))
            if r is None:
                cells.append("(not run yet)")
                continue
            text = f"{r['DOP']:.1f} / {r['TOP']:.1f}"
            if full is not None and variant != "full":
                text += f" ({r['DOP'] - full['DOP']:+.1f} / {r['TOP'] - full['TOP']:+.1f})"
            cells.append(text)
        lines.append(f"| {variant} | {VARIANTS[variant][1]} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    (out / "ablations.md").write_text(table)
    with (out / "ablations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["variant", "scene", "DOP", "TOP", "UAK", "train_seconds", "source"])
        writer.writeheader()
        writer.writerows(rows)
    (out / "ablations.json").write_text(json.dumps(dict(
        steps=args.steps, frames=args.frames, eval_episodes=args.eval_episodes, eval_frames=args.eval_frames,
        variants={v: dict(overrides=VARIANTS[v][0], what=VARIANTS[v][1]) for v in args.variants}, rows=rows),
        indent=2))
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for name in ("ablations.md", "ablations.csv", "ablations.json"):
            shutil.copy2(out / name, export / name)
    return table


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    if args.list:
        for name, (overrides, what) in VARIANTS.items():
            print(f"{name:18s} {what}  {overrides or ''}")
        return ""
    if not args.report_only:
        tabled = previous_rows(args)  # cells an earlier table has are not trained again
        for variant in args.variants:  # each variant resumes in its own folder; the table is rewritten after each
            scenes = [s for s in args.scenes if (variant, s) not in tabled
                      or (run_folder(Path(args.out) / variant, "mint", s, 0)).exists()]
            if scenes:
                done = subprocess.run([sys.executable, str(EVALUATE), *evaluate_argv(args, variant, scenes)])
                if done.returncode != 0:
                    raise SystemExit(f"variant {variant}: evaluate_keypoints.py exited with {done.returncode}")
                write_table(args, collect(args))
    table = write_table(args, collect(args))
    print(table)
    return table


if __name__ == "__main__":
    main()
