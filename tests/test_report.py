"""agents.report at equal training time: each agent's return after the seconds the fastest image agent took for
the whole budget, in summary.json, table.md and the right panel of learning_curves.png, from synthetic run folders
(the end-to-end runs are in tests/test_ppo_keypoints.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from agents.experiment_settings import PPOExperiment
from agents.report import (equal_time_seconds, learning_curves, markdown_table, per_seed_time_curves, read_curves,
                           return_at_seconds, summarise, write_results, write_rows)
from agents.run_folders import EVALUATION_FIELDS, run_folder

STEPS = [512, 1024, 1536]


def test_return_at_seconds():
    t, r = np.array([10.0, 20.0, 40.0]), np.array([0.0, 2.0, 6.0])
    assert return_at_seconds(t, r, 15.0) == pytest.approx(1.0)   # between evaluations: linear
    assert return_at_seconds(t, r, 30.0) == pytest.approx(4.0)
    assert return_at_seconds(t, r, 40.0) == pytest.approx(6.0)
    assert return_at_seconds(t, r, 90.0) == pytest.approx(6.0)   # finished earlier: keeps its final return
    assert np.isnan(return_at_seconds(t, r, 5.0))                # before its first evaluation: unknown
    assert np.isnan(return_at_seconds(t, r, float("nan")))
    assert np.isnan(return_at_seconds(np.array([]), np.array([]), 5.0))


def test_equal_time_seconds():
    assert equal_time_seconds({"slow": [100.0, 140.0], "fast": [40.0, 60.0]}) == (50.0, "fast")
    assert equal_time_seconds({"slow": [100.0], "none": []}) == (100.0, "slow")
    seconds, agent = equal_time_seconds({})
    assert np.isnan(seconds) and agent is None


def test_time_curves_sorted_by_step_and_skip_rows_without_seconds():
    rows = [dict(agent="a", seed="0", step="200", train_seconds="20", mean_return="2"),
            dict(agent="a", seed="0", step="100", train_seconds="10", mean_return="1"),
            dict(agent="a", seed="1", step="100", train_seconds="", mean_return="5"),  # an old file: no seconds
            dict(agent="b", seed="0", step="100", train_seconds="3", mean_return="9")]
    curves = per_seed_time_curves(rows, "a")
    assert list(curves) == [0]
    np.testing.assert_array_equal(curves[0][0], [10.0, 20.0])
    np.testing.assert_array_equal(curves[0][1], [1.0, 2.0])


def fake_run(env_dir: Path, label: str, seed: int, seconds_per_step: float, returns: list[float]) -> None:
    """A finished run: evaluations at STEPS with train_seconds = step × seconds_per_step, and its done.json."""
    folder = run_folder(env_dir, label, seed)
    folder.mkdir(parents=True)
    rows = [dict(env="MintTasks/Catch-v0", agent=label, seed=seed, step=step, mean_return=ret, std_return=0.0,
                 episodes=2, mean_length=10.0, train_seconds=step * seconds_per_step,
                 train_steps_per_s=1 / seconds_per_step) for step, ret in zip(STEPS, returns, strict=True)]
    write_rows(folder / "evaluations.csv", rows, EVALUATION_FIELDS)
    total = STEPS[-1] * seconds_per_step
    (folder / "done.json").write_text(json.dumps(dict(
        seed=seed, final_return=returns[-1], train_seconds=total, learn_seconds=total + 1.0,
        train_steps_per_s=STEPS[-1] / total, settings={})))


@pytest.fixture
def study(tmp_path) -> tuple[PPOExperiment, Path]:
    """A keypoint agent twice as fast as the pixel agent (2 seeds each) and a slower reference on true objects."""
    exp = PPOExperiment(env="MintTasks/Catch-v0", agents=["mint", "pixels"], seeds=2, timesteps=1536,
                        out=str(tmp_path))
    env_dir = tmp_path / "MintTasks_Catch-v0"
    fake_run(env_dir, "kp", 0, 0.5, [1.0, 2.0, 3.0])    # 768 s for the budget
    fake_run(env_dir, "kp", 1, 0.5, [1.0, 3.0, 5.0])
    fake_run(env_dir, "pixels", 0, 1.0, [0.0, 4.0, 6.0])  # 1536 s: at 768 s half-way between evaluations 1 and 2
    fake_run(env_dir, "pixels", 1, 1.0, [2.0, 2.0, 8.0])
    fake_run(env_dir, "objects", 0, 0.1, [7.0, 8.0, 9.0])  # a reference: never sets the equal time
    return exp, env_dir


def test_summary_compares_agents_at_the_fastest_image_agents_time(study):
    exp, env_dir = study
    summary = summarise(exp, env_dir, ["kp", "pixels", "objects"], random=[0.0, 0.0])
    assert summary["equal_time_seconds"] == pytest.approx(768.0) and summary["equal_time_agent"] == "kp"
    agents = summary["agents"]
    assert agents["kp"]["return_at_equal_time"]["mean"] == pytest.approx(4.0)  # its final returns 3 and 5
    assert agents["pixels"]["return_at_equal_time"]["mean"] == pytest.approx((2.0 + 2.0) / 2)  # 2.0 and 2.0
    assert agents["objects"]["return_at_equal_time"]["mean"] == pytest.approx(9.0)  # done after 154 s
    table = markdown_table(summary)
    assert "after the mean training seconds kp took for the whole budget" in table
    header, _, *rows = [line for line in table.splitlines() if line.startswith("|")]
    column = [c.strip() for c in header.split("|")].index("return at 768 train s")
    cells = {row.split("|")[1].strip(): row.split("|")[column].strip() for row in rows}
    assert cells == {"kp": "4.00 ± 12.71", "pixels": "2.00 ± 0.00", "objects": "9.00", "random policy": ""}
    assert all(row.count("|") == header.count("|") for row in rows)


def test_seeds_not_evaluated_by_the_equal_time_are_counted(tmp_path):
    """A seed whose first evaluation comes after the equal time has no return there: the cell says k/n."""
    exp = PPOExperiment(env="MintTasks/Catch-v0", agents=["mint", "pixels"], seeds=2, timesteps=1536,
                        out=str(tmp_path))
    env_dir = tmp_path / "MintTasks_Catch-v0"
    fake_run(env_dir, "kp", 0, 0.5, [1.0, 2.0, 3.0])    # 768 s
    fake_run(env_dir, "pixels", 0, 1.0, [0.0, 4.0, 6.0])  # first evaluation at 512 s
    fake_run(env_dir, "pixels", 1, 2.0, [2.0, 2.0, 8.0])  # first evaluation at 1024 s: none by 768 s
    summary = summarise(exp, env_dir, ["kp", "pixels"], random=[0.0])
    assert summary["agents"]["pixels"]["return_at_equal_time"]["n"] == 1
    assert "| 2.00 (1/2) |" in markdown_table(summary)


def test_a_summary_from_before_the_equal_time_still_renders(study, tmp_path):
    """summary.json files written before the column: the table shows '–' and the figure has no equal-time line."""
    exp, env_dir = study
    summary = summarise(exp, env_dir, ["kp", "pixels"], random=[0.0, 0.0])
    for key in ("equal_time_seconds", "equal_time_agent"):
        del summary[key]
    for agent in summary["agents"].values():
        del agent["return_at_equal_time"]
    table = markdown_table(summary)
    assert "| return at equal train s |" in table and "| kp | 2 |" in table
    assert "Return at equal training time" not in table
    fig = learning_curves(summary, [], tmp_path / "old.png")
    assert not any(line.get_linestyle() == ":" and line.get_xdata()[0] == line.get_xdata()[-1]
                   for line in fig.axes[1].lines)


def test_results_files_carry_the_equal_time(study, tmp_path):
    exp, env_dir = study
    summary, table = write_results(exp, env_dir, ["kp", "pixels"], random=[0.0, 0.0], extra={})
    stored = json.loads((env_dir / "summary.json").read_text())
    assert stored["equal_time_seconds"] == pytest.approx(768.0)
    assert stored["agents"]["pixels"]["return_at_equal_time"]["mean"] == pytest.approx(2.0)
    assert (env_dir / "learning_curves.png").stat().st_size > 10_000
    fig = learning_curves(summary, read_curves(env_dir, ["kp", "pixels"], exp.seeds), tmp_path / "again.png")
    by_steps, by_time = fig.axes
    assert by_steps.get_xlabel() == "env steps" and by_time.get_xlabel().startswith("training seconds")
    curves = {line.get_label(): line for line in by_time.lines}
    assert set(curves) >= {"kp (n=2)", "pixels (n=2)", "equal training time"}
    assert list(curves["equal training time"].get_xdata()) == [768.0, 768.0]
    kp_t, kp_r = curves["kp (n=2)"].get_xdata(), curves["kp (n=2)"].get_ydata()
    assert kp_t[0] == pytest.approx(256.0) and kp_t[-1] == pytest.approx(768.0) and kp_r[-1] == pytest.approx(4.0)
    px_t, px_r = curves["pixels (n=2)"].get_xdata(), curves["pixels (n=2)"].get_ydata()
    assert px_r[np.argmin(abs(np.asarray(px_t) - 768.0))] == pytest.approx(2.0, abs=0.2)
