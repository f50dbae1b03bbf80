"""benchmarks/bench_step_ab.py: the paired A/B of a training step, on a trained checkpoint and its frames, and its bad
flags (refused before any worker starts)."""

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
