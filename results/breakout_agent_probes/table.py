"""The Breakout probes (#16 follow-up, thirty-seventh and thirty-eighth sessions): each variant's held-out return at
equal env steps (mean ± 95 % t-interval over its seeds, IQM with rliable's stratified-bootstrap interval), per seed
the final return and the MINT keypoint agent against the pixel agent at equal training time, the paired difference
at the final evaluation, and the curves (probe_curves.png). Copies every run's evaluations.csv into partial/ first
(when the run folders exist), so it also works after they are gone and on runs still going.

    bash results/breakout_agent_probes/run.sh VARIANT [--seeds 3]      # the runs (resumable)
    python results/breakout_agent_probes/table.py > results/breakout_agent_probes/table.md
"""
import csv
import glob
import os
import shutil

import numpy as np
from matplotlib.figure import Figure

from agents.aggregates import AGGREGATES, stratified_bootstrap
from agents.report import plot_mean_band, return_at_seconds
from mint_rl.metrics import aggregate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PARTIAL = os.path.join(HERE, "partial")
VARIANTS = {  # run.sh variant → (label in the run folder, row name, colour)
    "pixels": ("pixels", "pixels (NatureCNN, zoo settings)", "tab:blue"),
    "mint-map-nf-lr1e-3": ("mint-map-rf5s15-nf-lr0.001", "MINT keypoints, map + lr 1e-3 (shipped breakout encoder)",
                           "tab:red"),
    "objects-map-lr1e-3": ("objects-map-lr0.001", "RAM objects (paddle, ball), map + lr 1e-3", "tab:green"),
}
KEYPOINTS, PIXELS = "mint-map-nf-lr1e-3", "pixels"
ROLLOUT = 8 * 128
STEPS = (199_680, 399_360, 600_064)  # the 5th and 10th evaluations (39,936 steps apart) and the final one
RANDOM_FILE = os.path.join(ROOT, "runs", "breakout_probe_pixels", "ALE_Breakout-v5", "random.json")


def refresh() -> None:
    """Copy the run folders' evaluations into partial/ (the copies outlive the run folders)."""
    os.makedirs(PARTIAL, exist_ok=True)
    for variant, (label, _, _) in VARIANTS.items():
        pattern = os.path.join(ROOT, "runs", f"breakout_probe_{variant}", "ALE_Breakout-v5", label, "seed*",
                               "evaluations.csv")
        for path in glob.glob(pattern):
            seed = os.path.basename(os.path.dirname(path))
            shutil.copyfile(path, os.path.join(PARTIAL, f"{variant}-{seed}-evaluations.csv"))


def read(variant: str) -> dict[int, dict[str, np.ndarray]]:
    runs = {}
    for path in sorted(glob.glob(os.path.join(PARTIAL, f"{variant}-seed*-evaluations.csv"))):
        seed = int(os.path.basename(path)[len(variant) + len("-seed"):-len("-evaluations.csv")])
        with open(path) as f:
            rows = list(csv.DictReader(f))
        runs[seed] = {k: np.array([float(r[k]) for r in rows]) for k in ("step", "mean_return", "train_seconds")}
    return runs


def at_step(run: dict[str, np.ndarray], step: int) -> float:
    hit = np.abs(run["step"] - step) < ROLLOUT
    return float(run["mean_return"][hit][0]) if hit.any() else float("nan")


def cell(values: list[float]) -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "—"
    t = aggregate(v)
    if len(v) == 1:
        return f"{t['mean']:.1f} (n=1)"
    iqm = stratified_bootstrap([np.array(v)], AGGREGATES["iqm"])
    return (f"{t['mean']:.1f} ± {t['half_width']:.1f} (n={len(v)}; IQM {iqm['estimate']:.1f} "
            f"[{iqm['ci_low']:.1f}, {iqm['ci_high']:.1f}])")


refresh()
runs = {v: read(v) for v in VARIANTS}
print("ALE/Breakout-v5, held-out evaluation (5 games, sampled actions) at env steps: mean ± 95 % t-interval "
      "half-width over the seeds that got there (n); with n ≥ 2 the IQM and its 95 % stratified-bootstrap interval "
      "(rliable, 2,000 resamples).\n")
print("| agent | seeds | " + " | ".join(f"{s / 1e3:.0f}k" for s in STEPS) + " |")
print("|---|---|" + "---|" * len(STEPS))
for v, (_, name, _) in VARIANTS.items():
    if runs[v]:
        per_seed = {s: [at_step(r, step) for step in STEPS] for s, r in sorted(runs[v].items())}
        print(f"| {name} | {', '.join(map(str, per_seed))} | "
              + " | ".join(cell([x[i] for x in per_seed.values()]) for i in range(len(STEPS))) + " |")
if os.path.exists(RANDOM_FILE):
    import json
    with open(RANDOM_FILE) as f:
        rnd = json.load(f)
    print(f"\nRandom policy (the pixel runs' held-out games): {json.dumps(rnd)}")

print("\nPer seed: final return, and the keypoint agent against the pixel agent at equal training time (both read at "
      "the keypoint run's training seconds at its last evaluation; nan: the pixel run has not trained so long).\n")
print("| seed | " + " | ".join(f"{v} final" for v in VARIANTS if runs[v]) + " | seconds | keypoints then | pixels then |")
print("|---|" + "---|" * (sum(1 for v in VARIANTS if runs[v]) + 3))
diffs = []
for seed in sorted(set().union(*(r.keys() for r in runs.values()))):
    finals = [f"{at_step(runs[v][seed], STEPS[-1]):.1f}" if seed in runs[v] else "—" for v in VARIANTS if runs[v]]
    kp, px = runs[KEYPOINTS].get(seed), runs[PIXELS].get(seed)
    if kp is None or px is None:
        print(f"| {seed} | " + " | ".join(finals) + " | — | — | — |")
        continue
    t = kp["train_seconds"][-1]
    px_then = (return_at_seconds(px["train_seconds"], px["mean_return"], t)
               if px["step"][-1] >= STEPS[-1] - ROLLOUT or px["train_seconds"][-1] >= t else float("nan"))
    print(f"| {seed} | " + " | ".join(finals) + f" | {t:.0f} (step {kp['step'][-1]:.0f}) | "
          f"{kp['mean_return'][-1]:.1f} | {px_then:.1f} |")
    d = at_step(kp, STEPS[-1]) - at_step(px, STEPS[-1])
    if np.isfinite(d):
        diffs.append(d)
if len(diffs) > 1:
    t = aggregate(diffs)
    print(f"\nPaired final difference (keypoints − pixels) over {len(diffs)} seeds: {t['mean']:+.1f} ± "
          f"{t['half_width']:.1f} ({', '.join(f'{d:+.1f}' for d in diffs)})")

fig = Figure(figsize=(12, 5.2), dpi=110, layout="constrained")
by_steps, by_time = fig.subplots(1, 2, sharey=True)
for v, (_, name, colour) in VARIANTS.items():
    if not runs[v]:
        continue
    plot_mean_band(by_steps, {s: dict(zip((np.round(r["step"] / ROLLOUT) * ROLLOUT).tolist(), r["mean_return"].tolist()))
                              for s, r in runs[v].items()}, name, color=colour)
    for i, (seed, r) in enumerate(sorted(runs[v].items())):
        by_time.plot(r["train_seconds"], r["mean_return"], color=colour, lw=1,
                     label=f"{name}, seed{'s' * (len(runs[v]) > 1)} {', '.join(map(str, sorted(runs[v])))}"
                     if i == 0 else None)
by_steps.set_xlabel("env steps")
by_steps.set_ylabel("mean return, 5 held-out games (sampled actions)")
by_steps.set_title("ALE/Breakout-v5: mean over the seeds (95 % t-band where n ≥ 2)")
by_time.set_xlabel("training seconds (two runs at a time on 2 CPU cores, one torch thread each)")
by_time.set_title("every seed against training time")
fig.legend(*by_time.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
fig.savefig(os.path.join(HERE, "probe_curves.png"), format="png")
