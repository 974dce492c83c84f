"""What every command shares: exit codes, the way a command stops, password files."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from pipeline.errors import ConfigError, DocextractError, ExitCode

__all__ = ["ExitCode", "exits_on_errors", "fail", "read_passwords"]

Command = TypeVar("Command", bound=Callable[..., Any])


def exits_on_errors(command: Command) -> Command:
    """The one place a command's DocextractError becomes its message on stderr and the exit
    code the exception carries (`pipeline.errors`); a JSON line when --log-format json."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DocextractError as exc:
            fail(str(exc), exc.exit_code, as_json=kwargs.get("log_format") == "json")

    return guarded  # type: ignore[return-value]


def fail(message: str, code: ExitCode, as_json: bool = False) -> NoReturn:
    """Print `docextract: message` on stderr and exit with `code`; with `as_json`, print it as
    one JSON event, like the rest of a JSON log."""
    if as_json:
        import json

        event = {"event": "fatal", "exit_code": int(code), "message": message}
        typer.echo(json.dumps(event, ensure_ascii=False), err=True)
    else:
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
