"""`docextract run` end to end on CPU: real files, real rendering, real Parquet and SQLite."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineFailure
from pipeline.engines.null import NullEngine
from pipeline.errors import ErrorCode
from pipeline.output.layout import runs_dir
from pipeline.output.progress import PlainReporter
from pipeline.run import run_extraction
from tests.run_helpers import (
    ledger_items,
    make_inbox,
    make_unique_pdf,
    paths_accounted,
    read_all_rows,
    read_table,
)

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "50", "--workers", "2", "--log-format", "plain"]


def _run(*args: str):
    return runner.invoke(app, ["run", *FAST, *args])


@pytest.fixture
def inbox(tmp_path: Path) -> dict[str, list[Path]]:
    return make_inbox(tmp_path / "inbox")


def test_every_input_lands_in_exactly_one_table(inbox, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out))
    assert result.exit_code == 1, result.output  # broken files fail; the default rate is 0
    every_input = [str(p) for group in inbox.values() for p in group]
    assert len(every_input) == 20
    assert Counter(paths_accounted(out, "invoice")) == Counter(every_input)

    docs = duckdb.sql(
        f"SELECT source_path, also_at, page_count, status, data.grand_total AS total "
        f"FROM read_parquet('{out}/invoice/documents/*.parquet')"
    ).fetchall()
    assert len(docs) == 15  # 12 PDFs, the TIFF and two images; the duplicate once
    by_path = {row[0]: row for row in docs}
    first = str(inbox["good"][0])
    assert by_path[first][1] == [str(inbox["duplicate"][0])]
    assert by_path[str(tmp_path / "inbox" / "fax.tif")][2] == 3
    errors = dict(
        duckdb.sql(
            f"SELECT source_path, code FROM read_parquet('{out}/invoice/errors/*.parquet')"
        ).fetchall()
    )
    inbox_dir = tmp_path / "inbox"
    assert errors[str(inbox_dir / "locked.pdf")] == "encrypted"
    assert errors[str(inbox_dir / "empty.pdf")] == "empty_file"
    assert errors[str(inbox_dir / "notes.pdf")] == "not_a_document"
    assert errors[str(inbox_dir / "truncated.pdf")] in {"truncated", "corrupt"}
    lines = result.output.splitlines()
    assert any(ln.startswith("error encrypted: ") and "locked.pdf" in ln for ln in lines)


def test_rerun_extracts_nothing_and_a_new_file_only_itself(inbox, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out))
    before = read_table(out, "invoice", "documents")
    again = _run(str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out))
    assert again.exit_code == 1, again.output  # the broken inputs still stand failed
    assert "nothing to do" in again.output
    assert read_table(out, "invoice", "documents") == before

    make_unique_pdf(tmp_path / "inbox" / "late.pdf", 1, "LATE")
    third = _run(
        str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out), "--log-format", "json"
    )
    assert third.exit_code == 1, third.output
    summary = json.loads(third.stdout.strip().splitlines()[-1])
    assert summary["extracted"] == 1 and summary["failed"] == 0 and summary["still_failed"] == 4
    assert summary["skipped"] == 19
    rows = read_table(out, "invoice", "documents")
    assert len(rows) == len(before) + 1
    assert {r["source_path"] for r in rows} - {r["source_path"] for r in before} == {
        str(tmp_path / "inbox" / "late.pdf")
    }


def test_force_and_retry_errors_keep_each_item_once(inbox, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out)]
    _run(*args)
    forced = _run(*args, "--force")
    assert forced.exit_code == 1
    retried = _run(*args, "--retry-errors")
    assert retried.exit_code == 1  # the same four files are still broken
    documents = read_table(out, "invoice", "documents")  # the rows that stand now
    errors = read_table(out, "invoice", "errors")
    assert len(documents) == 15 and len(errors) == 4
    assert len({r["item_id"] for r in documents}) == 15  # one row per item
    # The superseded rows stay in their parts: two runs made documents, three made errors.
    assert len(read_all_rows(out, "invoice", "documents")) == 30
    assert len(read_all_rows(out, "invoice", "errors")) == 12
    items = ledger_items(out)
    assert items["ok"] == {r["item_id"] for r in documents}
    assert items["error"] == {r["item_id"] for r in errors}


def test_rows_carry_types_provenance_and_metadata(tmp_path: Path) -> None:
    make_unique_pdf(tmp_path / "in" / "a.pdf", 2, "A") if (tmp_path / "in").mkdir() is None else 0
    out = tmp_path / "out"
    result = _run(str(tmp_path / "in"), "--schema", "invoice", "--out", str(out))
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    part = next((out / "invoice" / "documents").glob("part-*.parquet"))
    table = pq.read_table(part)
    schema = table.schema
    assert str(schema.field("data").type.field("issue_date").type) == "date32[day]"
    assert str(schema.field("data").type.field("grand_total").type).startswith("decimal128")
    assert b"docextract.json_schema" in schema.metadata
    row = table.to_pylist()[0]
    assert row["page_count"] == 2 and row["engine"] == "null" and row["attempts"] == 1
    assert len(row["prompt_hash"]) == 16 and row["visual_tokens"] > 0
    summaries = list(runs_dir(out).glob("*.json"))
    assert len(summaries) == 1
    assert json.loads(summaries[0].read_text())["extracted"] == 1


def test_too_many_pages_says_what_to_do_and_per_page_splits(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_unique_pdf(tmp_path / "in" / "long.pdf", 3, "LONG")
    out = tmp_path / "out"
    result = _run(
        str(tmp_path / "in"), "--schema", "invoice", "--out", str(out), "--max-pages", "2"
    )
    assert result.exit_code == 1
    (error,) = read_table(out, "invoice", "errors")
    assert error["code"] == "too_many_pages" and "--per-page" in error["message"]
    per_page_args = (str(tmp_path / "in"), "--schema", "invoice", "--out", str(tmp_path / "pp"))
    per_page_args += ("--max-pages", "2", "--per-page")
    per_page = _run(*per_page_args)
    assert per_page.exit_code == 0, per_page.output
    rows = read_table(tmp_path / "pp", "invoice", "documents")
    assert sorted(r["page"] for r in rows) == [1, 2, 3]  # rendered as windows [1, 2] and [3]
    assert {r["page_count"] for r in rows} == {3} and {r["doc_id"] for r in rows} == {
        rows[0]["doc_id"]
    }
    again = _run(*per_page_args, "--log-format", "json")
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["extracted"], summary["skipped"]) == (0, 3)


def test_dry_run_lists_work_and_writes_nothing(inbox, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(str(tmp_path / "inbox"), "--schema", "invoice", "--out", str(out), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "visual tokens" in result.output and "doc00.pdf" in result.output
    assert not (out / "invoice").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path), "--schema", "no_such_schema", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "no_such_schema" in result.output
    bad_shard = _run(
        str(tmp_path), "--schema", "invoice", "--out", str(tmp_path / "o"), "--shard", "3/2"
    )
    assert bad_shard.exit_code == 2 and "shard" in bad_shard.output
    typo = _run(str(tmp_path / "inbxo"), "--schema", "invoice", "--out", str(tmp_path / "o"))
    assert typo.exit_code == 2 and "input not found" in typo.output and "inbxo" in typo.output
    assert not (tmp_path / "o" / "invoice").exists()  # nothing was recorded for a typo


def test_a_glob_that_matches_nothing_is_an_empty_inbox(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "*.pdf"), "--schema", "invoice", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output


def test_rich_progress_shows_bar_errors_and_summary(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_unique_pdf(tmp_path / "in" / "ok.pdf", 1, "RICH")
    (tmp_path / "in" / "bad.pdf").write_text("[not] a pdf")
    result = _run(
        str(tmp_path / "in"),
        "--schema",
        "invoice",
        "--out",
        str(tmp_path / "o"),
        "--log-format",
        "rich",
    )
    assert result.exit_code == 1
    assert "extracting" in result.output and "2/2" in result.output
    assert "error not_a_document" in result.output and "bad.pdf" in result.output
    assert "extracted" in result.output and "failed" in result.output


def test_rich_output_never_cuts_a_long_path(tmp_path: Path) -> None:
    """Paths longer than the console is wide stay on one line (the terminal folds them), so a
    path copied from an error line or the summary holds no newline."""
    inbox = tmp_path / ("an-inbox-folder-with-a-long-name-" * 4) / "in"
    inbox.mkdir(parents=True)
    (inbox / "broken-scan-from-the-night-batch.pdf").write_text("[not] a pdf")
    out = tmp_path / ("an-output-folder-with-a-long-name-" * 4)
    result = _run(str(inbox), "--schema", "invoice", "--out", str(out), "--log-format", "rich")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    bad = inbox / "broken-scan-from-the-night-batch.pdf"
    assert any(line.startswith("error not_a_document") and str(bad) in line for line in lines)
    assert any(line.endswith(f" → {out}") for line in lines), result.output
    assert any(line.endswith(f"in {out / 'invoice' / 'errors'}/") for line in lines)


@pytest.mark.parametrize("log_format", ["plain", "rich"])
def test_brackets_in_paths_are_printed_as_they_are(tmp_path: Path, log_format: str) -> None:
    """A folder named like console markup keeps its name in every line, and one that reads as
    a stray closing tag does not fail the run at its summary."""
    inbox = tmp_path / "[ACME]" / "in[/x]"
    inbox.mkdir(parents=True)
    make_unique_pdf(inbox / "a.pdf", 1, "BRACKETS")
    (inbox / "[bold]broken.pdf").write_text("not a pdf")
    out = tmp_path / "out[bold]" / "o[/x]"
    result = _run(str(inbox), "--schema", "invoice", "--out", str(out), "--log-format", log_format)
    assert result.exit_code == 1, result.output  # the broken file, and only it, failed
    lines = result.output.splitlines()
    assert any(line.endswith(f" → {out}") for line in lines), result.output
    assert any(line.endswith(f"in {out / 'invoice' / 'errors'}/") for line in lines)
    if log_format == "rich":
        assert any(str(inbox / "[bold]broken.pdf") in line for line in lines), result.output


def test_eval_prints_a_bracketed_out_as_it_is(tmp_path: Path) -> None:
    out = tmp_path / "[red]runs" / "n[/x]"
    out.mkdir(parents=True)
    result = runner.invoke(app, ["eval", str(out), "--truth", "embedded"])
    assert result.exit_code == 2, result.output
    assert f"No documents table under {out}" in result.output

class _EngineDown(NullEngine):
    """The null engine during an outage: every request times out."""

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        return [
            EngineFailure(r.request_id, ErrorCode.ENGINE_TIMEOUT, "no answer in 300 s")
            for r in requests
        ]


def test_an_engine_outage_is_retried_by_the_next_run(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_unique_pdf(tmp_path / "in" / "a.pdf", 1, "OUTAGE")
    config = load_config(
        {
            "inputs": [str(tmp_path / "in")],
            "out": str(tmp_path / "o"),
            "retries": 0,
            "log_format": "plain",
        },
        None,
        {},
    )
    down = run_extraction(config, engine=_EngineDown(), reporter=PlainReporter(io.StringIO()))
    assert down.failed == 1 and down.errors_by_code == {"engine_timeout": 1}
    back = run_extraction(config, engine=NullEngine(), reporter=PlainReporter(io.StringIO()))
    assert (back.extracted, back.skipped) == (1, 0)  # not "already done"
    assert read_table(tmp_path / "o", "invoice", "errors") == []  # the outage row is replaced
    assert [r["source_path"] for r in read_table(tmp_path / "o", "invoice", "documents")] == [
        str(tmp_path / "in" / "a.pdf")
    ]


def test_following_the_too_many_pages_advice_replaces_the_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_unique_pdf(tmp_path / "in" / "long.pdf", 3, "ADVICE")
    args = (
        str(tmp_path / "in"),
        "--schema",
        "invoice",
        "--out",
        str(tmp_path / "o"),
        "--max-pages",
        "2",
    )
    assert _run(*args).exit_code == 1
    assert [r["code"] for r in read_table(tmp_path / "o", "invoice", "errors")] == [
        "too_many_pages"
    ]
    assert _run(*args, "--per-page").exit_code == 0
    assert read_table(tmp_path / "o", "invoice", "errors") == []
    pages = read_table(tmp_path / "o", "invoice", "documents")
    assert sorted(r["page"] for r in pages) == [1, 2, 3]
    assert ledger_items(tmp_path / "o")["error"] == set()


def test_a_copy_arriving_on_a_later_night_is_named_in_the_summary(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    original = make_unique_pdf(tmp_path / "in" / "a.pdf", 1, "COPY")
    args = (str(tmp_path / "in"), "--schema", "invoice", "--out", str(tmp_path / "o"))
    assert _run(*args).exit_code == 0
    (tmp_path / "in" / "b-copy.pdf").write_bytes(original.read_bytes())
    again = _run(*args, "--log-format", "json")
    assert again.exit_code == 0
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["extracted"] == 0
    assert summary["copies"] == [
        {"path": str(tmp_path / "in" / "b-copy.pdf"), "copy_of": str(original)}
    ]
    plain = _run(*args)
    assert f"copy, not extracted again: {tmp_path / 'in' / 'b-copy.pdf'}" in plain.output


def test_quiet_json_lines_are_the_failed_documents_only(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_unique_pdf(inbox / "good.pdf", 1, "QUIET")
    (inbox / "bad.pdf").write_text("not a pdf")
    result = runner.invoke(app, ["-q", "run", "--engine", "null", "--dpi", "40", "--workers", "1",
                                 "--log-format", "json", str(inbox), "--out",
                                 str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 1, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["event"], e["status"], e["path"]) for e in events] == [
        ("item", "error", str(inbox / "bad.pdf"))
    ]
