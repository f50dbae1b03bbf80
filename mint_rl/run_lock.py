"""One process per run folder, and the cleanup of what a killed process left in it.

:class:`RunLock` holds ``<folder>/.lock`` while a script writes a run folder, so that a second,
independent process on the same folder is refused instead of interleaving its checkpoints and
result rows with the first one's::

    with RunLock("runs/pretrain/pong"):       # RunLockError if another live process holds it
        ...                                   # write the folder

The lock file names its holder (pid, host, start time, torchrun launch) for the error message;
the exclusion itself is an advisory ``flock`` on that file. The kernel drops a ``flock`` when
its holder exits, however it exits (``kill -9`` included), so a lock is taken over exactly when
the process that held it is gone (:attr:`RunLock.previous` then describes it), never while it
lives, without pid-liveness guesses (pid reuse, zombies). A second ``RunLock`` on the same
folder in the same process is refused too (``flock`` locks belong to open files, not to
processes). POSIX only (Linux, macOS); on a network file system ``flock`` is as good as its
server's locking.

Under ``torchrun`` the ranks of one launch share the lock: rank 0 (environment ``RANK``
unset or ``0``) takes it and records the launch (``TORCHELASTIC_RUN_ID`` and the rendezvous
``MASTER_ADDR:MASTER_PORT``); every other rank waits until the lock names its own launch and
is refused if it names another live one.

:func:`remove_stray_temp_files` deletes the temporary files of atomic writes a killed process
left (``.encoder.pt.<random>.tmp`` from :func:`mint_rl.checkpoint.atomic_torch_save`,
``frames.tmp.npz``, ``summary.json.tmp``, ``model-1024.tmp.zip``, ...); call it while holding
the folder's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["LOCK_NAME", "RunLock", "RunLockError", "claim_run_folder", "locked_run_folder", "describe_holder", "is_locked", "launch_id",
           "remove_stray_temp_files"]

LOCK_NAME = ".lock"
# names the atomic writers of this project give their temporary files: "<name>.tmp" or "<name>.tmp.<ext>"
TEMP_FILE = re.compile(r"\.tmp(\.[A-Za-z0-9]+)?$")


class RunLockError(RuntimeError):
    """A run folder is in use by another live process (or this launch's rank 0 never took its lock)."""


def launch_id() -> str | None:
    """What the processes of one ``torchrun`` launch share (None outside a distributed launch)."""
    if "RANK" not in os.environ:
        return None
    env = os.environ
    return f"{env.get('TORCHELASTIC_RUN_ID', '-')}@{env.get('MASTER_ADDR', '-')}:{env.get('MASTER_PORT', '-')}"


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _read_holder(path: Path) -> dict[str, Any]:
    """The lock file's record, or ``{}`` when it is missing, empty or not JSON (being written)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def is_locked(path: str | os.PathLike) -> bool:
    """Whether some live process holds the ``flock`` of the lock file ``path`` (False if it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if it was taken
    return False


def describe_holder(record: dict[str, Any]) -> str:
    """``pid 1234 on host h (started 2025-01-01 12:00:00)`` from a lock record."""
    if not record:
        return "another process (its lock record is being written)"
    text = f"pid {record.get('pid', '?')} on {record.get('host', '?')}"
    if record.get("started"):
        text += f" (started {record['started']})"
    if record.get("launch"):
        text += f", torchrun launch {record['launch']}"
    return text


class RunLock:
    """Exclusive use of a run folder by one process (or by the ranks of one ``torchrun`` launch).

    :param folder: the run folder (created if missing); the lock is ``<folder>/.lock``.
    :param wait_for_rank0: ranks other than 0: seconds to wait for rank 0 of the launch to take the lock.
    :raises RunLockError: from :meth:`acquire` (and ``with``) when another live process holds the folder.
    """

    def __init__(self, folder: str | os.PathLike, wait_for_rank0: float = 120.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.wait_for_rank0 = wait_for_rank0
        self.owner = _rank() == 0  # rank 0 (or a plain process) holds the lock; other ranks join it
        self.previous: dict[str, Any] | None = None  # the record of a holder that was gone, when taken over
        self._fd: int | None = None  # rank 0: the open, flock-ed lock file
        self._joined = False  # other ranks: rank 0 of this launch holds the lock

    @property
    def held(self) -> bool:
        """Whether this process may write the folder: it holds the lock, or its launch's rank 0 does."""
        return self._fd is not None or self._joined

    def acquire(self) -> "RunLock":
        """Take the lock (rank 0) or check that rank 0 of this launch holds it (other ranks); returns self."""
        if self.held:
            raise RunLockError(f"{self.path} is already held by this RunLock")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.owner:
            self._take()
        else:
            self._join()
            self._joined = True
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (no-op if not held; other ranks leave the file to rank 0)."""
        self._joined = False
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: a waiting opener sees another inode and retries
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ internals
    def _record(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "launch": launch_id(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def _refusal(self, record: dict[str, Any]) -> RunLockError:
        return RunLockError(f"run folder {self.folder} is in use by {describe_holder(record)} (lock {self.path}); "
                            "two processes writing one folder would interleave their checkpoints and results. "
                            "Wait for it to finish or stop it, or use another output folder.")

    def _take(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refusal(_read_holder(self.path)) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder released (removed) the file between our open and flock: try again
        previous = _read_holder(self.path)
        self.previous = previous or None  # a record left behind: its process is gone (the kernel dropped its lock)
        data = json.dumps(self._record()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        self._fd = fd

    def _join(self) -> None:
        mine = launch_id()
        deadline = time.monotonic() + self.wait_for_rank0
        while True:
            record = _read_holder(self.path)
            if record and is_locked(self.path):  # a record left by a dead holder does not count, even of our id
                if record.get("launch") == mine:
                    return
                raise self._refusal(record)
            if time.monotonic() > deadline:
                raise RunLockError(f"rank {_rank()}: rank 0 of this torchrun launch ({mine}) did not take the lock "
                                   f"{self.path} within {self.wait_for_rank0:.0f} s")
            time.sleep(0.05)


def remove_stray_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes under ``folder`` (recursively); return them.

    Subfolders whose own ``.lock`` is held by a live process (another run's folder) are skipped.
    Call it while holding ``folder``'s :class:`RunLock`, so that no write of this folder is under way.
    """
    removed = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if here != Path(folder) and LOCK_NAME in files and is_locked(here / LOCK_NAME):
            dirs.clear()
            continue
        for name in files:
            if TEMP_FILE.search(name):
                (here / name).unlink(missing_ok=True)
                removed.append(here / name)
    return sorted(removed)


def claim_run_folder(folder: str | os.PathLike) -> tuple[RunLock, list[str]]:
    """Lock ``folder`` (:meth:`RunLock.acquire`) and, as the lock's holder, remove stray temp files.

    :return: the held lock (release it, e.g. ``with lock:``) and lines saying what was taken over or removed.
    :raises RunLockError: another live process holds the folder.
    """
    lock = RunLock(folder).acquire()
    notes = []
    if lock.previous:
        notes.append(f"took over the lock of {lock.folder} from {describe_holder(lock.previous)}, which is gone")
    try:
        removed = remove_stray_temp_files(lock.folder) if lock.owner else []
    except BaseException:
        lock.release()
        raise
    if removed:
        notes.append(f"removed {len(removed)} temporary file(s) an interrupted write left: "
                     + ", ".join(str(p.relative_to(lock.folder)) for p in removed))
    return lock, notes


@contextlib.contextmanager
def locked_run_folder(folder: str | os.PathLike, flag: str = "--out") -> Iterator[RunLock]:
    """What a script does with its output folder: :func:`claim_run_folder` for the ``with`` block, the notes
    printed, and a held folder turned into ``SystemExit`` naming the script's ``flag``.

    :raises SystemExit: another live process holds the folder.
    """
    try:
        lock, notes = claim_run_folder(folder)
    except RunLockError as exc:
        raise SystemExit(f"{flag}: {exc}") from exc
    with lock:
        for note in notes:
            print(note, flush=True)
        yield lock
