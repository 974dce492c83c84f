"""`run --dry-run` lists every input with the fate the run gives it: extracted, read from
e-invoice XML, refused with the run's own error code and message, skipped as done, still failed
or a duplicate. Checked against a real run of the same inbox (the null engine, Parquet read
back)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.einvoice_factory import InvoiceFacts, ubl_xml
from tests.fixtures_documents import (
    USER_PASSWORD,
    make_encrypted_pdf,
    make_image,
    make_truncated_pdf,
)
from tests.run_helpers import make_unique_pdf, read_table

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "1", "--schema", "invoice"]
REFUSED = {"empty.pdf": "empty_file", "notes.pdf": "not_a_document",
           "readme.txt": "not_a_document", "long.pdf": "too_many_pages",
           "locked.pdf": "encrypted", "truncated.pdf": "truncated"}  # fmt: skip


def _inbox(root: Path) -> list[Path]:
    """Eleven files: four the run extracts (one read from its e-invoice XML), a duplicate,
    and six it refuses. Returns every file."""
    (root / "sub").mkdir(parents=True)
    files = [make_unique_pdf(root / f"good{n}.pdf", 1 + n, f"DRY{n}") for n in range(2)]
    files.append(make_image(root / "scan.png", "RGB", size=(300, 420)))
    (root / "invoice.xml").write_bytes(ubl_xml(InvoiceFacts(number="RE-2025-0777")))
    (root / "sub" / "copy.pdf").write_bytes(files[0].read_bytes())
    (root / "empty.pdf").write_bytes(b"")
    (root / "notes.pdf").write_text("plain text, not a PDF\n")
    (root / "readme.txt").write_text("not a document either\n")
    files += [root / name for name in ("invoice.xml", "sub/copy.pdf", "empty.pdf", "notes.pdf",
                                       "readme.txt")]  # fmt: skip
    files.append(make_unique_pdf(root / "long.pdf", 10, "LONG"))
    files.append(make_encrypted_pdf(root / "locked.pdf"))
    files.append(make_truncated_pdf(root / "truncated.pdf"))
    return files


def _run(inbox: Path, out: Path, *args: str):
    return runner.invoke(app, ["run", str(inbox), "--out", str(out), *FAST, "--max-pages", "8",
                               *args])  # fmt: skip


def _plan(inbox: Path, out: Path, *args: str) -> dict[str, dict]:
    result = _run(inbox, out, "--dry-run", "--json", *args)
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["planned"]
    by_path = {entry["path"]: entry for entry in planned}
    assert len(by_path) == len(planned)  # each file once
    return by_path


def test_a_dry_run_lists_every_file_with_the_fate_the_run_gives_it(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    files = _inbox(inbox)
    plan = _plan(inbox, out)
    assert sorted(plan) == sorted(map(str, files))
    assert not (out / "invoice").exists()
    fate = {Path(path).relative_to(inbox).as_posix(): e["fate"] for path, e in plan.items()}
    assert fate == {"good0.pdf": "extract", "good1.pdf": "extract", "scan.png": "extract",
                    "invoice.xml": "read from XML", "sub/copy.pdf": "duplicate",
                    **dict.fromkeys(REFUSED, "fail")}  # fmt: skip
    assert plan[str(inbox / "sub" / "copy.pdf")]["copy_of"] == str(inbox / "good0.pdf")
    assert plan[str(inbox / "long.pdf")]["pages"] == 10
    assert plan[str(inbox / "good1.pdf")]["pages"] == 2
    assert all(plan[str(inbox / n)]["visual_tokens"] > 0 for n in ("good0.pdf", "scan.png"))

    result = _run(inbox, out)
    assert result.exit_code == 1, result.output
    errors = {row["source_path"]: row for row in read_table(out, "invoice", "errors")}
    predicted = {path: (e["code"], e["problem"]) for path, e in plan.items() if e["fate"] == "fail"}
    assert predicted == {path: (row["code"], row["message"]) for path, row in errors.items()}
    assert {Path(path).name: code for path, (code, _) in predicted.items()} == REFUSED
    documents = read_table(out, "invoice", "documents")
    extracted = {path for path, e in plan.items() if e["fate"] in ("extract", "read from XML")}
    assert {row["source_path"] for row in documents} == extracted


def test_the_plain_plan_shows_the_runs_messages_not_exceptions(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _inbox(inbox)
    result = _run(inbox, out, "--dry-run", "--log-format", "plain")
    assert result.exit_code == 0, result.output
    rows = {row[0]: row for row in (line.split("\t") for line in result.stdout.splitlines())}
    locked = inbox / "locked.pdf"
    assert rows[str(locked)][-1] == (
        f"error encrypted: {locked}: encrypted: pass --password or --passwords-file"
    )
    assert "more than --max-pages 8" in rows[str(inbox / "long.pdf")][-1]
    assert "ValueError" not in result.output
    assert rows[str(inbox / "sub" / "copy.pdf")][1] == "duplicate"
    assert "4 documents to extract" in result.stdout and "6 would fail" in result.stdout


def test_a_dry_run_of_one_document_counts_it_in_the_singular(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "one.pdf", 1, "ONE")
    result = _run(inbox, tmp_path / "out", "--dry-run", "--log-format", "plain")
    assert result.exit_code == 0, result.output
    assert "\n1 document to extract, ~" in result.stdout, result.stdout


def test_a_dry_run_after_a_run_tells_done_from_still_failed(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _inbox(inbox)
    _run(inbox, out)
    plan = _plan(inbox, out)
    fate = {Path(path).name: e["fate"] for path, e in plan.items()}
    assert {name for name, f in fate.items() if f == "still failed"} == set(REFUSED)
    assert {name for name, f in fate.items() if f == "already done"} == {
        "good0.pdf", "good1.pdf", "scan.png", "invoice.xml"
    }
    assert fate["copy.pdf"] == "duplicate"

    unlocked = _plan(inbox, out, "--retry-errors", "--password", USER_PASSWORD)
    assert unlocked[str(inbox / "locked.pdf")]["fate"] == "extract"  # as the run would
    assert unlocked[str(inbox / "long.pdf")]["code"] == "too_many_pages"


def test_with_per_page_a_dry_run_skips_the_pages_a_run_would_skip(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "done.pdf", 2, "PAGES")
    make_encrypted_pdf(inbox / "locked.pdf")
    assert _run(inbox, out, "--per-page").exit_code == 1
    make_unique_pdf(inbox / "new.pdf", 3, "NEW")
    plan = {Path(path).name: entry for path, entry in _plan(inbox, out, "--per-page").items()}
    assert {name: entry["fate"] for name, entry in plan.items()} == {
        "done.pdf": "already done", "locked.pdf": "still failed", "new.pdf": "extract"
    }
    assert plan["new.pdf"]["pages"] == 3 and plan["new.pdf"]["visual_tokens"] > 0


def _text_and_scans(root: Path) -> tuple[Path, Path, Path]:
    """A born-digital PDF of two pages, a scan as PNG, and the same scan as a one-page PDF
    without a text layer."""
    import pymupdf

    root.mkdir(parents=True)
    digital = make_unique_pdf(root / "digital.pdf", 2, "WORDS")
    scan = make_image(root / "scan.png", "RGB", size=(420, 594))
    scanned = root / "scanned.pdf"
    with pymupdf.open() as doc:
        doc.new_page(width=420, height=594).insert_image(doc[0].rect, filename=str(scan))
        doc.save(scanned)
    return digital, scan, scanned


def _tokens(inbox: Path, out: Path, *args: str) -> dict[str, int]:
    args = ("--engine", "null", "--dpi", "40", "--workers", "1", "--dry-run", "--json", *args)
    result = runner.invoke(app, ["run", str(inbox), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["planned"]
    assert all(entry["fate"] == "extract" for entry in planned)
    return {Path(entry["path"]).name: entry["visual_tokens"] for entry in planned}


def test_dry_run_tokens_are_those_the_model_reads(tmp_path):
    """A page_text run reads a page with words from its text layer (no tokens) and sends the
    model the pages without; --model-boxes sends each page without words once more, alone
    (twice its tokens). The real page_text run reads exactly the pages the estimate left out."""
    _text_and_scans(tmp_path / "in")
    plain = _tokens(tmp_path / "in", tmp_path / "out", "--schema", "invoice")
    assert all(tokens > 0 for tokens in plain.values())
    boxes = _tokens(tmp_path / "in", tmp_path / "out", "--schema", "invoice", "--model-boxes")
    assert boxes == {"digital.pdf": plain["digital.pdf"], "scan.png": 2 * plain["scan.png"],
                     "scanned.pdf": 2 * plain["scanned.pdf"]}  # fmt: skip
    text = _tokens(tmp_path / "in", tmp_path / "out", "--schema", "page_text")
    assert text == {"digital.pdf": 0, "scan.png": plain["scan.png"],
                    "scanned.pdf": plain["scanned.pdf"]}  # fmt: skip
    result = runner.invoke(app, ["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                 "--engine", "null", "--dpi", "40", "--workers", "1",
                                 "--schema", "page_text"])  # fmt: skip
    assert result.exit_code == 0, result.output
    engines = {(Path(row["source_path"]).name, row["engine"])
               for row in read_table(tmp_path / "out", "page_text", "documents")}  # fmt: skip
    assert engines == {("digital.pdf", "text_layer"), ("scan.png", "null"),
                       ("scanned.pdf", "null")}  # fmt: skip
