"""One table of the four families at 4k steps (issue #14 item 2): MINT (input-size grid) against the Transporter.

    python results/keypoints/kq4k_s26/combine.py > results/keypoints/kq4k_s26/combined.md

Reads each family's ``results.csv`` (exported by ``evaluate_keypoints.py``: one row per encoder, scene, seed and
metric, the metric already averaged over the held-out episodes) and prints mean ± 95 % t-interval over the seeds
(``mint_rl.metrics.aggregate``), the paired difference MINT − Transporter over the seeds both have, and its value
per seed.
"""
import csv
from collections import defaultdict
from pathlib import Path

from mint_rl.metrics import aggregate

HERE = Path(__file__).resolve().parent
FAMILIES = ("Bouncing", "Collisions", "EnterLeave", "Cluttered")


def fmt(values: list[float], digits: int = 1, sign: bool = False) -> str:
    a = aggregate(values)
    mean = f"{a['mean']:+.{digits}f}" if sign else f"{a['mean']:.{digits}f}"
    return mean if a["n"] < 2 else f"{mean} ± {a['half_width']:.{digits}f}"


print("| family | seeds (paired) | MINT DOP / TOP % | Transporter DOP / TOP % | ΔDOP (MINT − Transporter) | ΔTOP | "
      "ΔUAK | ΔDOP per seed |")
print("|---|---|---|---|---|---|---|---|")
for family in FAMILIES:
    path = HERE / family / "results.csv"
    if not path.exists():
        print(f"| {family} | not run | | | | | | |")
        continue
    value: dict[tuple[str, int, str], float] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            value[(row["encoder"], int(row["seed"]), row["metric"])] = float(row["value"])
    seeds = defaultdict(set)
    for encoder, seed, _ in value:
        seeds[encoder].add(seed)
    paired = sorted(seeds["mint"] & seeds["transporter"])

    def column(encoder: str, metric: str) -> list[float]:
        return [value[(encoder, s, metric)] for s in sorted(seeds[encoder])]

    def diff(metric: str) -> list[float]:
        return [value[("mint", s, metric)] - value[("transporter", s, metric)] for s in paired]

    per_seed = ", ".join(f"{d:+.1f}" for d in diff("DOP"))
    print(f"| {family} | {len(seeds['mint'])} / {len(seeds['transporter'])} ({len(paired)}) | "
          f"{fmt(column('mint', 'DOP'))} / {fmt(column('mint', 'TOP'))} | "
          f"{fmt(column('transporter', 'DOP'))} / {fmt(column('transporter', 'TOP'))} | "
          f"{fmt(diff('DOP'), sign=True)} | {fmt(diff('TOP'), sign=True)} | {fmt(diff('UAK'), 2, sign=True)} | "
          f"{per_seed} |")
