"""The `docextract` process run as cron and pipes run it: a reader that goes away, or a standard
descriptor that is closed, neither stops the run nor changes its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.run_helpers import make_unique_pdf, read_table


def _docextract(inbox: Path, out: Path, **popen) -> int:  # type: ignore[no-untyped-def]
    command = [sys.executable, "-c", "from pipeline.__main__ import main; main()", "run",
               str(inbox), "--engine", "null", "--out", str(out), "--workers", "1",
               "--log-format", "plain", "--dpi", "40"]  # fmt: skip
    return subprocess.run(command, timeout=120, check=False, **popen).returncode


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(6):
        make_unique_pdf(folder / f"doc{index}.pdf", 1, f"STREAM{index}")
    return folder


def _landed(out: Path) -> tuple[int, int]:
    return len(read_table(out, "invoice", "documents")), len(read_table(out, "invoice", "errors"))


@pytest.mark.parametrize("which", ["stdout", "stderr"])
def test_a_reader_that_goes_away_changes_nothing(inbox: Path, tmp_path: Path, which: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        code = _docextract(inbox, tmp_path / "out", **{which: write_end})
    finally:
        os.close(write_end)
    assert code == 0  # not a crash (5), not the 1 that says documents failed
    assert _landed(tmp_path / "out") == (6, 0)


@pytest.mark.parametrize("fd", [1, 2])
def test_a_closed_descriptor_changes_nothing(inbox: Path, tmp_path: Path, fd: int) -> None:
    code = _docextract(inbox, tmp_path / "out", preexec_fn=lambda: os.close(fd))
    assert code == 0
    assert _landed(tmp_path / "out") == (6, 0)
