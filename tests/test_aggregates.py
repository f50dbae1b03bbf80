"""agents/aggregates.py: human-normalised scores, IQM and median over games, the stratified bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.aggregates import (
    AGGREGATES,
    REFERENCE_SCORES,
    game_name,
    human_normalised,
    iqm_of_runs,
    median_of_game_means,
    stratified_bootstrap,
)


def per_game_scores(runs: int, seed: int = 1, means: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(mu, 0.3, runs) for mu in means]


# --------------------------------------------------------------------------- scores
def test_hns_known_values() -> None:
    assert human_normalised(30.5, "Breakout") == pytest.approx(1.0)
    assert human_normalised(1.7, "ALE/Breakout-v5") == pytest.approx(0.0)
    assert human_normalised(6.1, "ALE/Boxing-v5") == pytest.approx(0.5)
    assert human_normalised(-20.7, "Pong") == pytest.approx(0.0)
    assert human_normalised(14.6, "ALE/Pong-v5") == pytest.approx(1.0)
    hns = human_normalised(np.array([68.4, 42054.7]), "Seaquest")
    assert isinstance(hns, np.ndarray) and hns.dtype == np.float64
    np.testing.assert_allclose(hns, [0.0, 1.0])
    assert isinstance(human_normalised(3, "Breakout"), float)
    for game in ("Breakout", "Boxing", "MsPacman", "Seaquest", "Pong", "Frostbite", "BattleZone"):
        assert game in REFERENCE_SCORES
        assert REFERENCE_SCORES[game]["human"] > REFERENCE_SCORES[game]["random"]
    with pytest.raises(KeyError):
        human_normalised(1.0, "ALE/NotAGame-v5")


def test_game_name() -> None:
    assert game_name("ALE/MsPacman-v5") == "MsPacman"
    assert game_name("MsPacman") == "MsPacman"
    assert game_name("PongNoFrameskip-v4") == "PongNoFrameskip"


# --------------------------------------------------------------------------- aggregates
def test_iqm_is_the_25_percent_trimmed_mean_of_all_runs() -> None:
    assert iqm_of_runs([np.arange(8.0)]) == pytest.approx(np.mean([2, 3, 4, 5]))
    assert iqm_of_runs([[1.0, 100.0], [2.0, 3.0]]) == pytest.approx(2.5)
    ragged = [np.array([5.0, -1.0, 3.0]), np.array([0.5]), np.array([9.0, 2.0, 2.5, 7.0, -3.0])]
    flat = np.concatenate(ragged)
    assert iqm_of_runs(ragged) == pytest.approx(stats.trim_mean(flat, 0.25))
    rng = np.random.default_rng(0)
    for n in (4, 7, 10, 13):  # a quarter cut at each end, rounded down
        x = rng.normal(size=n)
        assert iqm_of_runs(np.split(x, [1, 3])) == pytest.approx(stats.trim_mean(x, 0.25))


def test_median_is_over_the_games_means() -> None:
    assert median_of_game_means([[3.0], [1.0], [2.0]]) == 2.0
    per_game = [np.array([0.0, 10.0]), np.array([1.0]), np.array([2.0, 2.0, 8.0]), np.array([-5.0, 5.0])]
    assert median_of_game_means(per_game) == pytest.approx(np.median([5.0, 1.0, 4.0, 0.0]))
    assert set(AGGREGATES) == {"iqm", "median"}
    assert AGGREGATES["iqm"] is iqm_of_runs and AGGREGATES["median"] is median_of_game_means


# --------------------------------------------------------------------------- stratified bootstrap
@pytest.mark.parametrize("key", sorted(AGGREGATES))
def test_bootstrap_interval_contains_the_estimate_and_is_reproducible(key: str) -> None:
    per_game = per_game_scores(3)
    statistic = AGGREGATES[key]
    a = stratified_bootstrap(per_game, statistic, resamples=500, seed=3)
    assert a == stratified_bootstrap(per_game, statistic, resamples=500, seed=3)
    assert a != stratified_bootstrap(per_game, statistic, resamples=500, seed=4)
    assert a["estimate"] == pytest.approx(statistic(per_game))
    assert a["ci_low"] < a["estimate"] < a["ci_high"]
    assert (a["n_games"], a["n_runs"], a["resamples"]) == (4, 12, 500)
    # a wider confidence level gives a wider interval on the same replicates
    b = stratified_bootstrap(per_game, statistic, resamples=500, seed=3, confidence=0.5)
    assert a["ci_low"] <= b["ci_low"] <= b["ci_high"] <= a["ci_high"]


def test_bootstrap_leaves_numpy_global_state_alone() -> None:
    np.random.seed(11)
    expected = np.random.random(3)
    np.random.seed(11)
    stratified_bootstrap(per_game_scores(3), iqm_of_runs, resamples=50, seed=0)
    np.testing.assert_array_equal(np.random.random(3), expected)


@pytest.mark.parametrize("key", sorted(AGGREGATES))
def test_bootstrap_interval_narrows_with_more_runs(key: str) -> None:
    widths = []
    for runs in (3, 30, 300):
        r = stratified_bootstrap(per_game_scores(runs, seed=runs), AGGREGATES[key], resamples=400, seed=0)
        widths.append(r["ci_high"] - r["ci_low"])
    assert widths[0] > widths[1] > widths[2] > 0


def test_bootstrap_resamples_runs_within_each_game() -> None:
    # constant runs within each game: every replicate equals the estimate, a zero-width interval
    c = stratified_bootstrap([[1.0, 1.0], [2.0, 2.0]], AGGREGATES["median"], resamples=100)
    assert c["ci_low"] == c["ci_high"] == c["estimate"] == pytest.approx(1.5)
    # one run per game: nothing to resample, whatever the spread between games
    one = stratified_bootstrap([[0.0], [10.0], [3.0]], AGGREGATES["iqm"], resamples=100)
    assert one["ci_low"] == one["ci_high"] == one["estimate"] == pytest.approx(13.0 / 3)  # 3 runs: none cut
    # a game's runs never move to another game: with games {0, 0} and {a, b}, the median of the two game means
    # is (mean of a resample of {a, b}) / 2, so the interval lies within [a / 2, b / 2]
    r = stratified_bootstrap([[0.0, 0.0], [2.0, 6.0]], AGGREGATES["median"], resamples=300, seed=1)
    assert r["ci_low"] >= 1.0 and r["ci_high"] <= 3.0 and r["estimate"] == pytest.approx(2.0)


def test_bootstrap_drops_missing_scores_and_empty_games() -> None:
    r = stratified_bootstrap([[1.0, np.nan, 3.0], [], [np.inf, 2.0]], AGGREGATES["iqm"], resamples=50)
    assert (r["n_games"], r["n_runs"]) == (2, 3)
    assert r["estimate"] == pytest.approx(2.0)
    empty = stratified_bootstrap([], AGGREGATES["iqm"])
    assert np.isnan(empty["estimate"]) and np.isnan(empty["ci_low"]) and empty["n_runs"] == 0
    assert np.isnan(stratified_bootstrap([[np.nan]], AGGREGATES["median"])["estimate"])


def test_bootstrap_bad_arguments() -> None:
    with pytest.raises(ValueError, match="resamples"):
        stratified_bootstrap([[1.0]], iqm_of_runs, resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap([[1.0]], iqm_of_runs, confidence=95)
