"""Where things live under OUT: the tables in plain folders, docextract's own state apart.

    OUT/<schema>/documents/part-<run>-<seq>.parquet   the tables: nothing else in their folders
    OUT/<schema>/errors/part-<run>-<seq>.parquet
    OUT/.docextract/ledger.sqlite                     what is committed, for re-runs and recovery
    OUT/.docextract/lock, lock-shard-I-of-N           one run (or one run per shard) at a time
    OUT/.docextract/live/<run>.lock                   held by each live run
    OUT/.docextract/runs/<run>.json                   each run's summary
    OUT/.docextract/manifests/<run>.json              each run's parts, rows and checksums
    OUT/.docextract/tmp/<schema>/<table>/             parts being written, renamed when complete

Readers (pandas, Polars, DuckDB, Spark) skip names that start with a dot or an underscore, so
`OUT/<schema>/documents` reads as a table and the state folder is never mistaken for one.
An OUT written by an older docextract (ledger, locks and summaries beside the tables) is moved
into this layout the first time a run opens it (`migrate_layout`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path

from pipeline.errors import OutputLocked

STATE = ".docextract"
LEDGER_NAME = "ledger.sqlite"


def state_dir(out: Path) -> Path:
    return out / STATE


def ledger_path(out: Path) -> Path:
    return state_dir(out) / LEDGER_NAME


def runs_dir(out: Path) -> Path:
    """Where each run's summary (the RunReport as JSON) goes."""
    return state_dir(out) / "runs"


def manifests_dir(out: Path) -> Path:
    return state_dir(out) / "manifests"


def temporary_path(out: Path, final: Path) -> Path:
    """Where a part is written before its rename to `final`: under OUT/.docextract/tmp, never
    in the table folder, where a reader listing the folder (Polars reads every file of a
    directory, hidden ones too) would trip over it. Same file system, so the rename is atomic."""
    relative = final.relative_to(out)
    return state_dir(out) / "tmp" / relative.parent / f".{relative.name}.tmp"


def temporary_dir(out: Path, schema: str, table: str) -> Path:
    return state_dir(out) / "tmp" / schema / table


def live_dir(out: Path) -> Path:
    return state_dir(out) / "live"


def migrate_layout(out: Path) -> bool:
    """Move the state of an OUT in the old layout (OUT/ledger.sqlite, OUT/runs/, OUT/.runs/,
    OUT/.lock) into OUT/.docextract/; return whether anything moved.

    It holds the old folder lock exclusively meanwhile (an older docextract still running there
    makes this raise OutputLocked) and a lock of its own (two shards starting together migrate
    once). Each step is a rename, and a kill between steps is finished by the next open.
    """
    old_ledger = out / LEDGER_NAME
    old_runs = out / "runs"
    if not old_ledger.exists() and not (old_runs.is_dir() and any(old_runs.glob("*.json"))):
        return False
    state = state_dir(out)
    state.mkdir(parents=True, exist_ok=True)
    guard = os.open(state / "migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
    old_lock = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            fcntl.flock(old_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputLocked(
                f"{out}: an older docextract run is writing here; wait for it to finish"
            ) from None
        if old_ledger.exists():
            _move_ledger(old_ledger, ledger_path(out))
        if old_runs.is_dir():
            target = runs_dir(out)
            target.mkdir(parents=True, exist_ok=True)
            for summary in old_runs.glob("*.json"):
                os.replace(summary, target / summary.name)
            _remove_if_empty(old_runs)
        old_marks = out / ".runs"
        if old_marks.is_dir():
            for mark in old_marks.glob("*.lock"):
                mark.unlink(missing_ok=True)  # the old lock is ours: no older run is alive
            _remove_if_empty(old_marks)
        (out / ".lock").unlink(missing_ok=True)
        for shard_lock in out.glob(".lock-shard-*"):
            shard_lock.unlink(missing_ok=True)
        fsync_dir(out)
        return True
    finally:
        os.close(old_lock)
        os.close(guard)


def _move_ledger(old: Path, new: Path) -> None:
    """Fold the write-ahead log into the database file, then move the file."""
    if new.exists():
        return  # never overwrite a ledger: leave both for a person to look at
    db = sqlite3.connect(old, timeout=60)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    os.replace(old, new)
    fsync_dir(new.parent)
    for suffix in ("-wal", "-shm"):
        Path(f"{old}{suffix}").unlink(missing_ok=True)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # something else lives there: leave it
        folder.rmdir()


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (the folder's own entry list)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
