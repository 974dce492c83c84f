"""What a reader of OUT meets after a plain run: both tables of the schema, even when one of
them has no rows (the README's DuckDB views and `export` work on every folder a run writes),
and source paths that `review` finds from any folder. Real PDFs, the null engine, real Parquet
read back, DuckDB as the README uses it."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import docextract
from pipeline.cli.app import app
from pipeline.eval.review import write_review
from pipeline.output.layout import ledger_path
from pipeline.output.manifest import read_manifest
from tests.run_helpers import make_unique_pdf, read_table

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


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run from inside a project folder, naming its inbox and OUT by relative paths."""
    root = tmp_path / "project"
    (root / "inbox").mkdir(parents=True)
    make_unique_pdf(root / "inbox" / "a.pdf", 2, "ANYWHERE")
    (root / "inbox" / "notes.pdf").write_text("plain text, not a PDF\n")
    (root / "inbox" / "empty.pdf").write_bytes(b"")  # no content hash: identified by its path
    monkeypatch.chdir(root)
    _run("inbox", "--out", "out")
    monkeypatch.chdir(tmp_path)
    return root


def test_review_shows_the_pages_from_any_folder(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = runner.invoke(app, ["review", str(project / "out"), "--output", str(elsewhere)])
    assert done.exit_code == 0, done.output
    html = (elsewhere / "invoice-review.html").read_text(encoding="utf-8")
    assert html.count('<img src="data:image/jpeg;base64,') == 2  # both pages of a.pdf
    assert "source file not found" not in html
    [row] = read_table(project / "out", "invoice", "documents")
    assert row["source_path"] == str(project / "inbox" / "a.pdf")
    errors = sorted(read_table(project / "out", "invoice", "errors"), key=lambda e: e["code"])
    paths = [str(project / "inbox" / name) for name in ("empty.pdf", "notes.pdf")]
    assert [e["source_path"] for e in errors] == paths
    assert [e["message"].split(": ")[0] for e in errors] == paths
    assert errors[0]["item_id"] == f"path:{paths[0]}"


def _as_an_older_docextract_wrote_it(out: Path, root: Path) -> None:
    """Rewrite OUT's rows and ledger as a run from `root` wrote them before paths were stored
    absolute: paths (and the ids of files without a content hash) relative to `root`."""
    prefix = f"{root}/"
    for part in out.glob("invoice/*/part-*.parquet"):
        table = pq.read_table(part)
        rows = table.to_pylist()
        for row in rows:
            for column in ("item_id", "source_path", "message"):
                if row.get(column):
                    row[column] = row[column].replace(prefix, "")
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), part)
    db = sqlite3.connect(ledger_path(out))
    relative = "UPDATE items SET item_id = replace(item_id, ?, ''), source_path = replace("
    db.execute(relative + "source_path, ?, '')", (prefix, prefix))
    db.commit()
    db.close()


def test_an_out_written_with_relative_paths_keeps_working(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of an older docextract are read against the current folder: its pages show from
    the folder the run ran in, and a run there finds no copies and no new failures."""
    out = project / "out"
    _as_an_older_docextract_wrote_it(out, project)
    monkeypatch.chdir(project)
    (page,) = write_review(out)
    assert page.read_text(encoding="utf-8").count('<img src="data:image/jpeg;base64,') == 2

    again = _run("inbox", "--out", "out")
    assert (again["skipped"], again["failed"], again["copies"]) == (3, 0, [])
    retried = _run("inbox", "--out", "out", "--retry-errors")
    assert retried["failed"] == 2
    errors = read_table(out, "invoice", "errors")
    assert sorted(e["source_path"] for e in errors) == sorted([
        "inbox/empty.pdf", str(project / "inbox" / "notes.pdf")
    ])  # the empty file under the identity it had, once; the other under its content's


def test_a_file_fixed_after_it_had_nothing_to_read_stands_only_as_its_document(
    tmp_path: Path,
) -> None:
    """An empty file is an error known by its path (it has no content hash); once the file has
    content and is extracted, that row no longer stands, in the ledger, in current_table and
    in the DuckDB views alike, so the file is in exactly one table."""
    from pipeline.output.current import current_row_dicts

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "late.pdf").write_bytes(b"")
    first = _run(str(inbox), "--out", str(out))
    assert first["failed"] == 1 and first["errors_by_code"] == {"empty_file": 1}
    make_unique_pdf(inbox / "late.pdf", 1, "LATE")
    again = _run(str(inbox), "--out", str(out))
    assert (again["extracted"], again["failed"], again["still_failed"]) == (1, 0, 0)
    assert current_row_dicts(out, "invoice", "errors") == []
    assert _views(out).execute("SELECT count(*) FROM errors").fetchone() == (0,)
    with sqlite3.connect(ledger_path(out)) as ledger:
        assert ledger.execute("SELECT count(*) FROM items WHERE status != 'ok'").fetchone() == (0,)
    assert [r["source_path"] for r in current_row_dicts(out, "invoice", "documents")] == [
        str(inbox / "late.pdf")
    ]
