"""What every command shares: exit codes, the way a command stops, password files."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import NoReturn

import typer

from pipeline.errors import ConfigError


class ExitCode(IntEnum):
    """Process exit codes; cron and CI gate on them."""

    OK = 0
    FAILURES = 1  # run: failures above --max-failure-rate; eval: F1 below --min-f1
    USAGE = 2  # bad flags, configuration or schema
    ENGINE = 3  # the engine could not start
    LOCKED = 4  # another run holds the output folder
    INTERNAL = 5  # a defect in docextract itself: the traceback says where


def fail(message: str, code: ExitCode) -> NoReturn:
    """Print `docextract: message` on stderr and exit with `code`."""
    typer.echo(f"docextract: {message}", err=True)
    raise typer.Exit(int(code))


def read_passwords(path: Path | None) -> list[str]:
    """Passwords from a file, one a line (blank lines ignored)."""
    if path is None:
        return []
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read passwords file: {exc.strerror}") from exc
