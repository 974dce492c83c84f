"""What a reader of OUT meets after a plain run: both tables of the schema, even when one of
them has no rows (the README's DuckDB views and `export` work on every folder a run writes).
Real PDFs, the null engine, real Parquet read back, DuckDB as the README uses it."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

import docextract
from pipeline.cli.app import app
from pipeline.output.layout import ledger_path
from pipeline.output.manifest import read_manifest
from tests.run_helpers import make_unique_pdf

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "1", "--log-format", "json"]
README_QUERIES = (
    "SELECT data.invoice_number, data.seller.name, data.grand_total, data.currency"
    " FROM documents WHERE status = 'ok'",
    "SELECT code, count(*) FROM errors GROUP BY code",
)


def _run(*args: str):  # type: ignore[no-untyped-def]
    done = runner.invoke(app, ["run", *FAST, "--schema", "invoice", *args])
    assert done.exit_code in (0, 1), done.output
    return json.loads(done.stdout.strip().splitlines()[-1])


def _views(out: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the README's views of OUT's invoice tables."""
    db = duckdb.connect()
    db.execute(docextract.current_view_sql(out, "invoice"))
    return db


def _parts(out: Path, table: str) -> list[Path]:
    return sorted((out / "invoice" / table).glob("part-*.parquet"))


def test_a_run_without_failures_has_an_empty_errors_table(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "CLEAN")
    summary = _run(str(inbox), "--out", str(out))
    assert (summary["extracted"], summary["failed"]) == (1, 0)

    db = _views(out)
    assert len(db.execute(README_QUERIES[0]).fetchall()) == 1
    assert db.execute(README_QUERIES[1]).fetchall() == []
    (empty,) = _parts(out, "errors")
    assert pq.read_metadata(empty).num_rows == 0
    columns = pq.read_schema(empty).names
    assert {"item_id", "source_path", "stage", "code", "message"} <= set(columns)

    target = tmp_path / "errors.csv"
    done = runner.invoke(app, ["export", str(out), "--table", "errors", "--format", "csv",
                               "--output", str(target)])  # fmt: skip
    assert done.exit_code == 0, done.output
    with target.open(newline="") as handle:
        assert list(csv.reader(handle)) == [columns]  # the columns, no rows
    done = runner.invoke(app, ["export", str(out), "--table", "errors"])
    assert done.exit_code == 0 and done.stdout == "", done.output


def test_the_empty_table_is_committed_like_any_part_and_made_once(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "ONCE")
    first = _run(str(inbox), "--out", str(out))
    (empty,) = _parts(out, "errors")
    relative = empty.relative_to(out).as_posix()
    db = sqlite3.connect(ledger_path(out))
    assert db.execute("SELECT rows, run_id FROM parts WHERE part=?", (relative,)).fetchall() == [
        (0, first["run_id"])
    ]
    db.close()
    manifest = read_manifest(out, first["run_id"])
    assert manifest is not None
    assert {"path": relative, "table": "errors", "rows": 0} in [
        {key: part[key] for key in ("path", "table", "rows")} for part in manifest["parts"]
    ]
    make_unique_pdf(inbox / "b.pdf", 1, "TWICE")
    again = _run(str(inbox), "--out", str(out))
    assert again["extracted"] == 1 and again["reconciled"]["parts_adopted"] == 0
    assert _parts(out, "errors") == [empty]  # made once, not by every run
    assert len(_parts(out, "documents")) == 2


def test_a_run_where_everything_failed_has_an_empty_documents_table(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "notes.pdf").write_text("plain text, not a PDF\n")
    summary = _run(str(inbox), "--out", str(out))
    assert (summary["extracted"], summary["failed"]) == (0, 1)

    db = _views(out)
    assert db.execute(README_QUERIES[0]).fetchall() == []
    assert db.execute(README_QUERIES[1]).fetchall() == [("not_a_document", 1)]
    done = runner.invoke(app, ["export", str(out), "--format", "csv"])
    assert done.exit_code == 0, done.output
    header = done.stdout.splitlines()
    assert len(header) == 1 and "data.seller.name" in header[0].split(",")


def test_a_run_with_nothing_to_do_gives_an_older_out_its_missing_table(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "OLDER")
    _run(str(inbox), "--out", str(out))
    (empty,) = _parts(out, "errors")
    empty.unlink()  # as an older docextract left it: no errors table
    db = sqlite3.connect(ledger_path(out))
    db.execute("DELETE FROM parts WHERE part=?", (empty.relative_to(out).as_posix(),))
    db.commit()
    db.close()
    again = _run(str(inbox), "--out", str(out))
    assert (again["skipped"], again["extracted"]) == (1, 0)
    assert _views(out).execute(README_QUERIES[1]).fetchall() == []
    (made,) = _parts(out, "errors")
    manifest = read_manifest(out, again["run_id"])
    assert manifest is not None and manifest["status"] == "finished"
    assert [part["path"] for part in manifest["parts"]] == [made.relative_to(out).as_posix()]
    assert len(_parts(out, "documents")) == 1
