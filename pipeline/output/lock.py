"""Advisory locks on the output folder.

- `OutputLock`: one run at a time per output folder and shard (OUT/.docextract/lock, or
  OUT/.docextract/lock-shard-I-of-N), so shards may share a folder while a repeated run waits
  or leaves, and an unsharded run never runs beside a shard.
- `RunMark`: held by every live run (OUT/.docextract/live/<run_id>.lock), so reconciliation
  never touches the files of a run that is still writing.
Locks are held by open file descriptors: the kernel releases them when the process dies, even by
SIGKILL, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import OutputLocked
from pipeline.output.layout import live_dir, state_dir


class OutputLock:
    """Exclusive lock on an output folder; `wait` blocks until it is free (up to `timeout_s`),
    telling `on_wait` once what it waits for.

    An unsharded run holds OUT/.docextract/lock exclusively. A shard holds it shared (so shards
    run side by side, but never beside an unsharded run, which would redo their documents) and
    its own OUT/.docextract/lock-shard-I-of-N exclusively.
    """

    def __init__(
        self,
        out: Path,
        wait: bool = False,
        timeout_s: float | None = None,
        shard: tuple[int, int] = (0, 1),
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        index, count = shard
        self.out, self.shard = out, shard
        self.folder_lock = state_dir(out) / "lock"
        self.path = (
            self.folder_lock
            if count == 1
            else self.folder_lock.with_name(f"lock-shard-{index}-of-{count}")
        )
        self.wait = wait
        self.timeout_s = timeout_s
        self.on_wait = on_wait
        self._fds: list[int] = []

    def __enter__(self) -> OutputLock:
        self.folder_lock.parent.mkdir(parents=True, exist_ok=True)
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        try:
            if self.path != self.folder_lock:
                self._fds.append(self._acquire(self.folder_lock, fcntl.LOCK_SH, deadline))
                self._refuse_other_shard_counts()
            fd = self._acquire(self.path, fcntl.LOCK_EX, deadline)
        except BaseException:
            self.__exit__()
            raise
        self._fds.append(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return self

    def _refuse_other_shard_counts(self) -> None:
        """Shards split the documents by their count: a run of 3 shards beside live runs of 2
        would do some documents twice, so a live shard of another count refuses this one."""
        count = self.shard[1]
        for path in sorted(self.folder_lock.parent.glob("lock-shard-*-of-*")):
            other = int(path.name.rsplit("-", 1)[1])
            if other != count and _held(path):
                index = path.name.split("-")[2]
                raise OutputLocked(
                    f"{self.out}: shard {index}/{other} of a run of {other} shards is writing "
                    f"here; --shard I/{count} would redo its documents (use I/{other}, or wait)"
                )

    def _acquire(self, path: Path, mode: int, deadline: float | None) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                holder = _read_holder(path)  # the pid an exclusive holder wrote, if any
                if not self.wait or (deadline is not None and time.monotonic() > deadline):
                    os.close(fd)
                    raise OutputLocked(
                        f"{self.out}: another docextract run{holder} is writing here;"
                        " pass --wait to queue behind it"
                    ) from None
                if self.on_wait is not None:
                    self.on_wait(
                        f"{self.out}: another docextract run{holder} is writing here; "
                        "waiting for it to finish (--wait)"
                    )
                    self.on_wait = None  # say it once
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if len(self._fds) == 1 and self.path == self.folder_lock:
            os.ftruncate(self._fds[0], 0)  # no pid left behind for the shards that come later
        for fd in reversed(self._fds):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._fds.clear()


def _held(path: Path) -> bool:
    """Whether a live process holds the lock file `path` exclusively (a shared lock is taken
    to look, so two processes looking at once do not see each other)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the shared lock taken to look
    return False


def _read_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid else ""


class RunMark:
    """Marks a run as alive for as long as the process holds it."""

    def __init__(self, out: Path, run_id: str) -> None:
        self.path = live_dir(out) / f"{run_id}.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunMark:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def is_run_live(out: Path, run_id: str) -> bool:
    """Whether another process still holds the RunMark of `run_id`."""
    return _held(live_dir(out) / f"{run_id}.lock")
