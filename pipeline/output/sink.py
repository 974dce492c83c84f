"""Parquet output: typed part files written atomically, and reconciliation after a kill.

Layout under OUT, per schema:
    OUT/<schema>/documents/part-<run>-<seq>.parquet   one row per extracted item
    OUT/<schema>/errors/part-<run>-<seq>.parquet      one row per failed item
Both tables exist once a run has written into the schema's folder: a table with no rows yet
gets a part without rows, with the table's columns.
A part is written under OUT/.docextract/tmp, flushed to disk and renamed into its table
folder, so a reader never sees half a file (nor any other file); the ledger then records it.
Once renamed, a part is never rewritten or deleted: a row that a later commit supersedes stays,
and readers keep the newest row of each item (`pipeline.output.current`). `reconcile` repairs
whatever a kill left in between.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.errors import OutputNotWritable
from pipeline.faults import fault_point
from pipeline.output.layout import fsync_dir, temporary_dir, temporary_path
from pipeline.output.ledger import CommittedItem, ItemKey, Ledger
from pipeline.policy import ledger_status

TABLES = ("documents", "errors", "fields", "lines")
"""Every table a schema folder may hold; `lines` only a page_text run's (`tables_of`)."""
BASE_TABLES = TABLES[:3]
"""The tables every schema folder holds."""
COMMIT_ORDER = ("fields", "lines", "errors", "documents")
"""The order a flush commits its parts in (see BufferedWriter.flush)."""

WARNING_TYPE = pa.struct([("code", pa.string()), ("message", pa.string())])
_COMMON = [
    ("item_id", pa.string()),
    ("doc_id", pa.string()),
    ("page", pa.int32()),
    ("source_path", pa.string()),
    ("also_at", pa.list_(pa.string())),
]
_PROVENANCE = [
    ("schema", pa.string()),
    ("prompt_hash", pa.string()),
    ("model", pa.string()),
    ("engine", pa.string()),
    ("attempts", pa.int32()),
    ("raw_answer", pa.string()),
    ("run_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
]


def documents_schema(data_type: pa.DataType, metadata: Mapping[str, str]) -> pa.Schema:
    """Columns of the documents table; `data` holds the typed extraction as a struct."""
    fields = (
        _COMMON
        + [
            ("page_count", pa.int32()),
            ("status", pa.string()),
            ("data", data_type),
            ("warnings", pa.list_(WARNING_TYPE)),
            ("visual_tokens", pa.int64()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("cached_tokens", pa.int64()),
            ("latency_s", pa.float64()),
        ]
        + _PROVENANCE
    )
    return pa.schema(fields, metadata=_encode(metadata))


def errors_schema(metadata: Mapping[str, str]) -> pa.Schema:
    """Columns of the errors table: what failed, where, and why (a stable code)."""
    fields = (
        _COMMON
        + [
            ("stage", pa.string()),
            ("code", pa.string()),
            ("message", pa.string()),
        ]
        + _PROVENANCE
    )
    return pa.schema(fields, metadata=_encode(metadata))


_BOX = [(name, pa.float64()) for name in ("x0", "y0", "x1", "y1", "nx0", "ny0", "nx1", "ny1")]


def fields_schema(metadata: Mapping[str, str]) -> pa.Schema:
    """Columns of the fields table: one row per leaf field of a documents row (the same
    item_id, prompt_hash, model and created_at), saying where its value is printed."""
    fields = (
        _COMMON
        + [
            ("field", pa.string()),
            ("value", pa.string()),
            ("source", pa.string()),
            ("match", pa.string()),
            ("confidence", pa.float64()),
            ("on_page", pa.int32()),
        ]
        + _BOX
        + [("needs_review", pa.bool_())]
        + _PROVENANCE
    )
    return pa.schema(fields, metadata=_encode(metadata))


def lines_schema(metadata: Mapping[str, str]) -> pa.Schema:
    """Columns of the lines table: one row per line of text of a page_text documents row (the
    same item_id, prompt_hash, model and created_at), in reading order from 1, with its box
    and where it was read (`text_layer` or `model`)."""
    fields = (
        _COMMON
        + [("line", pa.int32()), ("text", pa.string()), ("source", pa.string())]
        + _BOX
        + _PROVENANCE
    )
    return pa.schema(fields, metadata=_encode(metadata))


SOURCE_KEY = "docextract.schema_source"
"""The key of a part's metadata that says where its schema came from (`builtin:invoice`,
`file:/abs/custom.py:Invoice`, `json:/abs/schema.json`)."""


def table_metadata(
    schema_name: str, json_schema: Mapping[str, Any], prompt_hash: str, source: str = ""
) -> dict:
    return {
        "docextract.version": __version__,
        "docextract.schema": schema_name,
        SOURCE_KEY: source,
        "docextract.json_schema": json.dumps(json_schema, sort_keys=True),
        "docextract.prompt_hash": prompt_hash,
        "pyarrow.version": pa.__version__,
    }


def _encode(metadata: Mapping[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in metadata.items()}


def write_atomic(table: pa.Table, final: Path, tmp: Path | None = None) -> str:
    """Write `table` to `final` via a temporary file (`tmp`, by default a hidden name beside
    `final`), fsync, rename; return the file's SHA-256. A file already at `final` is never
    replaced (parts are written once)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or final.with_name(f".{final.name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp, compression="zstd")
    digest = hashlib.sha256()
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
        handle.seek(0)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if final.exists():
        tmp.unlink()
        raise FileExistsError(errno.EEXIST, "part files are written once", str(final))
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class PartWriter:
    """Writes part files for one schema and commits them to the ledger."""

    def __init__(
        self,
        out: Path,
        schema_name: str,
        schemas: Mapping[str, pa.Schema],
        ledger: Ledger,
        run_id: str,
    ) -> None:
        self.out = out
        self.schema_name = schema_name
        self.schemas = schemas
        self.ledger = ledger
        self.run_id = run_id
        self._seq = 0
        self.written: list[dict[str, Any]] = []  # committed parts, for the run's manifest

    def write_parts(self, table_name: str, rows: Sequence[dict[str, Any]]) -> str | None:
        """Write `rows` as one part of `table_name` and commit it; returns the part path."""
        if not rows:
            return None
        return self._commit(table_name, rows)

    def complete_tables(self) -> list[str]:
        """Give each table of the schema that has no part file yet one without rows, written
        and committed as any part, so that every schema folder a run writes has all of them
        (SQL over `errors/*.parquet` never meets an empty folder); returns the parts written."""
        missing = tables_without_parts(self.out, self.schema_name, list(self.schemas))
        return [self._commit(table_name, []) for table_name in missing]

    def _commit(self, table_name: str, rows: Sequence[dict[str, Any]]) -> str:
        self._seq += 1
        relative = f"{self.schema_name}/{table_name}/part-{self.run_id}-{self._seq:05d}.parquet"
        table = pa.Table.from_pylist(list(rows), schema=self.schemas[table_name])
        final = self.out / relative
        sha256 = write_atomic(table, final, temporary_path(self.out, final))
        fault_point("after-part-rename")
        # Fields and lines rows stand with their documents row: the ledger counts that one only.
        counted = table_name in ("documents", "errors")
        items = _items(rows, self.schema_name, table_name) if counted else []
        self.ledger.commit_part(relative, items, self.run_id)
        self.written.append(
            {"path": relative, "table": table_name, "rows": len(rows), "sha256": sha256}
        )
        fault_point("after-ledger-commit")
        return relative


def tables_of(model: Any) -> tuple[str, ...]:
    """The tables a run of the schema `model` writes: the documents, errors and fields tables,
    and the lines table where the model's answers are lines of text (`writes_lines`)."""
    return TABLES if getattr(model, "writes_lines", False) else BASE_TABLES


def tables_without_parts(
    out: Path, schema_name: str, tables: Sequence[str] = BASE_TABLES
) -> list[str]:
    """Which of `tables` have no part file in OUT/<schema> (temporary files do not count)."""
    return [
        table_name
        for table_name in tables
        if not any((out / schema_name / table_name).glob("part-*.parquet"))
    ]


def _items(rows: Sequence[Mapping[str, Any]], schema_name: str, table_name: str) -> list:
    return [
        CommittedItem(
            ItemKey(row["item_id"], schema_name, row["prompt_hash"], row["model"]),
            ledger_status(table_name, row.get("code")),
            row["source_path"],
            row.get("engine"),
        )
        for row in rows
    ]


def run_of(path: Path) -> str:
    """The run id in a part file's name: part-<run_id>-<seq>.parquet (or its .tmp)."""
    stem = path.name.lstrip(".").removesuffix(".tmp").removesuffix(".parquet")
    return stem.removeprefix("part-").rsplit("-", 1)[0]


def reconcile(
    out: Path, schema_name: str, ledger: Ledger, is_live: Callable[[str], bool] = lambda _: False
) -> dict[str, int]:
    """Repair what a killed run left under OUT/<schema>.

    Files of runs that are still alive (`is_live(run_id)`, e.g. another shard writing into the
    same folder) are left alone; for the others:
    - temporary files are removed (their rows were never committed); an older docextract left
      them in the table folder, this one under OUT/.docextract/tmp;
    - a renamed part the ledger does not list is adopted: the ledger commits its rows as the run
      that wrote it would have (an older row of the same item stays where it is, superseded).
    No part file is changed or removed. Every step is idempotent, so a kill during
    reconciliation is repaired by the next one.
    """
    counts = {"temporary_removed": 0, "parts_adopted": 0, "rows_adopted": 0}
    known = ledger.known_parts()
    for table_name in TABLES:
        folder = out / schema_name / table_name
        for place in (temporary_dir(out, schema_name, table_name), folder):
            for tmp in place.glob(".*.tmp") if place.is_dir() else ():
                if is_live(run_of(tmp)):
                    continue
                tmp.unlink(missing_ok=True)
                counts["temporary_removed"] += 1
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("part-*.parquet")):
            relative = path.relative_to(out).as_posix()
            if relative not in known and not is_live(run_of(path)):
                counts["rows_adopted"] += _adopt(out, relative, table_name, schema_name, ledger)
                counts["parts_adopted"] += 1
    return counts


def _adopt(out: Path, relative: str, table_name: str, schema_name: str, ledger: Ledger) -> int:
    """Commit the rows of an orphaned part under the run that wrote it. A kill leaves at most
    the parts its run renamed last, newer than anything committed before (runs on one OUT and
    shard take turns, and this runs before the adopting run commits anything), so its rows are
    the items' newest, as the current-rows rule reads them."""
    try:
        rows = pq.read_table(out / relative).to_pylist()
    except (pa.ArrowException, OSError) as exc:  # not a part a run wrote: left to its owner
        raise OutputNotWritable(
            f"{out / relative}: a file in a table folder that is no Parquet part docextract "
            f"can read ({exc}); move it out of {out / relative.rsplit('/', 1)[0]}"
        ) from exc
    ledger.commit_part(relative, _items(rows, schema_name, table_name), run_of(out / relative))
    return len(rows)


class BufferedWriter:
    """Collects rows and commits a part when `part_rows` rows wait, or when the oldest waiting
    row has waited `flush_s`, and at the end of the run.

    A run that ends within `flush_s` (and under `part_rows` rows) writes one part per table.
    What a flush commits survives any kill; rows still waiting are lost to a SIGKILL (not to
    SIGINT or SIGTERM, after which the run commits what it settled) and redone by the next run,
    so `flush_s` bounds the work a hard kill costs. Parquet writing and the ledger commit run in
    a worker thread, one flush at a time, in the background: the lanes that feed the engine
    never wait for the disk.
    """

    def __init__(self, parts: PartWriter, part_rows: int, flush_s: float) -> None:
        self.parts = parts
        self.part_rows = part_rows
        self.flush_s = flush_s
        self._rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self._flushing: asyncio.Task | None = None
        self._oldest: float | None = None  # when the oldest row still waiting arrived

    def add(self, table: str, row: dict[str, Any]) -> None:
        if self._flushing is not None and self._flushing.done():
            self._flushing.result()  # a failed write ends the run here, loudly
            self._flushing = None
        self._rows[table].append(row)
        now = time.monotonic()
        if self._oldest is None:
            self._oldest = now
        due = now - self._oldest >= self.flush_s
        if (len(self._rows[table]) >= self.part_rows or due) and self._flushing is None:
            self._flushing = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        """Commit every row waiting now, one part per table, the fields table first: a
        documents row, once committed, is never redone, so its fields rows must be on disk
        before it (a kill between the two leaves fields rows that the document's next
        extraction supersedes, never a document without them)."""
        self._oldest = None
        waiting, self._rows = self._rows, {name: [] for name in TABLES}
        for table in COMMIT_ORDER:
            if rows := waiting[table]:
                await asyncio.to_thread(self.parts.write_parts, table, rows)

    @property
    def written(self) -> list[dict[str, Any]]:
        """The parts committed so far: path, table, rows and checksum of each."""
        return self.parts.written

    async def close(self) -> None:
        """Wait for the flush under way, commit what is left, then give a table that has no
        part yet an empty one (`PartWriter.complete_tables`)."""
        if self._flushing is not None:
            await self._flushing
            self._flushing = None
        await self.flush()
        await asyncio.to_thread(self.parts.complete_tables)
