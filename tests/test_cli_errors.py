"""Bad flags of experiments/pretrain.py and experiments/ppo_keypoints.py: refused before any work, with argparse's
usage and one line naming the flag (exit status 2), no traceback, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
pk = load_script("ppo_keypoints")  # the scripts: only their main
pretrain = load_script("pretrain")


def pretrain_argv(out: Path, *extra: str) -> list[str]:
    return ["--out", str(out), "--frames", "48", "--num-envs", "2", "-k", "3", "--hidden-channels", "8",
            "--batch-size", "4", "--steps", "2", "--video-frames", "0", "--no-progress", *extra]


def ppo_argv(out: Path, *extra: str) -> list[str]:
    return ["--seeds", "1", "--timesteps", "512", "--pretrain-steps", "2", "--pretrain-frames", "48", "-k", "3",
            "--eval-episodes", "1", "--out", str(out), "--no-progress", *extra]


def refused(main, argv: list[str], capsys) -> str:
    """Run ``main(argv)``; assert argparse refused it (exit 2, no traceback); return its one error line."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("usage:")
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--steps", "-5"], "--steps must be >= 1, got -5"),
    (["--frames", "0"], "--frames must be >= 1, got 0"),
    (["--frames", "5"], "--frames 5 leaves fewer than --clip-length 3 frames to each of the --num-envs 2 streams"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1, got 0"),
    (["--num-envs", "0"], "--num-envs must be >= 1, got 0"),
    (["--video-frames", "-1"], "--video-frames must be >= 0, got -1"),
    (["--lr", "nan"], "--lr=nan: must be"),
    (["--batch-size", "0"], "--batch-size=0: must be >= 1"),
    (["--clip-length", "1"], "--clip-length=1: clips need at least 2 frames"),
    (["-k", "0"], "--num-keypoints=0: need at least one keypoint"),
    (["--image-size", "8"], "--image-size=(8, 8): must be (H, W) with both sides >= 16 pixels"),
    (["--device", "tpu"], "--device: device 'tpu' is not a valid torch device"),
])
def test_pretrain_refuses_bad_flags(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert message in refused(pretrain.main, pretrain_argv(out, *flags), capsys)
    assert not out.exists()  # no work done: not even the folder


def test_pretrain_refuses_an_out_that_is_a_file(tmp_path, capsys):
    file = tmp_path / "encoder.pt"
    file.write_bytes(b"not a folder")
    assert f"--out {file} is a file (or inside one); give a folder" in refused(pretrain.main, pretrain_argv(file),
                                                                               capsys)
    assert "is a file" in refused(pretrain.main, pretrain_argv(file / "sub"), capsys)
    assert file.read_bytes() == b"not a folder"


@pytest.mark.parametrize("flags, message", [
    (["--threshold", "nan"], "--threshold must be a finite return, got nan"),
    (["--threshold", "inf"], "--threshold must be a finite return, got inf"),
    # the case: this used to train the pixel agent to the end, then crash on the mint agent
    (["--agents", "pixels", "mint", "--online", "--online-updates", "0"], "--online-updates must be >= 1"),
    (["--agents", "mint", "--online", "--pretrain-steps", "0", "--colour-codes", "8"],
     "--online with --pretrain-steps 0 co-trains one from scratch"),
    (["--agents", "mint", "--no-online", "--pretrain-steps", "0"], "--pretrain-steps must be >= 1, got 0 (0, no "
                                                                   "pretraining, only with --online"),
    (["--agents", "mint", "--pretrain-steps", "-1", "--online"], "--pretrain-steps must be >= 1, got -1"),
    (["--agents", "mint", "--drop-background", "--colour-codes", "0"], "--drop-background drops the keypoints whose "
                                                                        "colour code is the background's: give "
                                                                        "--colour-codes N"),
    (["--agents", "mint", "--equal-codes", "--colour-codes", "0"], "--equal-codes starts every colour code with the "
                                                                     "same embedding in a set extractor: give "
                                                                     "--colour-codes N (now 0)"),
    (["--agents", "mint", "--equal-codes", "--extractor", "mlp"], "and a set extractor, not mlp or map (now --extractor mlp)"),
    (["--agents", "pixels", "--equal-codes"], "--equal-codes acts on the extractor of the keypoint agents"),
    (["--agents", "mint", "--relation-dim", "0"], "--relation-dim must be a whole number in [1, 1024]"),
    (["--agents", "mint", "--extractor", "set", "--relation-dim", "32"], "give --extractor relation (now set)"),
    (["--agents", "mint", "--code-gain", "-1"], "--code-gain must be in [0, 2]"),
    (["--agents", "mint", "--no-equal-codes", "--code-gain", "0.5"], "--code-gain 0.5 sets the start of the weights"),
    (["--online-updates", "-3"], "--online-updates must be >= 1 (MINT steps after each rollout), got -3"),
    (["--overlay-every", "-1"], "--overlay-every must be >= 0, got -1"),
    (["--first-seed", "-1"], "--first-seed must be >= 0, got -1"),
    (["--first-seed", "8", "--seeds", "3"], "--first-seed 8 --seeds 3 asks for training seeds up to 10; they must "
                                            "stay <= 9"),
    (["--seeds", "11"], "--first-seed 0 --seeds 11 asks for training seeds up to 10"),
    (["--agents", "mint", "--refine", "4"], "--refine 4: give an odd window >= 3 pixels"),
    (["--agents", "mint", "transporter", "--online", "--pretrain-steps", "0", "--colour-codes", "0"],
     "--pretrain-steps 0: the transporter agent's encoder is pretrained with those steps"),
    (["--agents", "mint", "--refine", "-1"], "--refine -1: give an odd window >= 3 pixels"),
    (["--agents", "mint", "--refine", "5", "--refine-snap", "8"], "--refine-snap 8: give an odd window >= 3 pixels"),
    (["--agents", "mint", "--refine-snap", "9"], "--refine-snap 9 snaps keypoints before the refinement: give --refine"),
])
def test_ppo_refuses_bad_flags(tmp_path, capsys, flags, message):
    out = tmp_path / "ppo"
    assert message in refused(pk.main, ppo_argv(out, *flags), capsys)
    assert not out.exists()


def test_ppo_refuses_an_out_or_export_that_is_a_file(tmp_path, capsys):
    file = tmp_path / "results.txt"
    file.write_text("x")
    assert f"--out {file} is a file" in refused(pk.main, ppo_argv(file), capsys)
    assert f"--export {file} is a file" in refused(pk.main, ppo_argv(tmp_path / "ppo", "--export", str(file)), capsys)
    assert not (tmp_path / "ppo").exists()


def test_command_line_error_is_one_line_without_traceback(tmp_path):
    """The same from a shell (one script: both refuse through ``ArgumentParser.error``)."""
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "pretrain.py"),
                           *pretrain_argv(tmp_path / "run", "--steps", "0")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("usage: pretrain.py") and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "pretrain.py: error: --steps must be >= 1, got 0"
    assert not (tmp_path / "run").exists()
