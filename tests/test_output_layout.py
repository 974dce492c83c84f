"""OUT as data tools see it: each table a plain folder of Parquet files that pandas, Polars and
DuckDB read as they are; part files never change once written; the current-rows rule; one
manifest per run; `docextract export`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.output.current import current_table, current_view_sql
from pipeline.output.export import export_table
from pipeline.output.layout import manifests_dir, state_dir, temporary_path
from pipeline.output.manifest import read_manifest
from tests.run_helpers import ledger_items, make_inbox, make_unique_pdf, read_all_rows

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "2", "--log-format", "json"]
TABLES = ("documents", "errors")


def _run(inbox: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["run", *FAST, str(inbox), "--schema", "invoice",
                                 "--out", str(out), *extra])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _hashes(out: Path) -> dict[str, str]:
    """SHA-256 of every Parquet file under OUT, by path relative to OUT."""
    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in out.rglob("*.parquet")
    }


def _read_everywhere(out: Path) -> dict[str, int]:
    """Rows of each table as pandas, Polars and DuckDB read the plain folders (they agree)."""
    counts = {}
    for table in TABLES:
        folder = out / "invoice" / table
        with_pandas = pd.read_parquet(folder)
        with_polars = pl.read_parquet(folder)
        ((with_duckdb,),) = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{out}/*/{table}/*.parquet')"
        ).fetchall()
        assert len(with_pandas) == with_polars.height == with_duckdb > 0
        assert {"item_id", "created_at", "source_path"} <= set(with_pandas.columns)
        assert set(with_pandas.columns) == set(with_polars.columns)
        counts[table] = len(with_pandas)
    return counts


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run, a --force run and a --retry-errors run into one OUT, with the Parquet files'
    checksums and the tables as read after each."""
    root = tmp_path_factory.mktemp("layout")
    inbox, out = root / "inbox", root / "out"
    make_inbox(inbox)
    seen: list[dict[str, str]] = []
    counts: list[dict[str, int]] = []
    summaries: list[dict] = []
    for extra in ((), ("--force",), ("--retry-errors",)):
        summaries.append(_run(inbox, out, *extra))
        seen.append(_hashes(out))
        counts.append(_read_everywhere(out))
    return {"inbox": inbox, "out": out, "hashes": seen, "counts": counts, "runs": summaries}


def test_every_table_reads_as_a_plain_folder_and_no_part_ever_changes(runs) -> None:
    out = runs["out"]
    first, forced, retried = runs["hashes"]
    for before, after in ((first, forced), (forced, retried)):
        assert {path: after.get(path) for path in before} == before  # none changed or vanished
        assert len(after) > len(before)  # each re-run added parts of its own
    # The superseded rows stay: 15 documents and 4 errors, the first time and after --force;
    # --retry-errors adds the four failures once more.
    assert runs["counts"] == [
        {"documents": 15, "errors": 4},
        {"documents": 30, "errors": 8},
        {"documents": 30, "errors": 12},
    ]
    # Nothing but part files in the table folders; docextract's own state lives apart.
    for table in TABLES:
        assert {p.suffix for p in (out / "invoice" / table).iterdir()} == {".parquet"}
    assert sorted(p.name for p in out.iterdir()) == [".docextract", "invoice"]
    assert (state_dir(out) / "ledger.sqlite").is_file()


def test_a_part_being_written_is_invisible_to_readers(runs, tmp_path: Path) -> None:
    """A part is written outside its table folder and renamed into it when complete."""
    out = tmp_path / "out"
    folder = out / "invoice" / "documents"
    folder.mkdir(parents=True)
    (folder / "part-a-00001.parquet").write_bytes(
        (runs["out"] / sorted(runs["hashes"][0])[0]).read_bytes()
    )
    half = temporary_path(out, folder / "part-b-00001.parquet")
    assert not half.is_relative_to(folder)
    half.parent.mkdir(parents=True)
    half.write_bytes(b"PAR1 half a file")
    rows = pq.read_table(folder / "part-a-00001.parquet").num_rows
    assert len(pd.read_parquet(folder)) == rows
    assert pl.read_parquet(folder).height == rows
    found = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/*/documents/*.parquet')")
    assert found.fetchall() == [(rows,)]


def test_the_current_rows_are_one_per_item_and_match_the_ledger(runs) -> None:
    out = runs["out"]
    documents = current_table(out, "invoice", "documents")
    errors = current_table(out, "invoice", "errors")
    assert documents is not None and errors is not None
    doc_items = documents.column("item_id").to_pylist()
    error_items = errors.column("item_id").to_pylist()
    assert len(doc_items) == len(set(doc_items)) == 15
    assert len(error_items) == len(set(error_items)) == 4
    items = ledger_items(out)
    assert set(doc_items) == items["ok"] and set(error_items) == items["error"]
    # The rows that stand are the newest: the --force run's documents, the last errors.
    forced, retried = runs["runs"][1]["run_id"], runs["runs"][2]["run_id"]
    assert set(documents.column("run_id").to_pylist()) == {forced}
    assert set(errors.column("run_id").to_pylist()) == {retried}


def test_the_duckdb_views_in_the_readme_give_the_same_rows(runs) -> None:
    out = runs["out"]
    db = duckdb.connect()
    db.execute(current_view_sql(out, "invoice"))
    for table in TABLES:
        expected = current_table(out, "invoice", table)
        assert expected is not None
        got = db.execute(f"SELECT item_id, created_at FROM {table}").fetchall()
        want = list(zip(*(expected.column(c).to_pylist() for c in ("item_id", "created_at")),
                        strict=True))
        assert sorted(got) == sorted(want)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert current_view_sql("OUT", "invoice") in readme  # the README shows this very SQL


def test_each_run_has_a_manifest_listing_exactly_its_parts(runs) -> None:
    out = runs["out"]
    listed: Counter[str] = Counter()
    for summary, flag in zip(runs["runs"], ("", "force", "retry_errors"), strict=True):
        run_id = summary["run_id"]
        manifest = read_manifest(out, run_id)
        assert manifest is not None
        assert manifest["status"] == "finished" and manifest["finished_at"] >= manifest[
            "started_at"]
        assert manifest["config"]["schema"] == "invoice"
        assert not flag or manifest["config"][flag] is True
        on_disk = {p for p in _hashes(out) if f"part-{run_id}-" in p}
        assert {part["path"] for part in manifest["parts"]} == on_disk
        for part in manifest["parts"]:
            path = out / part["path"]
            assert part["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert part["rows"] == pq.read_metadata(path).num_rows
            assert part["table"] == path.parent.name
        # the fields table is there, without rows: grounding is off unless --grounding
        assert manifest["rows"].pop("fields") == 0
        assert manifest["rows"] == {
            "documents": summary["extracted"], "errors": summary["failed"]
        }
        listed.update(part["path"] for part in manifest["parts"])
    assert listed == Counter(set(_hashes(out)))  # every part in exactly one manifest
    assert len(list(manifests_dir(out).glob("*.json"))) == 3


def test_export_jsonl_and_csv_hold_the_current_rows(runs, tmp_path: Path) -> None:
    out = runs["out"]
    current = current_table(out, "invoice", "documents")
    assert current is not None
    rows = {row["item_id"]: row for row in current.to_pylist()}

    done = runner.invoke(app, ["export", str(out), "--format", "jsonl",
                               "--output", str(tmp_path / "docs.jsonl")])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in (tmp_path / "docs.jsonl").read_text().splitlines()]
    assert sorted(line["item_id"] for line in lines) == sorted(rows)
    for line in lines:
        row = rows[line["item_id"]]
        assert line["data"].keys() == row["data"].keys()  # nested, as it is
        assert line["also_at"] == row["also_at"] and line["page_count"] == row["page_count"]
        total = row["data"]["grand_total"]
        assert line["data"]["grand_total"] == (None if total is None else str(total))
        assert line["created_at"] == row["created_at"].isoformat()

    done = runner.invoke(app, ["export", str(out), "--format", "csv", "--schema", "invoice",
                               "--output", str(tmp_path / "docs.csv")])
    assert done.exit_code == 0, done.output
    with (tmp_path / "docs.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(r["item_id"] for r in table) == sorted(rows)
    assert {"data.grand_total", "data.seller.name", "data.line_items", "also_at"} <= set(
        table[0])
    assert not any(name == "data" for name in table[0])  # flattened to its leaves
    for record in table:
        row = rows[record["item_id"]]
        assert json.loads(record["also_at"]) == row["also_at"]  # lists as JSON text
        total = row["data"]["grand_total"]
        assert record["data.grand_total"] == ("" if total is None else str(total))
        name = row["data"]["seller"]["name"] if row["data"]["seller"] else None
        assert record["data.seller.name"] == (name or "")
        assert int(record["page_count"]) == row["page_count"]


def test_export_errors_to_stdout_and_choose_a_schema(runs, tmp_path: Path) -> None:
    out = runs["out"]
    done = runner.invoke(app, ["export", str(out), "--table", "errors"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 4 and "encrypted" in {line["code"] for line in lines}
    stream = io.StringIO()
    assert export_table(out, "csv", stream, "invoice", "errors") == 4
    assert stream.getvalue().splitlines()[0].startswith("item_id,")

    (tmp_path / "two" / "receipt" / "documents").mkdir(parents=True)
    for table in TABLES:
        source = out / "invoice" / table
        target = tmp_path / "two" / "invoice" / table
        target.mkdir(parents=True)
        for part in source.glob("*.parquet"):
            (target / part.name).write_bytes(part.read_bytes())
    refused = runner.invoke(app, ["export", str(tmp_path / "two")])
    assert refused.exit_code == 2 and "--schema" in refused.output
    assert runner.invoke(app, ["export", str(tmp_path / "empty")]).exit_code == 2
    bad = runner.invoke(app, ["export", str(out), "--format", "xml"])
    assert bad.exit_code == 2 and "--format" in bad.output


def test_forty_documents_within_the_flush_interval_make_one_part(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(40):
        make_unique_pdf(inbox / f"d{number:02d}.pdf", 1, f"FORTY{number}")
    summary = _run(inbox, tmp_path / "out")
    assert summary["extracted"] == 40 and summary["elapsed_s"] < 30  # the default flush_s
    parts = sorted(p.relative_to(tmp_path / "out").as_posix() for p in
                   (tmp_path / "out").rglob("*.parquet"))
    # one part of rows per table, and the errors table's part without rows that every schema
    # folder has
    assert len(parts) == 3 and parts[0].startswith("invoice/documents/")
    assert parts[1].startswith("invoice/errors/") and parts[2].startswith("invoice/fields/")
    assert len(read_all_rows(tmp_path / "out", "invoice", "documents")) == 40
    assert read_all_rows(tmp_path / "out", "invoice", "errors") == []


def test_a_decimal_survives_export_exactly(tmp_path: Path) -> None:
    """Decimals leave as their exact digits, not as floats."""
    from pipeline.output.export import _json_value

    assert _json_value(Decimal("1234567890123.4567")) == "1234567890123.4567"


def test_an_out_from_an_older_docextract_is_moved_by_the_next_run(tmp_path: Path) -> None:
    """The ledger and run summaries beside the tables (the old layout) move into .docextract
    at the next run, which then skips what they say is done; the tables stay untouched."""
    import os

    from pipeline.output.layout import ledger_path, runs_dir

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for number in range(3):
        make_unique_pdf(inbox / f"m{number}.pdf", 1, f"MOVE{number}")
    first = _run(inbox, out)
    os.replace(ledger_path(out), out / "ledger.sqlite")
    os.replace(runs_dir(out), out / "runs")
    (out / ".lock").write_text("")
    before = _hashes(out)

    again = _run(inbox, out)
    assert again["extracted"] == 0 and again["skipped"] == 3  # the moved ledger still counts
    assert sorted(p.name for p in out.iterdir()) == [".docextract", "invoice"]
    assert (runs_dir(out) / f"{first['run_id']}.json").is_file()
    assert _hashes(out) == before


def test_the_duckdb_views_work_for_an_out_with_a_quote_in_its_path(runs, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "o'brien's out"
    shutil.copytree(runs["out"], out)
    db = duckdb.connect()
    db.execute(current_view_sql(out, "invoice"))
    expected = current_table(out, "invoice", "documents")
    assert expected is not None
    (count,) = db.execute("SELECT count(*) FROM documents").fetchone()  # type: ignore[misc]
    assert count == expected.num_rows > 0
