"""The ledger and the part writer: atomic parts, adoption of orphans, superseded rows."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import OutputLocked
from pipeline.output.ledger import ItemKey, Ledger
from pipeline.output.lock import OutputLock
from pipeline.output.sink import PartWriter, documents_schema, errors_schema, reconcile

DATA = pa.struct([("number", pa.string()), ("total", pa.decimal128(18, 4))])


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
        "created_at": None,
    }


def _rows_on_disk(out: Path) -> list[str]:
    files = sorted((out / "demo" / "documents").glob("part-*.parquet"))
    if not files:
        return []
    return sorted(pq.read_table(files).column("item_id").to_pylist())


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
    assert not list((tmp_path / "demo" / "documents").glob(".*"))


def test_orphan_part_is_adopted_and_tmp_removed(tmp_path: Path) -> None:
    folder = tmp_path / "demo" / "documents"
    with Ledger(tmp_path) as ledger:
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts("documents", [_row("a")])
    # A killed run renamed a part but never committed it, and left a temporary file.
    table = pa.Table.from_pylist([_row("a"), _row("c")], schema=_schemas()["documents"])
    pq.write_table(table, folder / "part-r2-00001.parquet")
    (folder / ".part-r2-00002.parquet.tmp").write_bytes(b"partial")
    with Ledger(tmp_path) as ledger:
        counts = reconcile(tmp_path, "demo", ledger)
        assert counts["temporary_removed"] == 1
        assert counts["parts_adopted"] == 1
        assert counts["rows_adopted"] == 1  # "a" was committed already; only "c" is adopted
        assert ledger.status_of([ItemKey("c", "demo", "p", "m")])
    assert _rows_on_disk(tmp_path) == ["a", "c"]
    with Ledger(tmp_path) as ledger:  # idempotent
        assert reconcile(tmp_path, "demo", ledger)["parts_adopted"] == 0
    assert _rows_on_disk(tmp_path) == ["a", "c"]


def test_recommitted_item_leaves_exactly_one_row(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        writer.write_parts("documents", [_row("a"), _row("b")])
        writer.write_parts("documents", [_row("a")])  # --force redid "a"
        assert _rows_on_disk(tmp_path) == ["a", "a", "b"]
        counts = reconcile(tmp_path, "demo", ledger)
        assert counts["rows_removed"] == 1
    assert _rows_on_disk(tmp_path) == ["a", "b"]


def test_same_item_with_another_model_is_a_separate_row(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        writer = PartWriter(tmp_path, "demo", _schemas(), ledger, "r1")
        writer.write_parts("documents", [_row("a", model="m1")])
        writer.write_parts("documents", [_row("a", model="m2")])
        assert reconcile(tmp_path, "demo", ledger)["rows_removed"] == 0
    assert _rows_on_disk(tmp_path) == ["a", "a"]


def test_ledger_is_plain_sqlite(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        PartWriter(tmp_path, "demo", _schemas(), ledger, "r1").write_parts("documents", [_row("x")])
    rows = (
        sqlite3.connect(tmp_path / "ledger.sqlite")
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
        pass  # all released, and no pid left behind in OUT/.lock
    assert (tmp_path / ".lock").read_text() == ""


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
        assert ledger.superseded_rows() == [errors_part]
        assert reconcile(tmp_path, "demo", ledger)["rows_removed"] == 1
        assert ledger.superseded_rows() == []
    errors = pq.read_table(tmp_path / errors_part).to_pylist()
    assert [(e["item_id"], e["code"]) for e in errors] == [("locked", "encrypted")]
