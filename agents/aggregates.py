"""Scores over a suite of games: human-normalised scores and their aggregates with stratified-bootstrap intervals.

What Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice") recommend for few runs on many
games, computed with their library ``rliable``::

    >>> per_game = [human_normalised(np.array([1.7, 30.5, 16.1]), "ALE/Breakout-v5"),  # HNS 0, 1, 0.5
    ...             human_normalised(np.array([12.1, 6.1]), "ALE/Boxing-v5")]           # HNS 1, 0.5
    >>> round(iqm_of_runs(per_game), 4)  # sorted 0, 0.5, 0.5, 1, 1: one run cut at each end
    0.6667
    >>> result = stratified_bootstrap(per_game, AGGREGATES["iqm"], resamples=200)
    >>> sorted(result)
    ['ci_high', 'ci_low', 'estimate', 'n_games', 'n_runs', 'resamples']
    >>> result["ci_low"] <= result["estimate"] <= result["ci_high"]
    True

**Scores.** :func:`human_normalised` maps a raw Atari score to ``(score − random) / (human − random)`` with the
random-policy and human references of :data:`REFERENCE_SCORES` (0 = random policy, 1 = human).

**Aggregates** (:data:`AGGREGATES`) are functions of ``per_game``, a list with one 1-D array of run scores per
game; games may have different numbers of runs:

* ``"iqm"``, :func:`iqm_of_runs`: the interquartile mean of all runs of all games pooled, i.e.
  ``scipy.stats.trim_mean(x, 0.25)`` of the concatenated runs (a quarter of the sorted values cut at each end,
  rounded down), rliable's ``metrics.aggregate_iqm``;
* ``"median"``, :func:`median_of_game_means`: the median over games of each game's mean score, rliable's
  ``metrics.aggregate_median``.

**Interval.** :func:`stratified_bootstrap` gives the statistic on the data and its percentile bootstrap
confidence interval (95 % by default), as ``rliable.library.get_interval_estimates(..., method="percentile",
task_bootstrap=False)`` computes it: each of ``resamples`` (default 2000) replicates draws, independently for
every game, as many runs as that game has, with replacement, from that game's runs (the games themselves are
kept: the interval is over runs, i.e. seeds, not over the choice of games); the bounds are the 2.5th and 97.5th
percentiles (numpy's linear interpolation) of the statistic over the replicates. rliable draws its resampling
indices from numpy's global random state (its ``random_state`` argument does not reach them), so the call seeds
that state with ``seed`` and restores it afterwards: the same seed gives the same interval.

rliable (with arch, pandas and statsmodels, seconds to import) is imported by the first aggregate computed, not
by importing this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "AGGREGATES",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "REFERENCE_SCORES",
    "game_name",
    "human_normalised",
    "iqm_of_runs",
    "median_of_game_means",
    "stratified_bootstrap",
]

BOOTSTRAP_RESAMPLES = 2000
"""Bootstrap replicates of :func:`stratified_bootstrap` by default."""
BOOTSTRAP_SEED = 0
"""Seed of :func:`stratified_bootstrap` by default."""

# Random-policy and human reference scores per game: those of the DQN Nature paper (Mnih et al. 2015,
# "Human-level control through deep reinforcement learning", Extended Data Table 2), as tabulated in the
# Atari-100k literature (e.g. Kaiser et al. 2020 "SimPLe"; Schwarzer et al. 2021 "SPR", Table 6;
# Agarwal et al. 2021).
REFERENCE_SCORES: dict[str, dict[str, float]] = {
    "Alien": {"random": 227.8, "human": 7127.7},
    "Amidar": {"random": 5.8, "human": 1719.5},
    "Assault": {"random": 222.4, "human": 742.0},
    "Asterix": {"random": 210.0, "human": 8503.3},
    "BankHeist": {"random": 14.2, "human": 753.1},
    "BattleZone": {"random": 2360.0, "human": 37187.5},
    "Boxing": {"random": 0.1, "human": 12.1},
    "Breakout": {"random": 1.7, "human": 30.5},
    "ChopperCommand": {"random": 811.0, "human": 7387.8},
    "CrazyClimber": {"random": 10780.5, "human": 35829.4},
    "DemonAttack": {"random": 152.1, "human": 1971.0},
    "Freeway": {"random": 0.0, "human": 29.6},
    "Frostbite": {"random": 65.2, "human": 4334.7},
    "Gopher": {"random": 257.6, "human": 2412.5},
    "Hero": {"random": 1027.0, "human": 30826.4},
    "Jamesbond": {"random": 29.0, "human": 302.8},
    "Kangaroo": {"random": 52.0, "human": 3035.0},
    "Krull": {"random": 1598.0, "human": 2665.5},
    "KungFuMaster": {"random": 258.5, "human": 22736.3},
    "MsPacman": {"random": 307.3, "human": 6951.6},
    "Pong": {"random": -20.7, "human": 14.6},
    "PrivateEye": {"random": 24.9, "human": 69571.3},
    "Qbert": {"random": 163.9, "human": 13455.0},
    "RoadRunner": {"random": 11.5, "human": 7845.0},
    "Seaquest": {"random": 68.4, "human": 42054.7},
    "UpNDown": {"random": 533.4, "human": 11693.2},
}
"""Random-policy and human scores per ALE game (keys: game names without the ``ALE/`` prefix and ``-vN``
suffix), those of the Atari-100k literature."""


# --------------------------------------------------------------------------- scores
def game_name(env_id: str) -> str:
    """The game of an ALE env id, the key of :data:`REFERENCE_SCORES`: ``ALE/MsPacman-v5`` → ``MsPacman``
    (a plain name is returned as it is)."""
    name = env_id.split("/")[-1]
    return name.rsplit("-v", 1)[0] if "-v" in name else name


def human_normalised(score: float | np.ndarray, game: str) -> float | np.ndarray:
    """Human-normalised score ``(score − random) / (human − random)`` with the references of
    :data:`REFERENCE_SCORES`.

    :param score: a raw game score, or an array of them (normalised elementwise, float64).
    :param game: a game name (``Breakout``) or ALE env id (``ALE/Breakout-v5``).
    :return: a float for a float ``score``, else an array of its shape.
    :raises KeyError: when the game has no reference scores.
    """
    ref = REFERENCE_SCORES[game_name(game)]
    value = np.asarray(score, dtype=np.float64) if isinstance(score, np.ndarray) else float(score)
    return (value - ref["random"]) / (ref["human"] - ref["random"])


# --------------------------------------------------------------------------- aggregates
def iqm_of_runs(per_game: Sequence[np.ndarray]) -> float:
    """Interquartile mean of all runs of all games pooled (rliable's ``metrics.aggregate_iqm``).

    :param per_game: one 1-D array of run scores per game, at least one run in all.
    :return: ``scipy.stats.trim_mean(np.concatenate(per_game), 0.25)``.
    """
    from rliable import metrics

    runs = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in per_game])
    return float(metrics.aggregate_iqm(runs))


def median_of_game_means(per_game: Sequence[np.ndarray]) -> float:
    """Median over games of each game's mean run score (rliable's ``metrics.aggregate_median``).

    :param per_game: one non-empty 1-D array of run scores per game.
    :return: ``np.median([g.mean() for g in per_game])``.
    """
    from rliable import metrics

    game_means = np.array([[np.mean(g) for g in per_game]])  # (1 run x games): the games' means
    return float(metrics.aggregate_median(game_means))


AGGREGATES: dict[str, Callable[[Sequence[np.ndarray]], float]] = {
    "iqm": iqm_of_runs,
    "median": median_of_game_means,
}
"""The aggregates over games of the Atari study, by the key it writes them under."""


def stratified_bootstrap(
    per_game: Sequence[Sequence[float] | np.ndarray],
    statistic: Callable[[Sequence[np.ndarray]], float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """Point estimate and stratified-bootstrap percentile interval of ``statistic(per_game)`` (see the module
    docstring for the resampling), by ``rliable.library.get_interval_estimates``.

    :param per_game: one sequence of run scores per game; non-finite scores are dropped, then games without
        a score.
    :param statistic: list of per-game 1-D arrays → float, e.g. a value of :data:`AGGREGATES`.
    :param resamples: bootstrap replicates, >= 1.
    :param seed: seeds the resampling (numpy's global state, restored afterwards).
    :param confidence: coverage of the two-sided interval, in (0, 1).
    :return: ``estimate``, ``ci_low``, ``ci_high``, ``n_games``, ``n_runs`` and ``resamples``; the first three
        NaN (and the counts 0) when no game has a score.
    """
    from rliable import library as rly

    if resamples < 1:
        raise ValueError(f"`resamples` must be >= 1, got {resamples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must lie in (0, 1), got {confidence}.")
    games = [np.asarray(g, dtype=np.float64).ravel() for g in per_game]
    games = [g[np.isfinite(g)] for g in games]
    games = [g for g in games if g.size]
    if not games:
        nan = float("nan")
        return {"estimate": nan, "ci_low": nan, "ci_high": nan, "n_games": 0, "n_runs": 0, "resamples": resamples}

    def replicate(*runs: np.ndarray) -> np.ndarray:  # one (runs, 1) array per game, as rliable resamples them
        return np.array([statistic([r[:, 0] for r in runs])])

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        estimates, intervals = rly.get_interval_estimates(
            {"scores": [g[:, None] for g in games]}, replicate, method="percentile", task_bootstrap=False,
            reps=resamples, confidence_interval_size=confidence)
    finally:
        np.random.set_state(state)
    (low,), (high,) = intervals["scores"]
    return {"estimate": float(estimates["scores"][0]), "ci_low": float(low), "ci_high": float(high),
            "n_games": len(games), "n_runs": int(sum(g.size for g in games)), "resamples": resamples}
