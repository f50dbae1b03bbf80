"""experiments/online_vs_pretrained.py end to end (its main) with a tiny budget: files, exact step counts,
same initial weights and frames in both arms, resume/skip, budget check; and the verdict logic of its report
(agents/online_report.py)."""

import csv
import json
import math
from pathlib import Path

import pytest

from agents.online_report import ARMS, RELATIVE_METRICS, relative_differences, verdict
from mint_rl.metrics import summarize
from tests.conftest import load_script


def main(argv: list[str]) -> dict:
    return load_script("online_vs_pretrained").main(argv)


def tiny(tmp_path: Path, steps: int = 5, seeds: int = 2) -> list[str]:
    """A few seconds: ``seeds`` seeds, ``steps`` steps of 2 clips (rounds of 2: the last one is
    shortened when ``steps`` is odd), K = 3, 24 frames, one 10-frame held-out episode."""
    return ["--seeds", str(seeds), "--steps", str(steps), "--frames", "24", "-k", "3", "--batch-size", "2",
            "--updates-per-round", "2", "--eval-episodes", "1", "--eval-frames", "10", "--checkpoint-every", "2",
            "--out", str(tmp_path / "out"), "--results", str(tmp_path / "results"), "--no-progress"]


def test_end_to_end_and_resume(tmp_path):
    report = main(tiny(tmp_path))
    out, res = tmp_path / "out", tmp_path / "results"
    for name in ("results.csv", "summary.json", "table.md"):
        assert (res / name).is_file(), name
    assert len(report["ran"]) == 4 and not report["skipped"] and report["complete"]

    for seed in range(2):
        runs = {arm: json.loads((out / arm / f"seed{seed}" / "metrics.json").read_text())["run"] for arm in ARMS}
        assert (out / "pretrained" / f"seed{seed}" / "encoder.pt").is_file()
        assert (out / "online" / f"seed{seed}" / "encoder.pt").is_file()
        assert runs["pretrained"]["optimizer_steps"] == runs["online"]["optimizer_steps"] == 5
        # 24 frames × 2 / 5 steps → a round every 10 env steps: rounds of 2, 2, 1 steps at 10, 20, 30 env steps
        assert runs["online"]["env_steps"] == 30 and runs["online"]["rounds"] == 3
        assert runs["online"]["init_checksum"] == runs["pretrained"]["init_checksum"]
        assert runs["online"]["same_frames_as_pretrained"] and runs["online"]["frames_compared"] == 24

    rows = list(csv.DictReader((res / "results.csv").open()))
    assert {(r["arm"], r["seed"]) for r in rows} == {(a, str(s)) for a in ARMS for s in range(2)}
    values = {(r["arm"], r["seed"], r["metric"]): float(r["value"]) for r in rows}
    for arm in ARMS:
        for metric in ("DOP", "TOP"):
            assert 0.0 <= values[(arm, "0", metric)] <= 100.0
        assert 0.0 <= values[(arm, "0", "UAK")] <= 3

    summary = json.loads((res / "summary.json").read_text())
    assert set(summary["summary"]) == set(ARMS)
    assert summary["summary"]["online"]["DOP"]["n"] == 2.0
    assert summary["checks"]["same_initial_weights"] and summary["checks"]["same_frame_stream"]
    assert summary["checks"]["optimizer_steps"] == [5]
    assert summary["budget"]["online"]["update_every"] == 10  # the default U = frames × M / steps, rounded
    assert summary["budget"]["pretrained"]["env"] == "MintScenes/Collisions-v0"  # the default env
    assert set(summary["relative_difference_online_vs_pretrained"]) == set(RELATIVE_METRICS)
    assert summary["verdict"]
    table = (res / "table.md").read_text()
    assert "| pretrained | 2 |" in table and "| online | 2 |" in table and "Verdict:" in table

    # rerun: every (arm, seed) is finished and skipped, nothing retrained
    stamp = (out / "online" / "seed0" / "metrics.json").stat().st_mtime_ns
    again = main(tiny(tmp_path))
    assert not again["ran"] and len(again["skipped"]) == 4
    assert (out / "online" / "seed0" / "metrics.json").stat().st_mtime_ns == stamp
    # another budget in the same folder is refused
    with pytest.raises(SystemExit, match="another budget"):
        main(tiny(tmp_path, steps=6))


def test_partial_results_are_written(tmp_path):
    """With one seed, results exist after the first run and the interval is undefined (n = 1)."""
    report = main(tiny(tmp_path, steps=2, seeds=1))
    assert report["complete"]
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert math.isnan(summary["summary"]["pretrained"]["DOP"]["half_width"])


def fake_runs(pretrained: list[float], online: list[float]) -> dict:
    done = {}
    for seed, (p, o) in enumerate(zip(pretrained, online)):
        for arm, dop in (("pretrained", p), ("online", o)):
            done[(arm, seed)] = {"episodes": [{"DOP": dop, "TOP": dop, "UAK": 1.0, "RAK": 0.5}]}
    return done


@pytest.mark.parametrize("online, within", [([76.0, 80.0, 78.0], True), ([60.0, 64.0, 62.0], False),
                                            ([90.0, 95.0, 92.0], True)])
def test_relative_difference_and_verdict(online, within):
    pretrained = [80.0, 84.0, 82.0]
    done = fake_runs(pretrained, online)
    summary = {arm: summarize({s: done[(arm, s)]["episodes"] for s in range(3)}) for arm in ARMS}
    rel = relative_differences(done, summary, 3, 0.10)
    expected = sum(online) / sum(pretrained) - 1
    assert rel["DOP"]["of_means"] == pytest.approx(expected)
    assert rel["DOP"]["per_seed"] == pytest.approx([o / p - 1 for o, p in zip(online, pretrained)])
    assert rel["DOP"]["within_tolerance"] is within and rel["TOP"]["within_tolerance"] is within
    assert rel["UAK"]["of_means"] == 0.0 and "within_tolerance" not in rel["UAK"]
    text = verdict(rel, 0.10, complete=True)
    assert text.startswith("online vs pretrained") and (("WITHIN 10 %" in text) == within)


def test_undefined_relative_difference():
    done = fake_runs([0.0], [10.0])
    summary = {arm: summarize({0: done[(arm, 0)]["episodes"]}) for arm in ARMS}
    rel = relative_differences(done, summary, 1, 0.10)
    assert math.isnan(rel["DOP"]["of_means"]) and rel["DOP"]["within_tolerance"] is None
    assert verdict(rel, 0.10, complete=True).startswith("no verdict")


def test_arguments(capsys):
    """The defaults as --help states them (the default env and U are checked by the end-to-end run); a bad
    --env is refused with argparse's status 2 before any work."""
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0 and "--update-every" in text
    for default in ("number of seeds 0..n-1 (default 3)", "optimiser steps of each arm (default 500)",
                    "random-policy frames collected (default 3000)", "K (default 10)",
                    "optimiser steps per round M (default 50)", "default: frames × M / steps"):
        assert default in text, default
    with pytest.raises(SystemExit) as exc:
        main(["--env", "CartPole-v1"])
    assert exc.value.code == 2
