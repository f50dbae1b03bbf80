"""kill -9 checks: a real SIGKILL in the middle of an atomic write, then a rerun that resumes.

Each child process kills itself with SIGKILL half-way through writing a checkpoint (so the moment is
deterministic, and nothing of Python's cleanup runs: no ``finally``, no lock release); the rerun must take
over the dead process's lock, remove the half-written temp file, resume from the last complete checkpoint
and count every evaluation once. Slow-marked (they start Python processes): ``pytest -m slow -k crash``.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from agents.run_folders import read_resume_state
from mint_rl.checkpoint import load_checkpoint
from mint_rl.run_lock import LOCK_NAME
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
pk = load_script("ppo_keypoints")  # the scripts: only their main
pretrain = load_script("pretrain")

pytestmark = pytest.mark.slow


def run_killed(driver: str, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``driver`` (Python code reading ``sys.argv[1:]``) in a child that must die of SIGKILL."""
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(driver), *argv], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    return child


PRETRAIN_KILLED_IN_SECOND_CHECKPOINT = """
    import io, os, runpy, signal, sys
    import torch

    real_save, calls = torch.save, []

    def dying_save(obj, f, *args, **kwargs):  # the 2nd checkpoint: half its bytes reach the temp file, then kill -9
        calls.append(1)
        if len(calls) < 2:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = dying_save
    runpy.run_path("experiments/pretrain.py", run_name="__main__")  # reads sys.argv[1:]
"""


def test_crash_pretrain_killed_while_writing_its_checkpoint(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    argv = ["--env", "MintScenes/Collisions-v0", "--out", str(out), "--frames", "48", "--num-envs", "2", "-k", "3",
            "--hidden-channels", "8", "--batch-size", "4", "--steps", "6", "--checkpoint-every", "2",
            "--video-frames", "0", "--no-progress"]
    run_killed(PRETRAIN_KILLED_IN_SECOND_CHECKPOINT, argv)
    stray = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(stray) == 1 and stray[0].startswith(".encoder.pt.")  # the half-written checkpoint
    assert load_checkpoint(out / "encoder.pt")["step"] == 2  # the last complete one is intact
    dead = json.loads((out / LOCK_NAME).read_text())["pid"]  # the lock file stays behind
    assert not (out / "summary.json").exists()

    capsys.readouterr()
    pretrain.main(argv)
    printed = capsys.readouterr().out
    assert f"took over the lock of {out} from pid {dead} on " in printed and "which is gone" in printed
    assert f"removed 1 temporary file(s) an interrupted write left: {stray[0]}" in printed
    assert "resumed from" in printed and "at step 2" in printed
    assert load_checkpoint(out / "encoder.pt")["step"] == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["resumed_from_step"] == 2
    assert sorted(p.name for p in out.iterdir() if "tmp" in p.name or p.name == LOCK_NAME) == []


PPO_KILLED_IN_CHECKPOINT_AT_1536 = """
    import os, runpy, signal, sys
    from stable_baselines3 import PPO

    real_save = PPO.save

    def dying_save(self, path, *args, **kwargs):  # the step-1536 resume checkpoint: half written, then kill -9
        real_save(self, path, *args, **kwargs)
        if ".tmp." in str(path) and self.num_timesteps >= 1536:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    PPO.save = dying_save
    runpy.run_path("experiments/ppo_keypoints.py", run_name="__main__")  # reads sys.argv[1:]
"""


def steps_of(path: Path) -> list[int]:
    with path.open(newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_crash_ppo_killed_mid_run_resumes_with_each_evaluation_once(tmp_path, capsys):
    torch.set_num_threads(1)
    argv = ["--env", "MintTasks/Catch-v0", "--agents", "ground_truth", "--timesteps", "2048", "--eval-freq", "512",
            "--checkpoint-every", "512", "--eval-episodes", "1", "--out", str(tmp_path), "--no-progress"]
    run_killed(PPO_KILLED_IN_CHECKPOINT_AT_1536, argv)
    env_dir = tmp_path / "MintTasks_Catch-v0"
    run_dir = env_dir / "ground_truth" / "seed0"
    assert read_resume_state(run_dir)["step"] == 1024  # the step-1536 checkpoint never completed
    assert (run_dir / "resume" / "model-1536.tmp.zip").is_file()
    dead = json.loads((env_dir / LOCK_NAME).read_text())["pid"]
    assert steps_of(run_dir / "evaluations.csv") == [512, 1024, 1536]  # evaluated at 1536 before being killed

    capsys.readouterr()
    report = pk.main(argv)
    printed = capsys.readouterr().out
    assert f"from pid {dead} on " in printed and "removed 1 temporary file(s)" in printed
    assert "resuming at step 1024" in printed
    assert steps_of(run_dir / "evaluations.csv") == [512, 1024, 1536, 2048]  # each evaluation once
    assert steps_of(env_dir / "evaluations.csv") == [512, 1024, 1536, 2048]
    done = json.loads((run_dir / "done.json").read_text())
    assert done["timesteps"] == 2048 and done["resumed"] == 1 and done["resumed_at"] == 1024
    assert "| ground_truth | 1† |" in report["table"]
    assert not (run_dir / "resume").exists() and not (env_dir / LOCK_NAME).exists()
