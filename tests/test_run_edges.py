"""Edges of `docextract run` a nightly user meets: odd file names, an output folder inside the
inbox, re-runs with --per-page, a writer that fails. Real files, real rendering, real Parquet."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.null import NullEngine
from pipeline.errors import ErrorCode, OutputNotWritable
from pipeline.extract.validate import validate_answer
from pipeline.run import run_extraction
from tests.fixtures_documents import make_encrypted_pdf
from tests.run_helpers import ledger_items, make_latin1_names, make_unique_pdf, read_table

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "1", "--log-format", "json"]


def _run(*args: str):
    return runner.invoke(app, ["run", *FAST, "--schema", "invoice", *args])


def _summary(result) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_output_folder_inside_the_inbox_is_not_read_as_input(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "A")
    out = inbox / "extracted"
    first = _run(str(inbox), "--out", str(out))
    assert first.exit_code == 0, first.output
    again = _run(str(inbox), "--out", str(out))
    assert again.exit_code == 0, again.output  # the ledger, parts and run summaries are no input
    summary = _summary(again)
    assert (summary["files"], summary["failed"], summary["skipped"]) == (1, 0, 1)
    assert read_table(out, "invoice", "errors") == []
    assert [r["source_path"] for r in read_table(out, "invoice", "documents")] == [
        str(inbox / "a.pdf")
    ]


def test_an_output_folder_that_is_the_inbox_never_reads_its_own_tables(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "A")
    first = _run(str(inbox), "--out", str(inbox))
    assert first.exit_code == 0, first.output
    make_unique_pdf(inbox / "b.pdf", 1, "B")
    again = _run(str(inbox), "--out", str(inbox))
    assert again.exit_code == 0, again.output  # its parts are no input, night after night
    assert (_summary(again)["files"], _summary(again)["skipped"]) == (2, 1)
    assert read_table(inbox, "invoice", "errors") == []
    assert sorted(r["source_path"] for r in read_table(inbox, "invoice", "documents")) == [
        str(inbox / "a.pdf"), str(inbox / "b.pdf")]  # fmt: skip


def test_an_empty_inbox_is_a_quiet_night_not_an_error(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    result = _run(str(inbox), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "nothing to do: no documents in the inputs" in result.output
    assert (_summary(result)["files"], _summary(result)["failed"]) == (0, 0)
    missing = _run(str(tmp_path / "no-such-inbox"), "--out", str(tmp_path / "out"))
    assert missing.exit_code == 2 and "input not found" in missing.output


def test_in_a_json_log_a_fatal_error_is_a_json_event_too(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "no-such-inbox"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    fatal = json.loads(result.stderr.strip().splitlines()[-1])
    assert (fatal["event"], fatal["exit_code"]) == ("fatal", 2)
    assert "input not found" in fatal["message"]
    plain = runner.invoke(app, ["run", str(tmp_path / "no-such-inbox"), "--engine", "null",
                                "--out", str(tmp_path / "out"), "--log-format", "plain"])
    first, last = plain.stderr.strip().splitlines()
    assert first.startswith("docextract ") and "engine null" in first and "model none" in first
    assert last.startswith("docextract: input not found")


def test_a_file_name_that_is_not_utf8_is_extracted_not_fatal(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_latin1_names(inbox)
    out = tmp_path / "out"
    result = _run(str(inbox), "--out", str(out))
    assert result.exit_code == 1, result.output  # the empty file fails; nothing crashes
    (document,) = read_table(out, "invoice", "documents")
    assert document["source_path"] == str(inbox / "re\\xe7u.png")
    (error,) = read_table(out, "invoice", "errors")
    assert error["code"] == "empty_file" and error["source_path"].endswith("vac\\xedo.pdf")
    assert "vac\\xedo.pdf" in error["message"]
    again = _run(str(inbox), "--out", str(out))
    assert again.exit_code == 1, again.output  # the empty file stands failed
    assert (_summary(again)["skipped"], _summary(again)["failed"]) == (2, 0)
    assert _summary(again)["still_failed"] == 1


def test_per_page_rerun_skips_documents_that_failed_to_render(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "good.pdf", 2, "PP")
    make_encrypted_pdf(inbox / "locked.pdf")
    out = tmp_path / "out"
    first = _run(str(inbox), "--out", str(out), "--per-page")
    assert first.exit_code == 1, first.output
    assert [e["code"] for e in read_table(out, "invoice", "errors")] == ["encrypted"]
    again = _run(str(inbox), "--out", str(out), "--per-page")
    assert again.exit_code == 1, again.output  # yesterday's failure stands, not a new one
    summary = _summary(again)
    assert (summary["extracted"], summary["failed"], summary["still_failed"]) == (0, 0, 1)
    retried = _run(str(inbox), "--out", str(out), "--per-page", "--retry-errors")
    assert retried.exit_code == 1 and _summary(retried)["failed"] == 1
    assert len(read_table(out, "invoice", "errors")) == 1
    assert len(ledger_items(out)["error"]) == 1


@pytest.mark.timeout(60)
def test_a_writer_that_cannot_write_ends_the_run_instead_of_hanging(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(16):  # more than the request queue holds behind one lane
        make_unique_pdf(inbox / f"d{number:02d}.pdf", 1, f"W{number}")
    out = tmp_path / "out"
    (out / "invoice").mkdir(parents=True)
    (out / "invoice" / "documents").write_text("a file where the folder should be")
    config = load_config(
        {
            "inputs": [str(inbox)],
            "out": out,
            "part_rows": 1,
            "log_format": "plain",
            "render": {"dpi": 40, "workers": 1},
            "engine": {"name": "null"},
        },
        env={},
    )
    with pytest.raises(OutputNotWritable, match="cannot be written") as failed:
        run_extraction(config, NullEngine(config.engine, max_in_flight=1))
    assert isinstance(failed.value.__cause__, OSError)


def test_an_output_folder_that_cannot_be_written_is_exit_7_with_a_message(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "A")
    (tmp_path / "a-file").write_text("OUT would have to be a folder inside this file")
    result = _run(str(inbox), "--out", str(tmp_path / "a-file" / "out"))
    assert result.exit_code == 7, result.output
    assert "cannot be written" in result.output and "Traceback" not in result.output


def test_a_full_disk_ends_the_run_with_exit_7_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch
) -> None:
    """The disk fills when the part holding d5.pdf is written: the run stops with exit 7, the
    parts written before stay committed, and the next run (with room again) finishes each
    document exactly once."""
    from pipeline.output.sink import PartWriter

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(6):
        make_unique_pdf(inbox / f"d{number}.pdf", 1, f"FULL{number}")
    out = tmp_path / "out"
    real_write = PartWriter.write_parts
    writes: list[int] = []

    def write_until_full(self, table, rows):  # type: ignore[no-untyped-def]
        if any(row["source_path"].endswith("d5.pdf") for row in rows):
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(len(rows))
        return real_write(self, table, rows)

    monkeypatch.setenv("DOCEXTRACT_PART_ROWS", "1")
    monkeypatch.setattr(PartWriter, "write_parts", write_until_full)
    full = _run(str(inbox), "--out", str(out))
    assert full.exit_code == 7, full.output
    assert "the disk is full" in full.stderr and "Traceback" not in full.output
    assert json.loads(full.stderr.strip().splitlines()[-1])["exit_code"] == 7
    committed = sum(writes)  # rows of the parts written before the disk filled
    assert committed < 6
    assert len(ledger_items(out)["ok"]) == len(read_table(out, "invoice", "documents"))
    assert len(read_table(out, "invoice", "documents")) == committed

    monkeypatch.setattr(PartWriter, "write_parts", real_write)
    again = _run(str(inbox), "--out", str(out))
    assert again.exit_code == 0, again.output
    rows = read_table(out, "invoice", "documents")
    assert sorted(Path(r["source_path"]).name for r in rows) == [f"d{n}.pdf" for n in range(6)]


def test_an_answer_with_a_lone_surrogate_is_invalid_not_a_crash_later() -> None:
    class Note(BaseModel):
        text: str

    checked = validate_answer('{"text": "caf\\udce9"}', Note)
    assert checked.error_code is ErrorCode.INVALID_JSON and checked.instance is None
    assert "surrogate" in (checked.message or "")
    assert validate_answer('{"text": "caf\\u00e9"}', Note).instance == Note(text="café")


def test_a_newline_in_a_file_name_cannot_forge_a_line_of_the_plain_log(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x\nerror forged: everything is fine.pdf").write_text("not a PDF")
    result = runner.invoke(app, ["run", str(inbox), "--out", str(tmp_path / "out"),
                                 "--engine", "null", "--log-format", "plain"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("error forged")]
    assert [line for line in lines if "not_a_document" in line and "\\x0aerror forged" in line]


def test_a_render_failure_on_page_3_is_stored_as_page_3(tmp_path: Path) -> None:
    """Pages are numbered from 1 in every table: a page that cannot be rendered too."""
    import pymupdf

    inbox = tmp_path / "in"
    inbox.mkdir()
    doc = pymupdf.open()
    for size in ((595, 842), (595, 842), (20000, 20000)):  # page 3 is above the area limit
        doc.new_page(width=size[0], height=size[1]).insert_text((50, 50), "page")
    doc.save(inbox / "huge_third_page.pdf")
    config = load_config({"inputs": [str(inbox)], "schema_ref": "invoice",
                          "out": str(tmp_path / "out"), "render": {"workers": 1}}, env={})
    report = run_extraction(config, engine=NullEngine())
    assert report.failed == 1
    [row] = read_table(tmp_path / "out", "invoice", "errors")
    assert row["code"] == "page_too_large" and row["page"] == 3
    assert "page 3 " in row["message"]


def test_a_page_that_failed_to_render_stays_failed_while_its_siblings_succeed(
    tmp_path: Path,
) -> None:
    """--per-page: page 3 of 5 cannot be rendered. The other four pages are extracted (also
    those after it), page 3 stays in the errors table as page 3 whatever its siblings do, and
    --retry-errors tries it again."""
    import pymupdf

    inbox = tmp_path / "in"
    inbox.mkdir()
    doc = pymupdf.open()
    for number in range(1, 6):
        size = (20000, 20000) if number == 3 else (595, 842)
        doc.new_page(width=size[0], height=size[1]).insert_text((50, 50), f"page {number}")
    doc.save(inbox / "five.pdf")
    out = tmp_path / "out"

    def run(**flags: object):  # type: ignore[no-untyped-def]
        config = load_config({"inputs": [str(inbox)], "schema_ref": "invoice", "out": str(out),
                              "per_page": True, "max_pages": 2, "render": {"workers": 1},
                              **flags}, env={})
        return run_extraction(config, engine=NullEngine())

    def tables() -> tuple[list[int], list[tuple[int, str]]]:
        documents = sorted(row["page"] for row in read_table(out, "invoice", "documents"))
        errors = [(row["page"], row["code"]) for row in read_table(out, "invoice", "errors")]
        return documents, errors

    first = run()
    assert (first.extracted, first.failed) == (4, 1)
    assert tables() == ([1, 2, 4, 5], [(3, "page_too_large")])
    again = run()
    assert (again.extracted, again.failed) == (0, 0)
    assert tables() == ([1, 2, 4, 5], [(3, "page_too_large")])
    retried = run(retry_errors=True)
    assert (retried.extracted, retried.failed) == (0, 1)  # tried again, and still too large
    assert tables() == ([1, 2, 4, 5], [(3, "page_too_large")])


def _ledger_with_room_for(pages_more: int):  # type: ignore[no-untyped-def]
    """Ledger._prepare that leaves the database `pages_more` pages to grow: SQLite then fails
    its writes with SQLITE_FULL, exactly as on a full disk."""
    from pipeline.output.ledger import Ledger

    real = Ledger._prepare

    def prepare(self) -> None:  # type: ignore[no-untyped-def]
        real(self)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages + pages_more}")

    return prepare


def test_a_full_ledger_surfaces_as_full_not_as_a_failed_rollback(tmp_path: Path, monkeypatch):
    import sqlite3

    from pipeline.output.ledger import CommittedItem, ItemKey, Ledger

    monkeypatch.setattr(Ledger, "_prepare", _ledger_with_room_for(0))
    items = [CommittedItem(ItemKey(f"item-{n}" * 20, "s", "p", "m"), "ok", "/in/x.pdf" * 20)
             for n in range(200)]  # fmt: skip
    with Ledger(tmp_path) as ledger:
        with pytest.raises(sqlite3.OperationalError, match="full") as caught:
            ledger.commit_part("invoice/documents/part-1.parquet", items, "run-1")
        assert caught.value.sqlite_errorname == "SQLITE_FULL"  # type: ignore[attr-defined]
        assert ledger.known_parts() == set() and not ledger._db.in_transaction


def test_a_run_whose_ledger_fills_the_disk_exits_7_in_one_line(tmp_path: Path, monkeypatch):
    from pipeline.output.ledger import Ledger

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(40):
        make_unique_pdf(inbox / f"l{number}.pdf", 1, f"LEDGERFULL{number}")
    monkeypatch.setattr(Ledger, "_prepare", _ledger_with_room_for(2))
    full = _run(str(inbox), "--out", str(tmp_path / "out"))
    assert full.exit_code == 7, full.output
    assert "the disk is full" in full.stderr and "Traceback" not in full.output


@pytest.mark.parametrize("command", ["run", "pages"])
def test_an_out_that_cannot_exist_exits_7_in_one_line(tmp_path: Path, command: str):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "NOWHERE")
    (tmp_path / "file").write_text("a file where OUT's parent folder would be")
    for out in ("/proc/sys/docextract-out", str(tmp_path / "file" / "out")):
        args = [command, str(inbox), "--out", out] + (["--engine", "null"] if command == "run"
                                                      else [])  # fmt: skip
        done = runner.invoke(app, args)
        assert done.exit_code == 7, done.output
        assert f"{out}: cannot be written" in done.stderr and "Traceback" not in done.output


def test_sqlite_io_errors_are_an_out_that_cannot_be_written(tmp_path: Path):
    import sqlite3

    from pipeline.output.writable import output_problem

    problem = output_problem(sqlite3.OperationalError("disk I/O error"), tmp_path)
    assert isinstance(problem, OutputNotWritable) and "ledger cannot be written" in str(problem)
    assert output_problem(sqlite3.OperationalError("no such table: x"), tmp_path) is None


def test_a_file_moved_mid_run_is_extracted_by_the_next_run_where_it_now_is(
    tmp_path: Path, monkeypatch
) -> None:
    """Moved after discovery, a file cannot be read where it was found: a transient `changed`
    row, not a lasting `unreadable` one, so the next run extracts it at its new path."""
    import pipeline.extract.plan as plan

    inbox = tmp_path / "inbox"
    (inbox / "filed").mkdir(parents=True)
    make_unique_pdf(inbox / "stay.pdf", 1, "STAY")
    make_unique_pdf(inbox / "move.pdf", 1, "MOVE")
    real = plan.discover_sources

    def discover_then_move(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(*args, **kwargs)
        (inbox / "move.pdf").rename(inbox / "filed" / "move.pdf")
        return found

    monkeypatch.setattr(plan, "discover_sources", discover_then_move)
    first = _run(str(inbox), "--out", str(tmp_path / "out"))
    monkeypatch.setattr(plan, "discover_sources", real)
    (error,) = read_table(tmp_path / "out", "invoice", "errors")
    assert error["code"] == "changed" and error["source_path"].endswith("inbox/move.pdf")
    assert first.exit_code == 1, first.output
    second = _run(str(inbox), "--out", str(tmp_path / "out"))
    assert second.exit_code == 0, second.output
    names = sorted(r["source_path"].split("inbox/")[1] for r in read_table(
        tmp_path / "out", "invoice", "documents"))  # fmt: skip
    assert names == ["filed/move.pdf", "stay.pdf"]
    assert read_table(tmp_path / "out", "invoice", "errors") == []


def test_a_file_emptied_mid_run_keeps_one_row_its_new_failure(tmp_path: Path, monkeypatch):
    """Emptied after discovery, a file's first content gets a transient `changed` row; the
    next run finds it empty (`empty_file`, a failure for good) and the `changed` row no longer
    stands, in the ledger, the tables as read back, and the DuckDB views alike."""
    import duckdb

    import pipeline.extract.plan as plan
    from pipeline.output.current import current_view_sql

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "keep.pdf", 1, "KEEP")
    make_unique_pdf(inbox / "emptied.pdf", 1, "EMPTIED")
    real = plan.discover_sources

    def discover_then_empty(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(*args, **kwargs)
        (inbox / "emptied.pdf").write_bytes(b"")
        return found

    monkeypatch.setattr(plan, "discover_sources", discover_then_empty)
    _run(str(inbox), "--out", str(out))
    monkeypatch.setattr(plan, "discover_sources", real)
    assert [e["code"] for e in read_table(out, "invoice", "errors")] == ["changed"]
    _run(str(inbox), "--out", str(out))
    assert [e["code"] for e in read_table(out, "invoice", "errors")] == ["empty_file"]
    db = duckdb.connect()
    db.execute(current_view_sql(out, "invoice"))
    assert db.execute("SELECT code FROM errors").fetchall() == [("empty_file",)]
    import sqlite3

    from pipeline.output.layout import ledger_path

    ledger = sqlite3.connect(ledger_path(out))
    statuses = sorted(status for (status,) in ledger.execute("SELECT status FROM items"))
    ledger.close()
    assert statuses == ["error", "ok"]  # no transient row of the old content is left


@pytest.mark.parametrize("damage", ["ledger", "part", "lock"])
def test_a_damaged_output_folder_is_named_not_a_traceback(tmp_path: Path, damage: str) -> None:
    """A ledger that is no SQLite file, a file in a table folder that is no Parquet part, and a
    folder where the lock file goes: each is exit 7 with one line naming what to move."""
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "DAMAGE")
    assert _run(str(inbox), "--out", str(out)).exit_code == 0
    named = {
        "ledger": out / ".docextract" / "ledger.sqlite",
        "part": out / "invoice" / "documents" / "part-zzz.parquet",
        "lock": out / ".docextract" / "lock",
    }[damage]
    for stale in named.parent.glob(named.name + "*"):
        stale.unlink() if stale.is_file() else stale.rmdir()
    if damage == "lock":
        named.mkdir()
    else:
        named.write_bytes(b"junk, no header a reader knows" * 100)
    again = _run(str(inbox), "--out", str(out), "--force")
    assert again.exit_code == 7, again.output
    assert "Traceback" not in again.output
    assert (".docextract/ledger.sqlite" if damage == "ledger" else str(named)) in again.output
