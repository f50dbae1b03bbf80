"""Honest run folders: pretrain.py refuses an --out made for other frames or (on resume) other hyperparameters and
writes nothing when there is nothing to train; one process per folder for both scripts; stray temp files and stale
locks of killed runs are cleaned up; a resumed PPO run refuses a swapped encoder and is marked in the results."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.run_folders import read_resume_state
from mint_rl.checkpoint import load_checkpoint, save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.run_lock import LOCK_NAME
from mint_rl.utils import file_sha256
from tests.conftest import kill_ppo_runs_at, load_script
from tests.test_run_lock import hold_lock

pk = load_script("ppo_keypoints")  # the scripts: only their main
pretrain = load_script("pretrain")

ENV = "MintScenes/Collisions-v0"
OUTPUTS = ("config.json", "summary.json", "encoder.pt", "frames.npz")


def tiny(out: Path, *extra: str) -> list[str]:
    """Two MINT steps on 48 frames of 2 streams, K = 3, no video."""
    return ["--env", ENV, "--out", str(out), "--frames", "48", "--num-envs", "2", "-k", "3", "--hidden-channels",
            "8", "--batch-size", "4", "--checkpoint-every", "1", "--steps", "2", "--video-frames", "0",
            "--no-progress", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny pretraining run (copy it before changing it)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pretrain") / "run"
    pretrain.main(tiny(out))
    return out


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A private copy of the finished run."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS if (out / name).is_file()}


# --------------------------------------------------------------------------- pretrain.py: frames of another env
@pytest.mark.parametrize("flags, difference", [
    (["--env", "MintScenes/Bouncing-v0"], "env_id: 'MintScenes/Collisions-v0' → 'MintScenes/Bouncing-v0'"),
    (["--frames", "60"], "frames: 48 → 60"),
    (["--num-envs", "3"], "num_envs: 2 → 3"),
    (["--seed", "1"], "seed: 0 → 1"),
])
@pytest.mark.parametrize("with_checkpoint", [True, False], ids=["checkpoint", "cache-only"])
def test_pretrain_refuses_an_out_made_for_other_frames(run, flags, difference, with_checkpoint):
    if not with_checkpoint:
        (run / "encoder.pt").unlink()
    before = snapshot(run)
    where = "encoder.pt was trained on other frames" if with_checkpoint else "frames.npz holds other frames"
    with pytest.raises(SystemExit, match=where) as info:
        pretrain.main(tiny(run, *flags, "--steps", "4"))
    assert difference in str(info.value)
    assert snapshot(run) == before  # nothing trained, nothing rewritten


def test_pretrain_refuses_a_frame_cache_without_record(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    np.savez_compressed(out / "frames.npz", frames=np.zeros((2, 24, 64, 64, 3), np.uint8),
                        starts=np.ones((2, 24), bool))  # as written before caches had records
    with pytest.raises(SystemExit, match="frames.npz holds other frames .*the cache has no record"):
        pretrain.main(tiny(out))
    assert not (out / "encoder.pt").exists()


# --------------------------------------------------------------------------- pretrain.py: resume with other settings
def test_pretrain_resume_with_other_hyperparameters(run, capsys):
    before = snapshot(run)
    with pytest.raises(SystemExit, match="trained with other hyperparameters") as info:
        pretrain.main(tiny(run, "--steps", "3", "--lr", "0.01", "--batch-size", "6"))
    assert "(lr: 0.001 → 0.01; batch_size: 4 → 6; checkpoint → this command)" in str(info.value)
    assert "--allow-config-change" in str(info.value)
    assert snapshot(run) == before

    capsys.readouterr()
    pretrain.main(tiny(run, "--steps", "3", "--lr", "0.01", "--batch-size", "6", "--allow-config-change"))
    assert "resumed from" in capsys.readouterr().out
    data = load_checkpoint(run / "encoder.pt")
    assert data["step"] == 3 and data["config"].lr == 0.01 and data["config"].batch_size == 6
    assert all(group["lr"] == 0.01 for group in data["optimizer"]["param_groups"])  # the new lr is in use
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config_changes_at_resume"] == ["lr: 0.001 → 0.01", "batch_size: 4 → 6"]
    assert summary["resumed_from_step"] == 2 and summary["steps_this_run"] == 1


def test_pretrain_resume_never_changes_the_architecture(run):
    with pytest.raises(SystemExit, match="holds another architecture .*num_keypoints: 3 → 4"):
        pretrain.main(tiny(run, "--steps", "3", "-k", "4", "--allow-config-change"))


@pytest.mark.parametrize("steps", ["2", "1"])
def test_pretrain_with_nothing_to_train_writes_nothing(run, capsys, steps):
    before = {name: (run / name).stat().st_mtime_ns for name in OUTPUTS}
    capsys.readouterr()
    path = pretrain.main(tiny(run, "--steps", steps))
    out = capsys.readouterr().out
    assert "nothing to train: the checkpoint in" in out and "no file was written" in out
    assert "encoder:" not in out  # no encoder path it did not write
    assert path == run / "encoder.pt"
    assert {name: (run / name).stat().st_mtime_ns for name in OUTPUTS} == before


# --------------------------------------------------------------------------- one process per folder
def test_pretrain_refuses_a_second_process_on_its_out(tmp_path):
    out = tmp_path / "run"
    child = hold_lock(out)
    try:
        with pytest.raises(SystemExit, match=f"--out: run folder {out} is in use by pid {child.pid} "):
            pretrain.main(tiny(out))
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert sorted(p.name for p in out.iterdir()) == []  # refused before collecting anything


def test_ppo_refuses_a_second_process_on_its_out(tmp_path):
    env_dir = tmp_path / "MintTasks_Catch-v0"
    child = hold_lock(env_dir)
    try:
        with pytest.raises(SystemExit, match=f"in use by pid {child.pid} "):
            pk.main(["--out", str(tmp_path), "--timesteps", "512", "--agents", "ground_truth", "--no-progress"])
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert sorted(p.name for p in env_dir.iterdir()) == []


def test_pretrain_cleans_up_after_a_killed_run(run, capsys):
    """A stale lock (its process gone) is taken over, temp files of interrupted atomic writes are removed."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run / LOCK_NAME).write_text(json.dumps({"pid": gone.pid, "host": "here"}))
    for name in (".encoder.pt.x8f2k1.tmp", "frames.tmp.npz", "summary.json.tmp"):
        (run / name).write_bytes(b"half a file")
    capsys.readouterr()
    pretrain.main(tiny(run, "--steps", "3"))
    out = capsys.readouterr().out
    assert f"took over the lock of {run} from pid {gone.pid} on here, which is gone" in out
    assert "removed 3 temporary file(s) an interrupted write left" in out
    assert sorted(p.name for p in run.iterdir() if "tmp" in p.name or p.name == LOCK_NAME) == []
    assert load_checkpoint(run / "encoder.pt")["step"] == 3


# --------------------------------------------------------------------------- ppo_keypoints.py
def test_ppo_refuses_a_pretraining_cache_of_other_frames(tmp_path):
    cache = tmp_path / "MintTasks_Catch-v0" / "encoders" / "frames-f48.npz"
    cache.parent.mkdir(parents=True)
    np.savez_compressed(cache, frames=np.zeros((4, 12, 64, 64, 3), np.uint8), starts=np.ones((4, 12), bool))
    with pytest.raises(SystemExit, match="frames-f48.npz holds other frames .*no record"):
        pk.main(["--out", str(tmp_path), "--timesteps", "512", "--agents", "mint", "--pretrain-frames", "48",
                 "--pretrain-steps", "2", "-k", "3", "--no-progress"])


def test_ppo_resume_refuses_a_swapped_encoder_and_marks_resumed_seeds(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    config = MintConfig(num_keypoints=3, image_size=(64, 64))
    encoder = tmp_path / "encoder.pt"
    torch.manual_seed(0)
    save_checkpoint(encoder, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict()})
    original = encoder.read_bytes()
    argv = ["--env", "MintTasks/Catch-v0", "--agents", "mint", "--encoder", str(encoder), "--timesteps", "1024",
            "--checkpoint-every", "512", "--eval-freq", "512", "--eval-episodes", "1", "--overlay-every", "0",
            "--out", str(tmp_path / "ppo"), "--no-progress"]
    revive = kill_ppo_runs_at(monkeypatch, 512)  # killed right after the step-512 checkpoint
    with pytest.raises(KeyboardInterrupt):
        pk.main(argv)
    revive()
    run_dir = tmp_path / "ppo" / "MintTasks_Catch-v0" / "mint-relation-c8w5-eqc-lrlin-n1-auxr2" / "seed0"
    state = read_resume_state(run_dir)
    assert state["step"] == 512 and state["encoder_sha256"] == file_sha256(encoder) and state["resumes"] == 0

    torch.manual_seed(1)  # another encoder of the same architecture, under the same name
    save_checkpoint(encoder, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict()})
    rows = (run_dir / "evaluations.csv").read_text()
    with pytest.raises(SystemExit, match=f"{run_dir} cannot resume: its encoder .* now has sha256 "
                                         f"{file_sha256(encoder)[:12]}…, but the run started with "
                                         f"{state['encoder_sha256'][:12]}…"):
        pk.main(argv)
    assert (run_dir / "evaluations.csv").read_text() == rows and not (run_dir / "done.json").exists()

    encoder.write_bytes(original)
    capsys.readouterr()
    report = pk.main(argv)
    assert "resuming at step 512" in capsys.readouterr().out
    done = json.loads((run_dir / "done.json").read_text())
    assert done["resumed"] == 1 and done["resumed_at"] == 512
    summary = json.loads((run_dir.parents[1] / "summary.json").read_text())
    assert summary["agents"]["mint-relation-c8w5-eqc-lrlin-n1-auxr2"]["resumed_seeds"] == [0]
    assert "| mint-relation-c8w5-eqc-lrlin-n1-auxr2 | 1† |" in report["table"]
    assert "† resumed from a mid-way checkpoint after an interruption, so not bit-identical" in report["table"]
    assert report["table"].rstrip().endswith("mint-relation-c8w5-eqc-lrlin-n1-auxr2 seed 0")


@pytest.mark.parametrize("env", ["MintTasks/Catch-v0", "ALE/Pong-v5"])
def test_finished_runs_under_the_same_protocol_join_the_table(tmp_path, env):
    """agents.report.result_labels: a label run earlier in the same folder joins this experiment's table when its
    finished runs share the protocol (env, budget, evaluation, PPO; on ALE ids the evaluation policy too), and only
    then."""
    import json

    from agents.experiment_settings import PPOExperiment
    from agents.report import result_labels

    exp = PPOExperiment(env=env, agents=["mint"], timesteps=4096, out=str(tmp_path))
    env_dir = tmp_path / "env"

    def finished(label: str, settings: dict) -> None:
        (env_dir / label / "seed0").mkdir(parents=True)
        (env_dir / label / "seed0" / "done.json").write_text(json.dumps({"settings": settings}))

    same = exp.run_settings("pixels")
    finished("same-protocol", dict(same, extractor="set"))
    finished("other-budget", dict(same, timesteps=8192))
    if exp.atari:  # a run of the deterministic evaluation, before eval_policy was recorded
        finished("deterministic-eval", {k: v for k, v in same.items() if k != "eval_policy"})
    (env_dir / "unfinished" / "seed0").mkdir(parents=True)
    assert result_labels(exp, env_dir, ["mint"]) == ["mint", "same-protocol"]
