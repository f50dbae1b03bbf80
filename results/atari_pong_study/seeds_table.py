"""The Pong study over seeds (#16): each agent's held-out evaluation at equal env steps (mean ± 95 % t-interval over
seeds, and the interquartile mean with rliable's stratified-bootstrap 95 % interval, agents.aggregates) and, per
seed, the keypoint agent against the pixel agent at equal training time; and the curves behind them, seeds_curves.png
(left: mean over seeds with the 95 % t-band against env steps, agents.report.plot_mean_band; right: every seed
against training seconds, seed 0 of the map agent only up to its resume under other conditions). Reads the copies of every run's
evaluations.csv in partial/ (progress.py refreshes them), so it works after the run folders are gone; a run that has
not reached a step yet is left out of that step's cell (n counts the seeds in it).

    python results/atari_pong_study/progress.py > results/atari_pong_study/progress.out
    python results/atari_pong_study/seeds_table.py > results/atari_pong_study/seeds_table.md
"""
import csv
import glob
import os

import numpy as np
from matplotlib.figure import Figure

from agents.aggregates import AGGREGATES, stratified_bootstrap
from agents.report import plot_mean_band, return_at_seconds
from mint_rl.metrics import aggregate

HERE = os.path.dirname(os.path.abspath(__file__))
PARTIAL = os.path.join(HERE, "partial")
RANDOM = -20.2  # the random policy's mean return over the held-out games (map/summary.json, "random_return")
COLOURS = {"pixels": "tab:blue", "mint-map-rf5s15-nf-lr0.001": "tab:red", "mint-rf5s15-nf": "tab:orange",
           "objects-ff6-lr0.001": "tab:green"}
ROLLOUT = 8 * 128  # env steps per PPO rollout (8 envs × 128 steps); evaluations come on rollout ends
STEPS = (532_480, 1_064_960, 1_597_440, 2_000_896)  # every 4th evaluation (133,120 steps apart) and the final one
AGENTS = {  # label in the run folders → row name
    "pixels": "pixels (NatureCNN, zoo settings)",
    "mint-map-rf5s15-nf-lr0.001": "MINT keypoints, map + lr 1e-3 (run_map.sh)",
    "mint-rf5s15-nf": "MINT keypoints, flat (run.sh)",
    "objects-ff6-lr0.001": "RAM objects, flat + Fourier + lr 1e-3 (run_ff_lr.sh)",
}
KEYPOINTS, PIXELS = "mint-map-rf5s15-nf-lr0.001", "pixels"
# Training seconds are compared only where both runs trained under the same conditions (two runs at a time, one
# torch thread each): seed 0 of the map agent was resumed at 563,200 steps with two threads alone, so its seconds
# after that step are not comparable.
COMPARABLE_UNTIL = {(KEYPOINTS, 0): 563_200}


def read(label: str) -> dict[int, dict[str, np.ndarray]]:
    """seed → the run's evaluations (step, mean_return, train_seconds as arrays)."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(PARTIAL, f"{label}-seed*-evaluations.csv"))):
        seed = int(os.path.basename(path)[len(label) + len("-seed"):-len("-evaluations.csv")])
        with open(path) as f:
            rows = list(csv.DictReader(f))
        runs[seed] = {k: np.array([float(r[k]) for r in rows]) for k in ("step", "mean_return", "train_seconds")}
    return runs


def at_step(run: dict[str, np.ndarray], step: int) -> float:
    """The run's evaluation at ``step`` (within one rollout), nan where it has not got there."""
    hit = np.abs(run["step"] - step) < ROLLOUT
    return float(run["mean_return"][hit][0]) if hit.any() else float("nan")


def cell(values: list[float]) -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "—"
    t = aggregate(v)
    iqm = stratified_bootstrap([np.array(v)], AGGREGATES["iqm"])
    ci = f" ± {t['half_width']:.1f}" if len(v) > 1 else ""
    boot = f"; IQM {iqm['estimate']:.1f} [{iqm['ci_low']:.1f}, {iqm['ci_high']:.1f}]" if len(v) > 1 else ""
    return f"{t['mean']:.1f}{ci} (n={len(v)}{boot})"


runs = {label: read(label) for label in AGENTS}
print("Pong, held-out evaluation (5 games, sampled actions) at env steps: mean ± 95 % t-interval half-width over the "
      "seeds that got there (n); with n ≥ 2 also the IQM and its 95 % stratified-bootstrap interval (rliable, "
      "2,000 resamples).\n")
print("| agent | seeds | " + " | ".join(f"{s / 1e6:.2f}M" for s in STEPS) + " |")
print("|---|---|" + "---|" * len(STEPS))
for label, name in AGENTS.items():
    if runs[label]:
        per_seed = {s: [at_step(r, step) for step in STEPS] for s, r in sorted(runs[label].items())}
        print(f"| {name} | {', '.join(map(str, per_seed))} | "
              + " | ".join(cell([v[i] for v in per_seed.values()]) for i in range(len(STEPS))) + " |")

print("\nPer seed, final evaluation (2.00M) and the keypoint agent against the pixel agent at equal training time: "
      "both read at the keypoint run's training seconds at its last comparable evaluation (final, or the last one "
      "before a resume under other conditions); nan: that run has not trained so long yet.\n")
print("| seed | " + " | ".join(f"{label} final" for label in AGENTS if runs[label])
      + f" | seconds | {KEYPOINTS} then | {PIXELS} then |")
print("|---|" + "---|" * (sum(1 for label in AGENTS if runs[label]) + 3))
for seed in sorted(set().union(*(r.keys() for r in runs.values()))):
    finals = [f"{at_step(runs[label][seed], STEPS[-1]):.1f}" if seed in runs[label] else "—"
              for label in AGENTS if runs[label]]
    kp, px = runs[KEYPOINTS].get(seed), runs[PIXELS].get(seed)
    if kp is None or px is None:
        print(f"| {seed} | " + " | ".join(finals) + " | — | — | — |")
        continue
    ok = kp["step"] <= COMPARABLE_UNTIL.get((KEYPOINTS, seed), np.inf)
    t = kp["train_seconds"][ok][-1]
    px_finished = px["step"][-1] >= STEPS[-1] - ROLLOUT
    px_then = (return_at_seconds(px["train_seconds"], px["mean_return"], t)
               if px_finished or px["train_seconds"][-1] >= t else float("nan"))
    print(f"| {seed} | " + " | ".join(finals) + f" | {t:.0f} (step {kp['step'][ok][-1]:.0f}) | "
          f"{kp['mean_return'][ok][-1]:.1f} | {px_then:.1f} |")

fig = Figure(figsize=(12, 5.2), dpi=110, layout="constrained")
by_steps, by_time = fig.subplots(1, 2, sharey=True)
for label, name in AGENTS.items():
    if not runs[label]:
        continue
    # the seeds evaluate on the same rollout ends; rounding to the rollout lines up a step counted a few envs apart
    plot_mean_band(by_steps, {s: dict(zip((np.round(r["step"] / ROLLOUT) * ROLLOUT).tolist(), r["mean_return"].tolist()))
                              for s, r in runs[label].items()}, name, color=COLOURS[label])
    for i, (seed, r) in enumerate(sorted(runs[label].items())):
        keep = r["step"] <= COMPARABLE_UNTIL.get((label, seed), np.inf)
        by_time.plot(r["train_seconds"][keep], r["mean_return"][keep], color=COLOURS[label], lw=1,
                     label=f"{name}, seed{'s' * (len(runs[label]) > 1)} {', '.join(map(str, sorted(runs[label])))}" if i == 0 else None)
for ax in (by_steps, by_time):
    ax.axhline(RANDOM, color="grey", ls=":", label=f"random policy ({RANDOM})")
    ax.axhline(RANDOM + 5, color="black", ls="--", lw=0.8, label="random + 5 (the bar for the pixel agent)")
by_steps.set_xlabel("env steps")
by_steps.set_ylabel("mean return, 5 held-out games (sampled actions)")
by_steps.set_title("ALE/Pong-v5: mean over the seeds with the 95 % t-band")
by_time.set_xlabel("training seconds (two runs at a time on 2 CPU cores, one torch thread each)")
by_time.set_title("every seed against training time")
fig.legend(*by_time.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
fig.savefig(os.path.join(HERE, "seeds_curves.png"), format="png")
