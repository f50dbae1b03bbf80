"""experiments/evaluate_keypoints.py end to end (its main) with a tiny budget: files, table rows, metric
ranges, resume/skip, --full; and the enter/leave analysis (mint_rl.metrics.enter_leave_metrics) on hand-made
cases."""

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.keypoint_evaluation import FULL_BUDGET
from mint_rl.metrics import enter_leave_metrics
from tests.conftest import load_script


def main(argv: list[str]) -> dict:
    return load_script("evaluate_keypoints").main(argv)


def tiny(steps: int = 4) -> list[str]:
    """A budget of a few seconds: 1 seed, ``steps`` steps of 2 clips, K = 3, one 10-frame held-out episode."""
    return ["--seeds", "1", "--steps", str(steps), "--frames", "24", "-k", "3", "--batch-size", "2",
            "--eval-episodes", "1", "--eval-frames", "10", "--video-frames", "6", "--threads", "1",
            "--checkpoint-every", "2", "--no-progress"]


PERCENT = ("DOP", "DOP_static", "DOP_moving", "TOP", "active_pct", "on_object_pct", "DOP_enter",
           "leave_off_pct", "leave_bg_pct", "leave_other_pct")


def check_run(out: Path, report: dict, encoders: list[str], scene: str, k: int = 3) -> None:
    for name in ("results.csv", "summary.json", "table.md", "metrics.png"):
        assert (out / name).is_file(), name
    for encoder in encoders:
        run = out / encoder / scene / "seed0"
        assert (run / "metrics.json").is_file() and (run / "encoder.pt").is_file()
        assert any((run / "tb").iterdir()), "TensorBoard events missing"
        assert (out / "videos" / f"{encoder}_{scene}.mp4").stat().st_size > 0
        assert (out / "figures" / f"{encoder}_{scene}.png").stat().st_size > 0

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["encoder"] for r in rows} == set(encoders)
    assert {(r["scene"], r["seed"]) for r in rows} == {(scene, "0")}
    by_metric = {(r["encoder"], r["metric"]): float(r["value"]) for r in rows}
    for encoder in encoders:
        for metric in ("DOP", "TOP", "UAK", "active_pct"):
            assert math.isfinite(by_metric[(encoder, metric)]), (encoder, metric)
        for metric in PERCENT:
            value = by_metric[(encoder, metric)]
            assert math.isnan(value) or 0.0 <= value <= 100.0, (encoder, metric, value)
        assert 0.0 <= by_metric[(encoder, "UAK")] <= k
        rak = by_metric[(encoder, "RAK")]
        assert math.isnan(rak) or rak >= 0
    if "transporter" in encoders:  # the Transporter has no inactive keypoints
        assert by_metric[("transporter", "active_pct")] == 100.0

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["summary"][scene]) == set(encoders)
    assert summary["summary"][scene][encoders[0]]["DOP"]["n"] == 1.0
    # one table row per (scene, encoder) in each of the two tables, then (with both encoders)
    # one row of paired differences over n = 1 seed
    table_rows = [line for line in report["table"].splitlines() if line.startswith(f"| {scene} |")]
    paired = ["1"] if len(encoders) == 2 else []
    assert [line.split("|")[2].strip() for line in table_rows] == encoders * 2 + paired
    assert bool(summary["paired_difference_mint_minus_transporter"]) == bool(paired)


def test_tiny_run_writes_results_and_second_run_skips(tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--scenes", "EnterLeave", "--encoders", "mint", "--out", str(out)]
    report = main(args + tiny())
    check_run(out, report, ["mint"], "EnterLeave")
    assert "seed 0: train" in capsys.readouterr().out
    metrics = out / "mint" / "EnterLeave" / "seed0" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns

    # the scene given by its env id is the same scene (its short name names the folder)
    again = main(["--scenes", "MintScenes/EnterLeave-v0"] + args[2:] + tiny())
    assert metrics.stat().st_mtime_ns == stamp, "a finished run must be skipped, not redone"
    assert "seed 0: train" not in capsys.readouterr().out
    assert again["table"] == report["table"]

    with pytest.raises(SystemExit, match="another budget"):  # a different budget in the same folder is refused
        main(args + tiny(steps=5))
    # --full: the larger budget, flags given explicitly still win (refused here before any work, naming it)
    with pytest.raises(SystemExit, match="another budget") as exc:
        main(args + ["--full", "--steps", "7", "--no-progress"])
    asked = str(exc.value.code).split("this command asks for")[1]
    assert "'steps': 7," in asked
    for key in ("frames", "batch_size", "eval_episodes", "eval_frames"):
        assert f"'{key}': {FULL_BUDGET[key]}" in asked, key

    before = json.loads(metrics.read_text())
    main(args + tiny() + ["--reevaluate"])  # evaluation again from the checkpoint, no training
    after = json.loads(metrics.read_text())
    assert metrics.stat().st_mtime_ns != stamp
    assert after["episodes"] == before["episodes"] and after["train_seconds"] == before["train_seconds"]


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--scenes", "--encoders", "--seeds", "--steps", "--frames", "--num-keypoints", "--device",
                 "--out", "--full", "--no-progress"):
        assert flag in text
    assert f"--full {FULL_BUDGET['seeds']})" in " ".join(text.split())  # --seeds' default under --full
    with pytest.raises(SystemExit) as exc:
        main(["--scenes", "Nope"])
    assert exc.value.code == 2


def test_enter_leave_metrics_on_a_hand_made_episode():
    # one object slot, 4×4 masks; visible at frames 1-3 (enters at 1), gone at 4
    t, k = 6, 2
    masks = np.zeros((t, 1, 4, 4), bool)
    masks[1:4, 0, :2, :2] = True
    visible = masks.any(axis=(2, 3))
    coords = np.zeros((t, k, 2))
    coords[:, 0] = -0.75  # keypoint 0 sits in the object's corner cell
    coords[:, 1] = 0.75  # keypoint 1 on the background
    status = np.ones((t, k))
    status[4:, 0] = 0.0  # keypoint 0 switches off once the object has left
    m = enter_leave_metrics(coords, status, masks, visible)
    assert m["DOP_enter"] == 100.0  # detected in all 3 visible frames after entering
    assert m["leave_off_pct"] == 100.0 and m["leave_bg_pct"] == 0.0
    # frames 0..3: 1 of 2 active on the object at frames 1-3, 0 of 2 at frame 0; frames 4-5: 0 of 1
    assert m["on_object_pct"] == pytest.approx(100.0 * (3 * 0.5) / 6)
    assert m["active_pct"] == pytest.approx(100.0 * (12 - 2) / 12)

    status[:, 0] = 1.0  # if it stays on, it is left on the background
    m = enter_leave_metrics(coords, status, masks, visible)
    assert m["leave_off_pct"] == 0.0 and m["leave_bg_pct"] == 100.0 and m["leave_other_pct"] == 0.0

    # the object's last visible frame is a sliver with no keypoint on it: the keypoints of its
    # last frame with one count (frame 2 here), and only within LEAVE_WINDOW frames
    sliver = masks.copy()
    sliver[3, 0] = False
    sliver[3, 0, 0, 3] = True  # a pixel no keypoint is on
    m = enter_leave_metrics(coords, status, sliver, visible)
    assert m["leave_bg_pct"] == 100.0
    assert m["DOP_enter"] == pytest.approx(100.0 * 2 / 3)

    no_events = enter_leave_metrics(coords, status, np.ones((t, 1, 4, 4), bool), np.ones((t, 1), bool))
    assert math.isnan(no_events["DOP_enter"]) and math.isnan(no_events["leave_off_pct"])


@pytest.mark.slow
def test_both_encoders_and_resume_from_checkpoint(tmp_path):
    out = tmp_path / "eval"
    args = ["--scenes", "Collisions", "--out", str(out)]
    report = main(args + tiny())
    check_run(out, report, ["mint", "transporter"], "Collisions")
    summary = json.loads((out / "summary.json").read_text())["summary"]["Collisions"]
    assert math.isfinite(summary["mint"]["DOP_static"]["mean"])  # Collisions has static objects
    first = json.loads((out / "mint" / "Collisions" / "seed0" / "metrics.json").read_text())
    assert first["resumed_from_step"] == 0

    # an interrupted run (checkpoint written, no metrics.json) resumes from its checkpoint
    metrics = out / "mint" / "Collisions" / "seed0" / "metrics.json"
    metrics.unlink()
    main(args + tiny() + ["--encoders", "mint"])
    again = json.loads(metrics.read_text())
    assert again["resumed_from_step"] == 4 and again["final_loss"] is None  # no step was re-run
    assert again["episodes"] == first["episodes"]  # the same weights give the same metrics


def test_curve_evaluates_on_the_way_without_changing_training(tmp_path, capsys):
    """--curve: held-out metrics at earlier steps of the same run (curve.csv/md, convergence.png), equal to a run
    trained to that step; evaluating there does not change the training (final metrics equal a run without it); resume keeps the evaluations;
    a finished run lacking a curve step, or steps outside [1, --steps − 1], are refused."""
    plain, curved = tmp_path / "plain", tmp_path / "curved"
    args = ["--scenes", "EnterLeave", "--encoders", "mint", "--video-frames", "0"]
    main(args + ["--out", str(plain)] + tiny(steps=6))
    report = main(args + ["--out", str(curved), "--curve", "4", "2"] + tiny(steps=6))
    run = curved / "mint" / "EnterLeave" / "seed0"
    result = json.loads((run / "metrics.json").read_text())
    assert sorted(result["curve"]) == ["2", "4"]
    assert result["episodes"] == json.loads((plain / "mint" / "EnterLeave" / "seed0" / "metrics.json").read_text())[
        "episodes"], "evaluating at the curve steps must not change the training"
    weights = [torch.load(folder / "mint" / "EnterLeave" / "seed0" / "encoder.pt", weights_only=False)["encoder"]
               for folder in (plain, curved)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), "the curve changed the training"
    main(args + ["--out", str(tmp_path / "four")] + tiny(steps=4))  # the curve at 4 is a 4-step run's result
    four = json.loads((tmp_path / "four" / "mint" / "EnterLeave" / "seed0" / "metrics.json").read_text())
    assert json.dumps(result["curve"]["4"]) == json.dumps(four["episodes"])
    rows = list(csv.DictReader((curved / "curve.csv").open()))
    assert sorted({int(r["step"]) for r in rows}) == [2, 4, 6]
    final_dop = [float(r["value"]) for r in rows if r["step"] == "6" and r["metric"] == "DOP"]
    assert final_dop == pytest.approx([np.mean([ep["DOP"] for ep in result["episodes"]])])
    assert (curved / "convergence.png").stat().st_size > 0
    assert "| EnterLeave | mint |" in (curved / "curve.md").read_text() and "6" in report["curve"]["table"]

    kept = json.loads((run / "curve.json").read_text())
    main(args + ["--out", str(curved), "--reevaluate"] + tiny(steps=6))  # without --curve: the curve is kept
    assert json.loads((run / "metrics.json").read_text())["curve"] == kept

    # interrupted at step 4 of 6, after the evaluation at 2 and before the one at 4 (a 4-step run with --curve 2
    # leaves exactly that: checkpoint at 4, curve.json with step 2): the rerun keeps 2, makes 4, trains on to 6
    cut = tmp_path / "cut"
    main(args + ["--out", str(cut), "--curve", "2"] + tiny(steps=4))
    cut_run = cut / "mint" / "EnterLeave" / "seed0"
    (cut_run / "metrics.json").unlink()
    assert list(json.loads((cut_run / "curve.json").read_text())) == ["2"]
    main(args + ["--out", str(cut), "--curve", "2", "4"] + tiny(steps=6))
    resumed = json.loads((cut_run / "metrics.json").read_text())
    assert resumed["resumed_from_step"] == 4
    assert json.dumps(resumed["curve"]) == json.dumps(result["curve"]) and json.dumps(resumed["episodes"]) == \
        json.dumps(result["episodes"]), "an interrupted curve run must end as the uninterrupted one"
    weights = [torch.load(run_dir / "encoder.pt", weights_only=False)["encoder"] for run_dir in (run, cut_run)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

    # a checkpoint older than a curve evaluation (encoder.pt at step 2, curve.json holding step 4 of other weights):
    # that evaluation is made again from the weights it is of
    (cut_run / "metrics.json").unlink()
    main(args + ["--out", str(tmp_path / "two")] + tiny(steps=2))
    shutil.copy2(tmp_path / "two" / "mint" / "EnterLeave" / "seed0" / "encoder.pt", cut_run / "encoder.pt")
    stale = json.loads((cut_run / "curve.json").read_text())
    stale["4"] = [{**ep, "DOP": -1.0} for ep in stale["4"]]
    (cut_run / "curve.json").write_text(json.dumps(stale))
    capsys.readouterr()
    main(args + ["--out", str(cut), "--curve", "2", "4"] + tiny(steps=6))
    assert "the curve evaluations at steps ['4'] are of other weights" in capsys.readouterr().out
    assert json.dumps(json.loads((cut_run / "metrics.json").read_text())["curve"]) == json.dumps(result["curve"])

    with pytest.raises(SystemExit, match="without the --curve evaluations at steps \\[3\\]"):
        main(args + ["--out", str(curved), "--curve", "3"] + tiny(steps=6))
    (run / "metrics.json").unlink()
    with pytest.raises(SystemExit, match="trained to step 6 without the --curve evaluation at steps \\[5\\]"):
        main(args + ["--out", str(curved), "--curve", "5"] + tiny(steps=6))
    for bad in ("0", "6"):
        with pytest.raises(SystemExit) as exc:
            main(args + ["--out", str(curved), "--curve", bad] + tiny(steps=6))
        assert exc.value.code == 2
    assert "outside [1, --steps − 1 = 5]" in capsys.readouterr().err


def test_mint_overrides_make_an_ablation_variant_in_its_own_folder(tmp_path, capsys):
    """--mint FIELD=VALUE: the MINT run trains with those config fields (recorded in its config and budget), the
    Transporter's config is untouched, and a folder of another variant is refused."""
    out = tmp_path / "kappa"
    main(["--scenes", "Bouncing", "--out", str(out), *tiny(), "--mint", "kappa=0.5", "w_overlap=0"])
    mint = json.loads((out / "mint" / "Bouncing" / "seed0" / "metrics.json").read_text())
    transporter = json.loads((out / "transporter" / "Bouncing" / "seed0" / "metrics.json").read_text())
    assert mint["config"]["kappa"] == 0.5 and mint["config"]["w_overlap"] == 0.0
    assert transporter["config"]["kappa"] == 0.9 and transporter["config"]["w_overlap"] == 30.0
    assert mint["budget"]["mint"] == {"kappa": 0.5, "w_overlap": 0}
    with pytest.raises(SystemExit, match="was written with another budget"):
        main(["--scenes", "Bouncing", "--out", str(out), *tiny(), "--mint", "kappa=1"])
    # an interrupted run (checkpoint, no metrics.json) resumes only under the config it was trained with
    (out / "mint" / "Bouncing" / "seed0" / "metrics.json").unlink()
    with pytest.raises(SystemExit, match=r"holds an interrupted run with another config .*'kappa': \(0.5, 1.0\)"):
        main(["--scenes", "Bouncing", "--out", str(out), *tiny(), "--encoders", "mint", "--mint", "kappa=1",
              "w_overlap=0"])
    with pytest.raises(SystemExit, match=r"another config .*'w_overlap': \(0.0, 30.0\)"):
        main(["--scenes", "Bouncing", "--out", str(out), *tiny(), "--encoders", "mint", "--mint", "kappa=0.5"])
    main(["--scenes", "Bouncing", "--out", str(out), *tiny(), "--encoders", "mint", "--mint", "kappa=0.5",
          "w_overlap=0"])
    assert (out / "mint" / "Bouncing" / "seed0" / "metrics.json").is_file()


@pytest.mark.parametrize(("item", "message"), [
    ("kappa=1.5", r"--mint kappa=1.5: MintConfig.kappa=1.5: must be in \[0, 1\]"),
    ("w_status=-1", "MintConfig.w_status=-1.0: must be >= 0"),
    ("entropy_window=4", "MintConfig.entropy_window=4: must be odd and >= 3"),
    ("num_keypoints=4", "--mint num_keypoints=4: num_keypoints is set by --num-keypoints"),
    ("image_size=[32,32]", "image_size is fixed by the scenes"),
    ("nofield=1", "MintConfig has no field 'nofield'"),
    ("kappa", "give FIELD=VALUE"),
    ("learn_temperature=False", "values are JSON: write false"),
])
def test_bad_mint_overrides_are_refused_before_any_work(tmp_path, capsys, item, message):
    with pytest.raises(SystemExit):
        main(["--scenes", "Bouncing", "--out", str(tmp_path / "x"), *tiny(), "--mint", item])
    import re
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_ablation_script_runs_variants_in_their_folders_and_tables_them(tmp_path, capsys):
    """experiments/mint_ablations.py: one evaluate_keypoints run per (variant, scene) with its overrides, a table
    with the change against the full method, finished runs skipped when rerun, bad variants refused."""
    ablations = load_script("mint_ablations")
    argv = ["--variants", "full", "kappa0", "--scenes", "Bouncing", "--steps", "3", "--frames", "40",
            "--eval-episodes", "1", "--eval-frames", "10", "--out", str(tmp_path / "abl"), "--no-progress"]
    table = ablations.main(argv)
    for variant, kappa in (("full", 0.9), ("kappa0", 0.0)):
        metrics = json.loads((tmp_path / "abl" / variant / "mint" / "Bouncing" / "seed0" / "metrics.json").read_text())
        assert metrics["config"]["kappa"] == kappa and metrics["budget"]["steps"] == 3
    assert "| full | the full method (our defaults) |" in table and "| kappa0 | κ = 0 (default 0.9) |" in table
    rows = list(csv.DictReader((tmp_path / "abl" / "ablations.csv").open()))
    assert [(r["variant"], r["scene"]) for r in rows] == [("full", "Bouncing"), ("kappa0", "Bouncing")]
    stamp = (tmp_path / "abl" / "full" / "mint" / "Bouncing" / "seed0" / "metrics.json").stat().st_mtime_ns
    ablations.main(argv)  # finished: skipped
    assert (tmp_path / "abl" / "full" / "mint" / "Bouncing" / "seed0" / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit):
        ablations.main(["--variants", "nope", "--out", str(tmp_path / "abl")])
    assert "unknown variant(s) ['nope']" in capsys.readouterr().err

    # --previous: an earlier export fills the cells whose run folders are gone; its own budget must match
    previous = tmp_path / "previous.json"
    shutil.copy2(tmp_path / "abl" / "ablations.json", previous)
    shutil.rmtree(tmp_path / "abl" / "kappa0")
    report = ["--report-only", *argv]
    assert "| kappa0 | κ = 0 (default 0.9) | (not run yet) |" in ablations.main(report)
    assert ablations.main([*report, "--previous", str(previous)]) == table
    rows = list(csv.DictReader((tmp_path / "abl" / "ablations.csv").open()))
    assert [r["source"] == str(previous) for r in rows] == [False, True]
    assert ablations.main([*argv, "--previous", str(previous)]) == table  # its cells are not trained again
    assert not (tmp_path / "abl" / "kappa0").exists()
    with pytest.raises(SystemExit, match="was made with"):
        ablations.main([*report, "--steps", "4", "--previous", str(previous)])
    data = json.loads(previous.read_text())
    data["variants"]["kappa0"]["overrides"] = {"kappa": 0.5}
    previous.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="variant kappa0 there set"):
        ablations.main([*report, "--previous", str(previous)])
    previous.write_text("{}")
    with pytest.raises(SystemExit, match="not an ablations.json"):
        ablations.main([*report, "--previous", str(previous)])
