"""A re-run tells the failures that still stand: the summary counts the inputs whose earlier
failure it skipped, and the exit code counts them against --max-failure-rate every night until
they are retried, fixed or removed. Real PDFs, the null engine, real Parquet read back."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.fixtures_documents import make_encrypted_pdf, make_truncated_pdf
from tests.run_helpers import ledger_items, make_unique_pdf, read_table

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "1", "--schema", "invoice"]
STILL_FAILED = "6 documents still failed; --retry-errors tries them again"


def _inbox(root: Path) -> list[Path]:
    """Nine documents: three good ones, and six that fail whatever the night. Returns the six."""
    root.mkdir(parents=True)
    for number in range(3):
        make_unique_pdf(root / f"good{number}.pdf", 1, f"GOOD{number}")
    (root / "empty.pdf").write_bytes(b"")
    (root / "notes.pdf").write_text("plain text, not a PDF\n")
    (root / "readme.txt").write_text("not a document either\n")
    broken = [root / "empty.pdf", root / "notes.pdf", root / "readme.txt"]
    broken.append(make_encrypted_pdf(root / "locked.pdf"))
    broken.append(make_truncated_pdf(root / "truncated.pdf"))
    broken.append(make_unique_pdf(root / "long.pdf", 10, "LONG"))
    return broken


def _run(inbox: Path, out: Path, *args: str):
    return runner.invoke(app, ["run", str(inbox), "--out", str(out), *FAST, "--max-pages", "8",
                               *args])  # fmt: skip


def _summary(result) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_rerun_states_the_failures_that_still_stand_in_every_log_format(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    broken = _inbox(inbox)
    first = _run(inbox, out, "--log-format", "json")
    assert first.exit_code == 1, first.output
    assert (_summary(first)["failed"], _summary(first)["still_failed"]) == (6, 0)
    errors = read_table(out, "invoice", "errors")
    assert sorted(row["source_path"] for row in errors) == sorted(map(str, broken))
    assert len(ledger_items(out)["error"]) == 6

    again = _run(inbox, out, "--log-format", "json")
    summary = _summary(again)
    assert (summary["skipped"], summary["failed"], summary["still_failed"]) == (9, 0, 6)
    assert summary["inputs_failure_rate"] == round(6 / 9, 4)
    note = json.loads(again.stderr.strip().splitlines()[-1])
    assert note["event"] == "note" and note["still_failed"] == 6
    assert STILL_FAILED in note["message"]
    assert "every document is already extracted" not in again.output

    for log_format in ("plain", "rich"):
        shown = _run(inbox, out, "--log-format", log_format)
        assert STILL_FAILED in _words(shown.stdout), shown.output
        assert STILL_FAILED in _words(shown.stderr), shown.output
    assert read_table(out, "invoice", "errors") == errors  # nothing was written again


def test_the_exit_code_counts_standing_failures_every_night_until_they_are_gone(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    broken = _inbox(inbox)
    nights = [_run(inbox, out, "--log-format", "json") for _ in range(3)]
    assert [night.exit_code for night in nights] == [1, 1, 1]  # the default rate is 0
    assert [_summary(night)["still_failed"] for night in nights] == [0, 6, 6]

    # --max-failure-rate is one share of the inputs, whichever night the failure happened on:
    # 6 of 9 inputs stand failed on the first night and on every night after it.
    fresh = tmp_path / "fresh"
    for rate, code in (("0.7", 0), ("0.6", 1)):
        first_night = _run(inbox, fresh / rate, "--max-failure-rate", rate)
        assert first_night.exit_code == code, first_night.output
        assert _run(inbox, out, "--max-failure-rate", rate).exit_code == code

    retried = _run(inbox, out, "--retry-errors", "--log-format", "json")
    assert retried.exit_code == 1
    assert (_summary(retried)["failed"], _summary(retried)["still_failed"]) == (6, 0)

    for path in broken:
        path.unlink()
    fixed = _run(inbox, out, "--log-format", "json")
    assert fixed.exit_code == 0, fixed.output
    assert (_summary(fixed)["skipped"], _summary(fixed)["still_failed"]) == (3, 0)
    assert "nothing to do: every document is already extracted" in fixed.output


def test_with_per_page_a_document_that_failed_to_render_still_counts(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "good.pdf", 2, "PAGES")
    make_encrypted_pdf(inbox / "locked.pdf")
    assert _run(inbox, out, "--per-page", "--log-format", "json").exit_code == 1
    again = _run(inbox, out, "--per-page", "--log-format", "json")
    summary = _summary(again)
    assert (summary["extracted"], summary["failed"], summary["skipped"]) == (0, 0, 3)
    assert summary["still_failed"] == 1
    assert again.exit_code == 1
    assert [row["code"] for row in read_table(out, "invoice", "errors")] == ["encrypted"]
