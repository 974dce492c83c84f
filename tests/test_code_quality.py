"""`make lint` as part of the suite, so CI catches what the linters catch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.run_helpers import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "pipeline", "schemas", "tests", "benchmarks", "examples"],
        ["mypy", "pipeline", "schemas"],
    ],
    ids=["ruff", "mypy"],
)
def test_linters_are_clean(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
