"""The ledger and the part writer: atomic parts written once, adoption of orphans, superseded
rows left in place and passed over by the current-rows rule, the move from the old layout."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import OutputLocked
from pipeline.output.current import current_row_dicts
from pipeline.output.layout import ledger_path, runs_dir, state_dir, temporary_path
from pipeline.output.ledger import ItemKey, Ledger
from pipeline.output.lock import OutputLock
from pipeline.output.session import OutputSession
from pipeline.output.sink import (
    PartWriter,
    documents_schema,
    errors_schema,
    reconcile,
    write_atomic,
)

DATA = pa.struct([("number", pa.string()), ("total", pa.decimal128(18, 4))])
_CLOCK = itertools.count()
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _schemas() -> dict[str, pa.Schema]:
    meta = {"docextract.schema": "demo"}
    return {"documents": documents_schema(DATA, meta), "errors": errors_schema(meta)}


def _row(item_id: str, model: str = "m") -> dict:
    return {
        "item_id": item_id,
        "doc_id": item_id,
        "page": None,
        "source_path": f"/in/{item_id}.pdf",
        "also_at": [],
        "page_count": 1,
        "status": "ok",
        "data": {"number": item_id, "total": None},
        "warnings": [],
        "visual_tokens": 10,
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "cached_tokens": 0,
        "latency_s": 0.1,
        "schema": "demo",
        "prompt_hash": "p",
        "model": model,
        "engine": "null",
        "attempts": 1,
        "raw_answer": "{}",
        "run_id": "r1",
        "created_at": _EPOCH + timedelta(seconds=next(_CLOCK)),  # each row newer than the last
    }


def _rows_on_disk(out: Path) -> list[str]:
    files = sorted((out / "demo" / "documents").glob("part-*.parquet"))
    if not files:
        return []
    return sorted(pq.read_table(files).column("item_id").to_pylist())


def _current(out: Path, table: str = "documents") -> list[str]:
    return sorted(row["item_id"] for row in current_row_dicts(out, "demo", table))


def _hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*.parquet")
    }


def test_part_is_committed_with_its_items(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        part = writer.write_parts("documents", [_row("a"), _row("b")])
        assert part == "demo/documents/part-r1-00001.parquet"
        assert ledger.status_of([ItemKey("a", "demo", "p", "m")]) == {
            ItemKey("a", "demo", "p", "m"): "ok"
        }
        assert ledger.known_parts() == {part}
    table = pq.read_table(tmp_path / part)
    assert table.schema.metadata[b"docextract.schema"] == b"demo"
    assert table.num_rows == 2
    assert [p.name for p in (tmp_path / "demo" / "documents").iterdir()] == [Path(part).name]
    assert not list((state_dir(tmp_path) / "tmp").rglob("*.tmp"))


def test_orphan_part_is_adopted_and_tmp_removed(tmp_path: Path) -> None:
    folder = tmp_path / "demo" / "documents"
    with Ledger(tmp_path) as ledger:
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts("documents", [_row("a")])
    # A killed run renamed a part but never committed it, and left a temporary file.
    table = pa.Table.from_pylist([_row("a"), _row("c")], schema=_schemas()["documents"])
    pq.write_table(table, folder / "part-r2-00001.parquet")
    (folder / ".part-r2-00002.parquet.tmp").write_bytes(b"partial")  # where older ones wrote
    tmp = temporary_path(tmp_path, folder / "part-r2-00003.parquet")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"partial")
    before = _hashes(tmp_path)
    with Ledger(tmp_path) as ledger:
        counts = reconcile(tmp_path, "demo", ledger)
        assert counts["temporary_removed"] == 2
        assert not tmp.exists()
        assert counts["parts_adopted"] == 1
        assert counts["rows_adopted"] == 2  # its "a" is newer than the committed one
        assert ledger.status_of([ItemKey("c", "demo", "p", "m")])
        assert ledger.parts_of("r2") == [("demo/documents/part-r2-00001.parquet", 2)]
    assert _hashes(tmp_path) == before  # no part was changed or removed
    assert _rows_on_disk(tmp_path) == ["a", "a", "c"]
    assert _current(tmp_path) == ["a", "c"]
    with Ledger(tmp_path) as ledger:  # idempotent
        assert reconcile(tmp_path, "demo", ledger)["parts_adopted"] == 0
    assert _hashes(tmp_path) == before


def test_recommitted_item_leaves_exactly_one_row(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        writer.write_parts("documents", [_row("a"), _row("b")])
        newer = _row("a")
        second = writer.write_parts("documents", [newer])  # --force redid "a"
        before = _hashes(tmp_path)
        assert reconcile(tmp_path, "demo", ledger) == {
            "temporary_removed": 0, "parts_adopted": 0, "rows_adopted": 0
        }
    assert _hashes(tmp_path) == before
    assert _rows_on_disk(tmp_path) == ["a", "a", "b"]  # the old row stays in its part
    current = current_row_dicts(tmp_path, "demo", "documents")
    assert sorted(r["item_id"] for r in current) == ["a", "b"]  # one row per item
    assert [r["created_at"] for r in current if r["item_id"] == "a"] == [newer["created_at"]]
    with Ledger(tmp_path) as ledger:
        assert ledger.parts_of("r1")[-1] == (second, 1)


def test_same_item_with_another_model_is_a_separate_row(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        writer.write_parts("documents", [_row("a", model="m1")])
        writer.write_parts("documents", [_row("a", model="m2")])
    assert _rows_on_disk(tmp_path) == ["a", "a"]
    assert _current(tmp_path) == ["a", "a"]


def test_ledger_is_plain_sqlite(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts("documents", [_row("x")])
    rows = (
        sqlite3.connect(ledger_path(tmp_path))
        .execute("SELECT item_id, status, part FROM items")
        .fetchall()
    )
    assert rows == [("x", "ok", "demo/documents/part-r1-00001.parquet")]


def test_shards_share_a_folder_but_never_with_an_unsharded_run(tmp_path: Path) -> None:
    with OutputLock(tmp_path, shard=(0, 2)), OutputLock(tmp_path, shard=(1, 2)):
        with pytest.raises(OutputLocked), OutputLock(tmp_path):  # would redo their documents
            pass
        with pytest.raises(OutputLocked), OutputLock(tmp_path, shard=(1, 2)):  # that shard runs
            pass
    with (
        OutputLock(tmp_path),
        pytest.raises(OutputLocked, match=f"pid {os.getpid()}"),
        OutputLock(tmp_path, shard=(0, 2)),
    ):
        pass
    with OutputLock(tmp_path, shard=(0, 2)), OutputLock(tmp_path, shard=(1, 2)):
        pass  # all released, and no pid left behind in OUT/.docextract/lock
    assert (state_dir(tmp_path) / "lock").read_text() == ""


def test_second_lock_fails_fast_and_names_the_folder(tmp_path: Path) -> None:
    with OutputLock(tmp_path):
        with pytest.raises(OutputLocked, match="--wait"), OutputLock(tmp_path):
            pass
        said: list[str] = []
        with (
            pytest.raises(OutputLocked),
            OutputLock(tmp_path, wait=True, timeout_s=0.5, on_wait=said.append),
        ):
            pass
        assert said == [  # once, naming the folder, the holder and what it does
            f"{tmp_path}: another docextract run (pid {os.getpid()}) is writing here; "
            "waiting for it to finish (--wait)"
        ]
    with OutputLock(tmp_path):  # released on exit
        pass


def _error_row(item_id: str, path: str, code: str) -> dict:
    common = {k: v for k, v in _row(item_id).items() if k in errors_schema({}).names}
    return {**common, "source_path": path, "stage": "render", "code": code,
            "message": f"{path}: {code}"}


def test_a_changed_files_failure_leaves_the_errors_table_once_the_file_is_extracted(
    tmp_path: Path,
) -> None:
    """A file rewritten while a run read it fails as `changed` under its old content's id;
    when a later run extracts its new content, that failure no longer stands, while a
    permanent failure of another file stays."""
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        errors_part = writer.write_parts("errors", [
            _error_row("old-content", "/in/scan.pdf", "changed"),
            _error_row("locked", "/in/locked.pdf", "encrypted"),
        ])
        extracted = {**_row("new-content"), "source_path": "/in/scan.pdf"}
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r2").write_parts(
            "documents", [extracted]
        )
        assert ledger.status_of([ItemKey("old-content", "demo", "p", "m")]) == {}
        assert ledger.status_of([ItemKey("locked", "demo", "p", "m")])
    assert len(pq.read_table(tmp_path / errors_part)) == 2  # the part is as it was written
    assert _current(tmp_path, "errors") == ["locked"]
    assert _current(tmp_path, "documents") == ["new-content"]


def test_a_page_extracted_retires_its_documents_failure_for_readers_too(tmp_path: Path) -> None:
    """--per-page after too_many_pages: the document's error stops standing once one of its
    pages is extracted; a failure of another document stays."""
    with Ledger(tmp_path) as ledger:
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts("errors", [
            _error_row("long", "/in/long.pdf", "too_many_pages"),
            _error_row("other", "/in/other.pdf", "too_many_pages"),
        ])
        page = {**_row("long:p1"), "doc_id": "long", "page": 1, "source_path": "/in/long.pdf"}
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r2").write_parts("documents", [page])
        assert ledger.status_of([ItemKey("long", "demo", "p", "m")]) == {}
    assert _current(tmp_path, "errors") == ["other"]
    assert _current(tmp_path, "documents") == ["long:p1"]


def test_a_part_is_never_written_over(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([_row("a")], schema=_schemas()["documents"])
    final = tmp_path / "demo" / "documents" / "part-r1-00001.parquet"
    digest = write_atomic(table, final)
    assert digest == hashlib.sha256(final.read_bytes()).hexdigest()
    with pytest.raises(FileExistsError):
        write_atomic(pa.Table.from_pylist([_row("b")], schema=table.schema), final)
    assert hashlib.sha256(final.read_bytes()).hexdigest() == digest
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # no temporary left


def test_an_out_in_the_old_layout_moves_on_first_open(tmp_path: Path) -> None:
    """The ledger, run summaries and marks that lived beside the tables move into
    OUT/.docextract when a run's session opens OUT, committed items and all; the tables stay
    untouched."""
    with Ledger(tmp_path) as ledger:
        part = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts(
            "documents", [_row("a")]
        )
    # Put things where an older docextract kept them.
    os.replace(ledger_path(tmp_path), tmp_path / "ledger.sqlite")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "r1.json").write_text('{"run_id": "r1"}')
    (tmp_path / ".runs").mkdir()
    (tmp_path / ".runs" / "r1.lock").write_text("")
    (tmp_path / ".lock").write_text("")
    before = _hashes(tmp_path)
    with OutputSession(tmp_path, "r2", "demo"):
        assert ledger_path(tmp_path).exists()
        with Ledger(tmp_path) as ledger:
            assert ledger.status_of([ItemKey("a", "demo", "p", "m")])
            assert ledger.known_parts() == {part}
    assert (runs_dir(tmp_path) / "r1.json").read_text() == '{"run_id": "r1"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [".docextract", "demo"]
    assert _hashes(tmp_path) == before
    with OutputSession(tmp_path, "r3", "demo"):  # once is enough
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".docextract", "demo"]


def test_the_move_waits_for_no_older_run_that_still_writes(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "ledger.sqlite").write_bytes(b"")
    held = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with pytest.raises(OutputLocked, match="older docextract"), OutputSession(
            tmp_path, "r1", "demo"
        ):
            pass
    finally:
        os.close(held)
    assert (tmp_path / "ledger.sqlite").exists()


def test_a_shard_of_another_count_is_refused_while_one_runs(tmp_path: Path) -> None:
    """Shards 0/2 and 0/3 split the documents differently: together they would do some twice."""
    with OutputLock(tmp_path, shard=(0, 2)):
        with pytest.raises(OutputLocked, match="shard 0/2 of a run of 2 shards"), OutputLock(
            tmp_path, shard=(0, 3)
        ):
            pass
        with OutputLock(tmp_path, shard=(1, 2)):  # the same count still runs beside it
            pass
    with OutputLock(tmp_path, shard=(2, 3)):  # its lock file is left, but nobody holds it
        pass
