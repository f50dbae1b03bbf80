"""benchmarks/bench_step_ab.py: the paired A/B of a training step, on a trained checkpoint and its frames, and its bad
flags (refused before any worker starts)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mint_rl.config import MintConfig
from mint_rl.frame_cache import given_frames_source, save_frames
from mint_rl.trainer import MintTrainer

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_step_ab.py"
_spec = importlib.util.spec_from_file_location("bench_step_ab", BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def run(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *flags], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture
def trained(tmp_path) -> tuple[Path, Path]:
    """A tiny checkpoint (2 training steps) and the frame cache it was trained on (40×40: the NatureCNN yardstick
    needs at least 36×36)."""
    cfg = MintConfig(num_keypoints=2, image_size=(40, 40), hidden_channels=4, batch_size=2)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (1, 12, 40, 40, 3), dtype=np.uint8)
    starts = np.zeros((1, 12), bool)
    starts[:, 0] = True
    save_frames(tmp_path / "frames.npz", frames, starts, given_frames_source("test", 12, "random pixels"))
    trainer = MintTrainer(cfg, checkpoint_path=tmp_path / "encoder.pt")
    trainer.fit(trainer.frame_buffer(frames, starts), steps=2, progress=False)
    return tmp_path / "encoder.pt", tmp_path / "frames.npz"


def test_trained_encoder_ab_runs_both_versions(trained):
    encoder, frames = trained
    done = run("--before", str(ROOT), "--encoder", str(encoder), "--frames", str(frames), "--reps", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"trained encoder {encoder}" in lines[0]
    assert any(line.startswith("trained before ") and " ms " in line for line in lines)
    assert any(line.startswith("trained after ") for line in lines)
    assert "trained speed-up before/after: median of 2 pairs" in done.stdout


@pytest.mark.parametrize("flags, message", [
    (["--encoder", "x.pt"], "--encoder and --frames go together"),
    (["--frames", "x.npz"], "--encoder and --frames go together"),
    (["--encoder", "missing.pt", "--frames", "missing.npz"], "--encoder missing.pt: no such file"),
    (["--threads", "0"], "--threads 0: give 1 or more"),
    (["--reps", "1"], "--reps 1: give 2 or more"),
])
def test_bad_flags_are_refused(flags, message):
    done = run(*flags)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_clip_starts_keep_clips_inside_one_episode():
    starts = np.zeros((2, 7), bool)
    starts[:, 0] = True
    starts[0, 3] = True  # stream 0: episodes at 0–2 and 3–6; stream 1: one episode 0–6
    got = {tuple(x) for x in bench.clip_starts(starts, 3).tolist()}
    assert got == {(0, 0), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)}
    assert len(bench.clip_starts(starts, 8)) == 0
    starts[1, 1::2] = True  # stream 1: episodes of 1–2 frames
    assert {tuple(x) for x in bench.clip_starts(starts, 3).tolist()} == {(0, 0), (0, 3), (0, 4)}


def test_frames_without_a_whole_clip_are_refused(tmp_path, trained):
    encoder, _ = trained
    frames = np.zeros((1, 6, 40, 40, 3), np.uint8)
    starts = np.ones((1, 6), bool)  # every frame begins an episode
    save_frames(tmp_path / "short.npz", frames, starts, given_frames_source("test", 6, "one-frame episodes"))
    with pytest.raises(ValueError, match="no episode holds 3 consecutive frames"):
        bench.trained_setup(str(encoder), str(tmp_path / "short.npz"))
