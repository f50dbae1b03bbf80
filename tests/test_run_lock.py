"""mint_rl.run_lock: one process per run folder (a lock file, taken over only once its holder is gone), the
ranks of one torchrun launch sharing it, and the cleanup of temp files a killed atomic write left."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mint_rl.run_lock import LOCK_NAME, RunLock, RunLockError, claim_run_folder, is_locked, remove_stray_temp_files

ROOT = Path(__file__).resolve().parents[1]


def hold_lock(folder: Path) -> subprocess.Popen:
    """A child process that holds ``folder``'s lock until its stdin closes (it has the lock once this returns)."""
    code = textwrap.dedent("""
        import sys
        from mint_rl.run_lock import RunLock
        with RunLock(sys.argv[1]):
            print("locked", flush=True)
            sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=ROOT)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_lock_on_a_folder_in_the_same_process_is_refused(tmp_path):
    with RunLock(tmp_path) as lock:
        record = json.loads((tmp_path / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid() and lock.held and lock.previous is None
        with pytest.raises(RunLockError, match=f"in use by pid {os.getpid()} on .*{LOCK_NAME}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()  # released: the file is gone
    with RunLock(tmp_path) as again:  # and the folder can be locked again
        assert again.previous is None


def test_a_process_holding_the_lock_blocks_another_process(tmp_path):
    child = hold_lock(tmp_path)
    try:
        assert is_locked(tmp_path / LOCK_NAME)
        with pytest.raises(RunLockError, match=f"in use by pid {child.pid} "):
            RunLock(tmp_path).acquire()
        other = subprocess.run([sys.executable, "-c", "import sys; from mint_rl.run_lock import RunLock; "
                                "RunLock(sys.argv[1]).acquire()", str(tmp_path)], capture_output=True, text=True,
                               cwd=ROOT)
        assert other.returncode != 0 and f"in use by pid {child.pid}" in other.stderr
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    with RunLock(tmp_path) as lock:  # the holder ended normally: nothing to take over
        assert lock.previous is None


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    child = hold_lock(tmp_path)
    child.send_signal(signal.SIGKILL)  # kill -9: the lock file stays, the kernel drops its flock
    child.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).is_file() and not is_locked(tmp_path / LOCK_NAME)
    lock, notes = claim_run_folder(tmp_path)
    with lock:
        assert lock.previous["pid"] == child.pid
        assert len(notes) == 1 and f"from pid {child.pid}" in notes[0] and "which is gone" in notes[0]
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_stale_lock_record_of_a_gone_pid_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": gone.pid, "host": "here"}))
    with RunLock(tmp_path) as lock:
        assert lock.previous == {"pid": gone.pid, "host": "here"}


def launch(monkeypatch, rank: int, port: str) -> None:
    for key, value in {"RANK": str(rank), "TORCHELASTIC_RUN_ID": "none", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": port}.items():
        monkeypatch.setenv(key, value)


def test_ranks_of_one_torchrun_launch_share_the_lock(tmp_path, monkeypatch):
    launch(monkeypatch, 0, "29500")
    with RunLock(tmp_path) as rank0:
        assert rank0.owner and json.loads((tmp_path / LOCK_NAME).read_text())["launch"] == "none@127.0.0.1:29500"
        launch(monkeypatch, 1, "29500")  # rank 1 of the same launch joins
        with RunLock(tmp_path, wait_for_rank0=1) as rank1:
            assert rank1.held and not rank1.owner
        assert (tmp_path / LOCK_NAME).is_file()  # rank 1 leaves the lock to rank 0
        launch(monkeypatch, 1, "29501")  # rank 1 of another launch is refused
        with pytest.raises(RunLockError, match="in use by pid .* torchrun launch none@127.0.0.1:29500"):
            RunLock(tmp_path, wait_for_rank0=1).acquire()
    with pytest.raises(RunLockError, match="rank 1: rank 0 of this torchrun launch .* did not take the lock"):
        RunLock(tmp_path, wait_for_rank0=0.2).acquire()
    # a record of the same launch id left by a killed rank 0 (ids repeat across launches) is not the lock either
    launch(monkeypatch, 1, "29501")
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "here", "launch": "none@127.0.0.1:29501"}))
    with pytest.raises(RunLockError, match="did not take the lock"):
        RunLock(tmp_path, wait_for_rank0=0.2).acquire()


def test_remove_stray_temp_files(tmp_path):
    stray = [".encoder.pt.k2j4x9.tmp", "frames.tmp.npz", "resume/model-1024.tmp.zip", "seed0/done.json.tmp",
             "evaluations.csv.tmp"]
    kept = ["encoder.pt", "frames.npz", "resume/model-512.zip", "template.md", "notes.tmpl", "busy/x.tmp"]
    for name in stray + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    with RunLock(tmp_path / "busy"):  # another run's folder inside, in use: left alone
        assert remove_stray_temp_files(tmp_path) == sorted(tmp_path / n for n in stray)
    assert all(not (tmp_path / n).exists() for n in stray) and all((tmp_path / n).exists() for n in kept)
