"""A render process killed for lack of memory leaves a `render_oom` row that the next plain run
tries once more; a second one for the same content stands. Real files, a real SIGKILL of the
real render process (the `render-task` fault point), the null engine, real Parquet read back
and the real SQLite ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipeline.config import RunConfig
from pipeline.output.layout import ledger_path
from pipeline.output.ledger import CommittedItem, ItemKey, Ledger
from pipeline.policy import is_done, ledger_status
from tests.fixtures_documents import make_image
from tests.run_helpers import make_unique_pdf, null_run_args, read_table, run_cli

pytestmark = pytest.mark.slow
ARGS = null_run_args(workers=1)
# With one render process, tasks go in path order: the second is the scan.
KILL_SCAN = {"DOCEXTRACT_KILL_AT": "render-task:2"}
KILL_FIRST_TASK = {"DOCEXTRACT_KILL_AT": "render-task:1"}


def _inbox(root: Path) -> Path:
    """A letter and a scan (rendered in that order); returns the scan."""
    root.mkdir(parents=True)
    make_unique_pdf(root / "a-letter.pdf", 1, "LETTER")
    return make_image(root / "b-scan.png", "RGB")


def _run(inbox: Path, out: Path, env: dict[str, str] | None = None):
    done = run_cli(["run", str(inbox), "--out", str(out), *ARGS], env=env)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return done, summary


def _statuses(out: Path) -> dict[str, str]:
    """The ledger's status of each committed item, by source path."""
    db = sqlite3.connect(ledger_path(out))
    rows = db.execute("SELECT source_path, status FROM items").fetchall()
    db.close()
    return dict(rows)


def _errors(out: Path) -> list[tuple[str, str]]:
    return sorted((r["source_path"], r["code"]) for r in read_table(out, "invoice", "errors"))


def test_a_killed_render_is_tried_once_more_by_a_plain_rerun_then_stands(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    scan = _inbox(inbox)
    first, summary = _run(inbox, out, KILL_SCAN)
    assert first.returncode == 1, first.stderr
    assert summary["failed"] == 1 and summary["errors_by_code"] == {"render_oom": 1}
    assert _errors(out) == [(str(scan), "render_oom")]
    row = read_table(out, "invoice", "errors")[0]
    assert "SIGKILL" in row["message"] and "tried once more" in row["message"]
    assert _statuses(out)[str(scan)] == "retry_once"

    second, summary = _run(inbox, out, KILL_FIRST_TASK)  # only the scan is rendered again
    assert second.returncode == 1, second.stderr
    assert (summary["skipped"], summary["failed"], summary["still_failed"]) == (1, 1, 0)
    assert _errors(out) == [(str(scan), "render_oom")]
    assert _statuses(out)[str(scan)] == "error"

    third, summary = _run(inbox, out)  # a plain run: the failure stands, nothing is rendered
    assert third.returncode == 1, third.stderr
    assert (summary["skipped"], summary["failed"], summary["still_failed"]) == (2, 0, 1)
    assert _errors(out) == [(str(scan), "render_oom")]


def test_a_plain_rerun_extracts_a_file_whose_render_process_was_killed(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    scan = _inbox(inbox)
    first, _summary = _run(inbox, out, KILL_SCAN)
    assert first.returncode == 1 and _errors(out) == [(str(scan), "render_oom")]

    again, summary = _run(inbox, out)
    assert again.returncode == 0, again.stderr
    assert (summary["skipped"], summary["failed"], summary["still_failed"]) == (1, 0, 0)
    assert _errors(out) == []  # the newer documents row stands instead
    paths = sorted(r["source_path"] for r in read_table(out, "invoice", "documents"))
    assert paths == [str(inbox / "a-letter.pdf"), str(scan)]
    assert set(_statuses(out).values()) == {"ok"}


def test_the_ledger_keeps_a_first_render_oom_for_retry_and_a_second_as_a_failure(
    tmp_path: Path,
) -> None:
    plain, retry_errors = RunConfig(), RunConfig(retry_errors=True)
    key = ItemKey("c0ffee", "invoice", "prompt", "model")
    oom = CommittedItem(key, ledger_status("errors", "render_oom"), "/inbox/scan.png")
    with Ledger(tmp_path) as ledger:
        ledger.commit_part("invoice/errors/part-r1-00001.parquet", [oom], "r1")
        assert ledger.status_of([key]) == {key: "retry_once"}
        assert not is_done("retry_once", plain)
        ledger.commit_part("invoice/errors/part-r2-00001.parquet", [oom], "r2")
        assert ledger.status_of([key]) == {key: "error"}
        assert is_done("error", plain) and not is_done("error", retry_errors)
        ledger.commit_part("invoice/errors/part-r3-00001.parquet", [oom], "r3")  # --retry-errors
        assert ledger.status_of([key]) == {key: "error"}
