"""Paired per-seed differences (first label minus second) of the final return and the return at 33k steps, from
two runs' evaluations.csv files (probe script of the twenty-first session; run from the project root).

    python results/ppo/relation_width/paired.py ENV_DIR LABEL_A LABEL_B
"""
import csv
import sys
from pathlib import Path

import numpy as np
from scipy import stats


def per_seed(env_dir: Path, label: str) -> dict[int, tuple[float, float]]:
    out = {}
    for path in sorted((env_dir / label).glob("seed*/evaluations.csv")):
        rows = [(int(r["step"]), float(r["mean_return"])) for r in csv.DictReader(open(path))]
        rows.sort()
        at33 = [r for s, r in rows if s <= 33_400][-1]
        out[int(path.parent.name[4:])] = (rows[-1][1], at33)
    return out


def main() -> None:
    env_dir, a, b = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    pa, pb = per_seed(env_dir, a), per_seed(env_dir, b)
    seeds = sorted(set(pa) & set(pb))
    for i, name in enumerate(("final", "at 33k")):
        d = np.array([pa[s][i] - pb[s][i] for s in seeds])
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        print(f"{name}: {a} - {b} over seeds {seeds[0]}-{seeds[-1]} ({len(d)}): {d.mean():+.2f} ± {half:.2f} "
              f"(per seed {', '.join(f'{x:+.1f}' for x in d)}; lower on {(d < 0).sum()}, higher on {(d > 0).sum()})")


if __name__ == "__main__":
    main()
