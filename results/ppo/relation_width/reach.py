"""Per-seed return at 33k, final return and env steps to a threshold, from evaluations.csv files (probe script of
the twenty-first session; run from the project root).

    python results/ppo/relation_width/reach.py THRESHOLD CSV [CSV ...]
"""
import csv
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

from agents.report import steps_to_threshold


def main() -> None:
    threshold = float(sys.argv[1])
    rows = defaultdict(list)
    for path in sys.argv[2:]:
        with open(path) as f:
            for r in csv.DictReader(f):
                rows[(r["agent"], int(r["seed"]))].append((int(r["step"]), float(r["mean_return"])))
    by_agent = defaultdict(dict)
    for (agent, seed), pts in rows.items():
        steps, rets = map(np.array, zip(*sorted(pts)))
        at33 = rets[np.flatnonzero(steps <= 33_400)[-1]] if (steps <= 33_400).any() else float("nan")
        by_agent[agent][seed] = (steps_to_threshold(steps, rets, threshold), at33, rets[-1])
    for agent, seeds in by_agent.items():
        print(agent)
        for s in sorted(seeds):
            r, a, f = seeds[s]
            print(f"  seed {s}: reach {r:8.0f}  at33 {a:5.2f}  final {f:5.2f}")
        arr = np.array(list(seeds.values()))
        n = len(arr)
        for name, col in (("reach", arr[:, 0]), ("at33", arr[:, 1]), ("final", arr[:, 2])):
            ok = col[np.isfinite(col)]
            ci = stats.t.ppf(0.975, len(ok) - 1) * ok.std(ddof=1) / np.sqrt(len(ok)) if len(ok) > 1 else float("nan")
            print(f"  {name}: {ok.mean():.2f} ± {ci:.2f} ({len(ok)}/{n})")


if __name__ == "__main__":
    main()
