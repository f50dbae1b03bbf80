"""experiments/atari_study.py through its entry point, without any ALE training: --summary-only (HNS and the
aggregates over games, whose statistics tests/test_aggregates.py checks), one PPO experiment per game, --help;
and the file contract between the PPO experiment and the study: a summary.json written by
agents.report.write_results is read back by agents.report.read_summary, and one without a key the study reads is
refused, naming the file and the key."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.atari_study_report import AtariStudy, agent_labels, read_game_summary
from agents.experiment_settings import PPOExperiment
from agents.report import SummaryError, read_summary, write_results, write_rows
from agents.run_folders import EVALUATION_FIELDS, env_slug, run_folder
from tests.conftest import load_script

main = load_script("atari_study").main  # the script's entry point


def fake_summary(env: str, finals: dict[str, list[float]]) -> dict:
    """Shaped like ppo_keypoints' summary.json (summarise + write_results' extra)."""
    def agg(v):
        v = np.asarray(v, dtype=float)
        half = 1.0 if len(v) > 1 else float("nan")
        return {"mean": float(v.mean()), "ci_low": float(v.mean()) - half, "ci_high": float(v.mean()) + half,
                "half_width": half, "n": float(len(v))}
    agents = {label: {"final_return": agg(v), "return_at_third": agg(v), "steps_to_threshold": agg(v), "reached": 0,
                      "steps_to_pixels_final": agg(v), "reached_pixels_final": 0, "n": len(v),
                      "train_steps_per_s": agg(v), "learn_seconds": agg(v), "final_return_per_seed": v}
              for label, v in finals.items()}
    return {"env": env, "timesteps": 100000, "threshold": 1.0, "threshold_rule": "given", "pixels_final_return": 1.0,
            "random_return": agg([1.0, 2.0]), "agents": agents, "pretrain_seconds_this_invocation": {}}


def test_summary_only(tmp_path, capsys):
    results = tmp_path / "results"
    for env, finals in {"ALE/Breakout-v5": {"pixels": [1.7, 30.5, 16.1], "mint": [1.7, 1.7, 1.7]},
                        "ALE/Boxing-v5": {"pixels": [12.1, 12.1, 12.1], "mint": [0.1, 6.1, 12.1]}}.items():
        d = results / env_slug(env)
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(fake_summary(env, finals)))
        lines = ["env,agent,seed,step,mean_return"] + [f"{env},{label},{seed},{step},{v * step / 2048}"
                                                       for label, vals in finals.items()
                                                       for seed, v in enumerate(vals) for step in (1024, 2048)]
        (d / "evaluations.csv").write_text("\n".join(lines) + "\n")
    out = main(["--games", "ALE/Breakout-v5", "ALE/Boxing-v5", "ALE/Seaquest-v5", "--summary-only",
                   "--results", str(results), "--out", str(tmp_path / "runs"), "--resamples", "200"])
    md = (results / "summary.md").read_text()
    assert "| ALE/Breakout-v5 | pixels | 3 | 16.10 ± 1.00 | 0.500 | 1.7 | 30.5 |" in md
    assert "| ALE/Breakout-v5 | mint | 3 | 1.70 ± 1.00 | 0.000 |" in md
    assert "| ALE/Boxing-v5 | pixels | 3 | 12.10 ± 1.00 | 1.000 |" in md
    assert "| ALE/Boxing-v5 | mint | 3 | 6.10 ± 1.00 | 0.500 |" in md
    assert "| ALE/Seaquest-v5 | – | 0 | not run |" in md
    # pretraining frames in their own column (0 for pixels), agent steps/s and wall seconds per run
    assert md.count("| 4000 |") == 2 and md.count("| 0 |") >= 2
    # every evaluation of every game in one CSV, and the learning-curve figure
    import csv

    rows = list(csv.DictReader((results / "evaluations.csv").open()))
    assert len(rows) == 2 * 2 * 3 * 2 and {r["env"] for r in rows} == {"ALE/Breakout-v5", "ALE/Boxing-v5"}
    assert (results / "learning_curves.png").stat().st_size > 10_000
    assert "4000 random-policy frames" in md
    data = json.loads((results / "summary.json").read_text())
    assert data["agents"] == ["pixels", "mint"]
    assert data["aggregates"]["pixels"]["median"]["estimate"] == pytest.approx(0.75)
    assert data["aggregates"]["mint"]["median"]["estimate"] == pytest.approx(0.25)
    assert data["aggregates"]["mint"]["iqm"]["n_runs"] == 6
    # IQM over all runs: pixels' HNS per seed are Breakout (0, 1, 0.5) and Boxing (1, 1, 1)
    assert data["aggregates"]["pixels"]["iqm"]["estimate"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    for label in ("pixels", "mint"):
        assert set(data["aggregates"][label]) == {"iqm", "median"}
        for agg in data["aggregates"][label].values():
            assert set(agg) == {"estimate", "ci_low", "ci_high", "n_games", "n_runs", "resamples"}
            assert agg["ci_low"] <= agg["estimate"] <= agg["ci_high"] and agg["resamples"] == 200
    assert data["bootstrap"] == {"method": "stratified (seeds within each game), percentile 95% CI",
                                 "resamples": 200, "seed": 0}
    assert "IQM HNS" in capsys.readouterr().out
    assert out["table"] == md.strip()


def test_one_ppo_experiment_per_game(tmp_path, monkeypatch):
    """The study trains each game by the library function ppo_keypoints.py runs, with the study's settings."""
    import agents.ppo_experiment as ppo_experiment

    seen = []
    monkeypatch.setattr(ppo_experiment, "run_ppo_experiment", seen.append)
    results = tmp_path / "results"
    main(["--games", "ALE/Pong-v5", "ALE/Breakout-v5", "--seeds", "2", "--no-progress", "--results", str(results),
             "--out", str(tmp_path / "runs")])
    assert [e.env for e in seen] == ["ALE/Pong-v5", "ALE/Breakout-v5"]
    for exp in seen:
        assert exp.atari and exp.timesteps == 100_000 and exp.agents == ["pixels", "mint"] and exp.seeds == 2
        assert exp.export == str(results / env_slug(exp.env)) and exp.out == str(tmp_path / "runs")
        assert exp.pretrain_frames == 4000 and exp.pretrain_steps == 1000 and exp.num_keypoints == 16
        assert exp.eval_episodes == 10 and exp.eval_freq == 20_480 and exp.n_envs == 8 and exp.no_progress
        assert exp.label("mint") == "mint" and not exp.online
    with pytest.raises(SystemExit):
        main(["--games", "MintTasks/Catch-v0"])


def test_bad_ppo_settings_are_refused_before_any_game_trains(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--games", "ALE/Pong-v5", "--timesteps", "100", "--results", str(tmp_path), "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--timesteps 100 is smaller than one PPO rollout" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_help():
    script = Path(__file__).resolve().parents[1] / "experiments" / "atari_study.py"
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0
    assert "--summary-only" in r.stdout and "Atari 100k" in r.stdout


# --------------------------------------------------------------------------- the summary.json contract
def written_summary(tmp_path: Path) -> tuple[Path, dict]:
    """A summary.json written by the PPO experiment's report writer over two agents × two finished seeds."""
    exp = PPOExperiment(env="MintTasks/Catch-v0", agents=["pixels", "mint"], seeds=2, timesteps=2048,
                        out=str(tmp_path), no_progress=True)
    env_dir = tmp_path / env_slug(exp.env)
    labels = [exp.label(agent) for agent in exp.agents]
    for i, label in enumerate(labels):
        for seed in range(exp.seeds):
            run = run_folder(env_dir, label, seed)
            run.mkdir(parents=True)
            final = 1.0 + i + 0.5 * seed
            rows = [{"env": exp.env, "agent": label, "seed": seed, "step": step, "mean_return": final * step / 2048,
                     "std_return": 0.1, "episodes": 2, "mean_length": 50, "train_seconds": step / 1000,
                     "train_steps_per_s": 1000.0} for step in (1024, 2048)]
            write_rows(run / "evaluations.csv", rows, EVALUATION_FIELDS)
            (run / "done.json").write_text(json.dumps({"seed": seed, "final_return": final, "learn_seconds": 2.0 + seed,
                                                       "train_steps_per_s": 1000.0 + seed}))
    summary, _ = write_results(exp, env_dir, labels, random=[-1.0, -2.0], extra={"pretrain_seconds": {}})
    return env_dir / "summary.json", summary


def test_summary_written_by_the_ppo_report_is_read_back(tmp_path):
    path, written = written_summary(tmp_path)
    read = read_summary(path)
    assert read.path == path and read.timesteps == written["timesteps"] == 2048
    assert read.random_return["mean"] == pytest.approx(-1.5)
    assert list(read.agents) == list(written["agents"]) == ["pixels", "mint-relation-c8w5-eqc-lrlin-n1-auxr2"]
    for label, agent in read.agents.items():
        entry = written["agents"][label]
        assert agent.n == entry["n"] == 2
        assert agent.final_return == entry["final_return"] and agent.final_return["mean"] == pytest.approx(
            np.mean(entry["final_return_per_seed"]))
        assert agent.final_return_per_seed == tuple(entry["final_return_per_seed"])
        assert agent.train_steps_per_s["mean"] == pytest.approx(1000.5)
        assert agent.learn_seconds["mean"] == pytest.approx(2.5)


@pytest.mark.parametrize("drop, named", [
    (("timesteps",), "'timesteps'"),
    (("random_return", "mean"), "'random_return.mean'"),
    (("agents", "pixels", "final_return_per_seed"), "'agents.pixels.final_return_per_seed'"),
    (("agents", "pixels", "learn_seconds", "mean"), "'agents.pixels.learn_seconds.mean'"),
])
def test_summary_missing_a_key_is_refused_naming_file_and_key(tmp_path, drop, named):
    path, _ = written_summary(tmp_path)
    data = json.loads(path.read_text())
    where = data
    for key in drop[:-1]:
        where = where[key]
    del where[drop[-1]]
    path.write_text(json.dumps(data))
    with pytest.raises(SummaryError, match="lacks " + re.escape(named)) as exc:
        read_summary(path)
    assert str(path) in str(exc.value)
    path.write_text("{not json")
    with pytest.raises(SummaryError, match="cannot read"):
        read_summary(path)


def test_study_refuses_a_summary_without_a_key_it_reads(tmp_path):
    results = tmp_path / "results"
    d = results / env_slug("ALE/Breakout-v5")
    d.mkdir(parents=True)
    summary = fake_summary("ALE/Breakout-v5", {"pixels": [1.7, 30.5, 16.1]})
    del summary["agents"]["pixels"]["final_return"]
    (d / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit, match="lacks 'agents.pixels.final_return'") as exc:
        main(["--games", "ALE/Breakout-v5", "--summary-only", "--results", str(results), "--out", str(tmp_path)])
    assert str(d / "summary.json") in str(exc.value)


def test_study_report_reads_the_export_first_and_refuses_a_bad_summary(tmp_path):
    """agents.atari_study_report: a game's exported summary.json wins over the training folder's; a summary
    without a key the study reads raises SummaryError (the script turns it into its exit message)."""
    study = AtariStudy(games=("ALE/Breakout-v5",), agents=("mint",), results=tmp_path / "results",
                       out=tmp_path / "runs", timesteps=100_000, pretrain_frames=4000, seeds=1)
    assert read_game_summary(study, "ALE/Breakout-v5") is None
    for folder, final in ((study.out, 1.0), (study.results, 2.0)):
        d = folder / env_slug("ALE/Breakout-v5")
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(fake_summary("ALE/Breakout-v5", {"mint": [final]})))
    assert read_game_summary(study, "ALE/Breakout-v5").agents["mint"].final_return_per_seed == (2.0,)
    assert agent_labels("mint", ["pixels", "mint-set", "mint", "minty"]) == ["mint-set", "mint"]
    path = study.results / env_slug("ALE/Breakout-v5") / "summary.json"
    path.write_text(json.dumps({"timesteps": 1}))
    with pytest.raises(SummaryError, match="lacks 'random_return'"):
        read_game_summary(study, "ALE/Breakout-v5")
