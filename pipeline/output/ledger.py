"""The ledger: a SQLite file (OUT/.docextract/ledger.sqlite) that says which work items are
committed, and where.

A work item is one document (or one page with --per-page) extracted with one schema, prompt and
model; the ledger also records the engine that wrote it (the null engine's rows are a dry
run's, which `pipeline.output.admission` keeps apart from a model's). An item is committed when
its row sits in a part file that the ledger lists; a part file on disk that the ledger does not
list was left by a killed run and is reconciled at start.
Part files are never changed: when an item is committed again (--force, --retry-errors, a
retired failure), its older row stays where it is and readers keep the newer one (`current`).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.items import DRY_RUN_ENGINE, DRY_RUN_MODEL, PATH_ITEM, document_of
from pipeline.output.layout import LEDGER_NAME, ledger_path
from pipeline.policy import (
    repeated_status,
    retires_document_failure,
    retires_transient_failures,
)

__all__ = ["LEDGER_NAME", "CommittedItem", "ItemKey", "Ledger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT NOT NULL,
    schema      TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL,      -- 'ok' (documents); 'error', 'transient', 'retry_once' (errors)
    part        TEXT NOT NULL,      -- part file holding the row, relative to OUT
    source_path TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    committed_at REAL NOT NULL,
    engine      TEXT,               -- who wrote it ('null': a dry run); NULL: not recorded
    PRIMARY KEY (item_id, schema, prompt_hash, model)
);
CREATE INDEX IF NOT EXISTS items_by_path ON items (source_path, schema, status);
CREATE TABLE IF NOT EXISTS parts (
    part        TEXT PRIMARY KEY,   -- relative to OUT
    rows        INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    committed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  REAL NOT NULL,
    finished_at REAL,
    status      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS engine_deaths (
    item_id     TEXT NOT NULL,
    schema      TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    model       TEXT NOT NULL,
    run_id      TEXT NOT NULL,      -- the run whose engine died
    in_flight   INTEGER NOT NULL,   -- requests in flight at that death, this item's included
    died_at     REAL NOT NULL,
    PRIMARY KEY (item_id, schema, prompt_hash, model, run_id)
);
"""
_ITEM_COLUMNS = (
    "item_id, schema, prompt_hash, model, status, part, source_path, run_id, committed_at, engine"
)
_KEY_MATCH = "item_id=? AND schema=? AND prompt_hash=? AND model=?"


def _key_values(key: ItemKey) -> tuple[str, str, str, str]:
    return key.item_id, key.schema, key.prompt_hash, key.model


def _retry_while_locked(step: Callable[[], None], patience_s: float = 60.0) -> None:
    """Run `step`, retrying while another process holds the database.

    Switching to WAL needs the database to itself, and SQLite reports that as "locked" at once
    instead of waiting, so two runs that open one ledger together (shards) take turns here.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _serialised(method):  # type: ignore[no-untyped-def]
    @functools.wraps(method)
    def locked(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


@dataclass(frozen=True, slots=True)
class ItemKey:
    """Identity of one extraction: what, with which schema, prompt and model."""

    item_id: str
    schema: str
    prompt_hash: str
    model: str


@dataclass(frozen=True, slots=True)
class CommittedItem:
    """One row the caller has just written into a part file."""

    key: ItemKey
    status: str
    source_path: str
    engine: str | None = None


class Ledger:
    """SQLite ledger. One connection per process, shared by threads under a lock; every write is
    one transaction."""

    def __init__(self, out: Path | None) -> None:
        """The ledger of `out`; with None, one in memory that lives and dies with this object,
        for a run that writes nothing to disk."""
        self.path = ledger_path(out) if out is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # The writer commits from a worker thread: one connection for every thread, each call
        # under `_lock` (`_serialised`).
        self._db = sqlite3.connect(
            self.path or ":memory:", timeout=60, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA synchronous=FULL")
        _retry_while_locked(self._prepare)
        self._lock = threading.RLock()

    def _prepare(self) -> None:
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._record_engines()

    def _record_engines(self) -> None:
        """Give a ledger from before engines were recorded its `engine` column, in one
        transaction (two shards opening it together add it once). Its older rows of the
        null engine's own model, `none`, are the null engine's; any other row's engine is
        unknown (NULL), a model's."""
        db = self._db
        if self._has_engines():
            return
        with self._transaction():
            if not self._has_engines():
                db.execute("ALTER TABLE items ADD COLUMN engine TEXT")
                db.execute(
                    "UPDATE items SET engine=? WHERE model=?", (DRY_RUN_ENGINE, DRY_RUN_MODEL)
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taken at once; rolled back when the block raises."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (SQLITE_FULL) has rolled back already
                db.execute("ROLLBACK")
            raise

    def _has_engines(self) -> bool:
        return "engine" in {row[1] for row in self._db.execute("PRAGMA table_info(items)")}

    @_serialised
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_serialised
    def status_of(self, keys: Iterable[ItemKey]) -> dict[ItemKey, str]:
        """Committed status ('ok', 'error', 'transient' or 'retry_once', `pipeline.policy`) of
        each key that is committed."""
        return {key: status for key, (status, _path) in self.committed(keys).items()}

    @_serialised
    def committed(self, keys: Iterable[ItemKey]) -> dict[ItemKey, tuple[str, str]]:
        """(status, source path) of each key that is committed."""
        found: dict[ItemKey, tuple[str, str]] = {}
        query = f"SELECT status, source_path FROM items WHERE {_KEY_MATCH}"
        for key in keys:
            row = self._db.execute(query, _key_values(key)).fetchone()
            if row:
                found[key] = (row[0], row[1])
        return found

    @_serialised
    def known_parts(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT part FROM parts")}

    @_serialised
    def commit_part(self, part: str, items: Sequence[CommittedItem], run_id: str) -> None:
        """Record a renamed part file and the items in it, atomically.

        An item committed before in another part is moved here; its old row stays in the old
        part, older than the new one, so readers pass it over (`pipeline.output.current`).
        """
        now = time.time()
        db = self._db
        with self._transaction():
            db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)", (part, len(items), run_id, now)
            )
            for item in items:
                key = item.key
                status = repeated_status(item.status, self._status(key))
                if retires_document_failure(key.item_id, status):
                    self._retire_document_failure(key)
                if retires_transient_failures(status):
                    self._retire_transient_failures(key, item.source_path)
                db.execute(
                    f"INSERT OR REPLACE INTO items ({_ITEM_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_key_values(key), status, part, item.source_path, run_id, now, item.engine),
                )
                db.execute(f"DELETE FROM engine_deaths WHERE {_KEY_MATCH}", _key_values(key))

    def _status(self, key: ItemKey) -> str | None:
        row = self._db.execute(
            f"SELECT status FROM items WHERE {_KEY_MATCH}", _key_values(key)
        ).fetchone()
        return None if row is None else row[0]

    def _retire_document_failure(self, page_key: ItemKey) -> None:
        """A page of a document was extracted (--per-page): a failure recorded for the whole
        document (e.g. too_many_pages) no longer stands; its row leaves the errors table."""
        doc_id = document_of(page_key.item_id)
        where = (doc_id, page_key.schema, page_key.prompt_hash, page_key.model)
        self._db.execute(
            f"DELETE FROM items WHERE {_KEY_MATCH} AND status != 'ok'",
            where,
        )

    def _retire_transient_failures(self, key: ItemKey, source_path: str) -> None:
        """The file at `source_path` was extracted: a transient failure recorded for it under
        another item id (its content changed while an earlier run read it), or a failure of
        the file before it had content to read (a `path:` item), no longer stands; its row
        leaves the errors table."""
        self._db.execute(
            "DELETE FROM items WHERE source_path=? AND schema=?"
            " AND (status='transient' OR substr(item_id, 1, ?) = ?)"
            " AND prompt_hash=? AND model=? AND item_id != ?",
            (source_path, key.schema, len(PATH_ITEM), PATH_ITEM, key.prompt_hash, key.model,
             key.item_id),  # fmt: skip
        )

    @_serialised
    def parts_of(self, run_id: str) -> list[tuple[str, int]]:
        """(part, rows) of every part committed for `run_id`, in commit order."""
        rows = self._db.execute(
            "SELECT part, rows FROM parts WHERE run_id=? ORDER BY committed_at, part", (run_id,)
        )
        return [(part, count) for part, count in rows]

    @_serialised
    def run_record(self, run_id: str) -> tuple[float, float | None, str] | None:
        """(started_at, finished_at, status) of a run the ledger knows, else None."""
        row = self._db.execute(
            "SELECT started_at, finished_at, status FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    @_serialised
    def known_runs(self) -> list[str]:
        """Every run id that started work here or committed a part (adopted ones included)."""
        rows = self._db.execute("SELECT run_id FROM parts UNION SELECT run_id FROM runs")
        return sorted(row[0] for row in rows)

    @_serialised
    def items_in(self, part: str) -> set[tuple[str, str, str]]:
        """(item_id, prompt_hash, model) committed in `part`."""
        rows = self._db.execute(
            "SELECT item_id, prompt_hash, model FROM items WHERE part=?", (part,)
        )
        return {tuple(row) for row in rows}  # type: ignore[misc]

    @_serialised
    def writers(self) -> set[tuple[str, str, str | None]]:
        """(schema, model, engine) of every committed item, each once; engine None where an
        older docextract did not record it."""
        rows = self._db.execute("SELECT DISTINCT schema, model, engine FROM items")
        return {tuple(row) for row in rows}  # type: ignore[misc]

    @_serialised
    def counts(self, schema: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM items WHERE schema=? GROUP BY status", (schema,)
        )
        return dict(rows.fetchall())

    @_serialised
    def record_engine_death(self, keys: Collection[ItemKey], run_id: str) -> None:
        """Remember the items that were in flight when the engine's processes died in `run_id`
        (`pipeline.policy`: the next run reads them last, one at a time). Committing an item
        forgets its deaths."""
        rows = [(*_key_values(key), run_id, len(keys), time.time()) for key in keys]
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO engine_deaths VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    @_serialised
    def engine_deaths(self, schema: str, prompt_hash: str, model: str) -> dict[str, int]:
        """Item id -> the fewest requests in flight at an engine death it was in flight at
        (1: the engine died reading it alone), for every such item not committed since."""
        rows = self._db.execute(
            "SELECT item_id, MIN(in_flight) FROM engine_deaths"
            " WHERE schema=? AND prompt_hash=? AND model=? GROUP BY item_id",
            (schema, prompt_hash, model),
        )
        return dict(rows.fetchall())

    @_serialised
    def start_run(self, run_id: str) -> None:
        self._db.execute("INSERT INTO runs VALUES (?, ?, NULL, 'running')", (run_id, time.time()))

    @_serialised
    def mark_killed(self, is_live: Callable[[str], bool]) -> list[str]:
        """Runs still recorded as running whose process is gone (killed, or its machine lost)
        are recorded as `killed`, with no finish time; returns their ids."""
        rows = self._db.execute("SELECT run_id FROM runs WHERE status='running'").fetchall()
        running = [row[0] for row in rows]
        killed = [run_id for run_id in running if not is_live(run_id)]
        for run_id in killed:
            self._db.execute("UPDATE runs SET status='killed' WHERE run_id=?", (run_id,))
        return killed

    @_serialised
    def finish_run(self, run_id: str, status: str) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at=?, status=? WHERE run_id=?", (time.time(), status, run_id)
        )
