"""What every command shares: exit codes, the way a command stops, password files, how
tables and lines are printed (Rich at a terminal, plain unwrapped lines in a pipe or a log),
and the verbosity the root options set."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from pipeline.errors import ConfigError, DocextractError, ExitCode

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "ExitCode",
    "exits_on_errors",
    "fail",
    "make_console",
    "print_table",
    "read_passwords",
    "set_verbosity",
    "verbosity",
    "wants_rich",
]

_UNWRAPPED = 1 << 16  # columns: a plain line is never cut or wrapped, however long a path
_VERBOSITY_KEY = "docextract.verbosity"

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
    tell("fatal", message, as_json, exit_code=int(code))
    raise typer.Exit(int(code))


def tell(event: str, message: str, as_json: bool, **fields: Any) -> None:
    """`docextract: message` on stderr; with `as_json`, the JSON event {"event": event,
    **fields, "message": message} instead."""
    if as_json:
        line = {"event": event, **fields, "message": message}
        typer.echo(json.dumps(line, ensure_ascii=False), err=True)
    else:
        typer.echo(f"docextract: {message}", err=True)


def read_passwords(path: Path | None) -> list[str]:
    """Passwords from a file, one a line (blank lines ignored); bytes that are not UTF-8 are
    kept as surrogate escapes, for the renderer to try as the bytes they are."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        return [line for line in text.splitlines() if line]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read passwords file: {exc.strerror}") from exc


def wants_rich(log_format: str = "auto", stream: IO[str] | None = None) -> bool:
    """Rich output (boxes, colour, wrapping to the screen) only at a terminal, or when
    `--log-format rich` asks for it; plain lines in a pipe, a file or a CI log."""
    if log_format in ("plain", "json"):
        return False
    return log_format == "rich" or (stream or sys.stdout).isatty()


def make_console(rich: bool, stream: IO[str] | None = None) -> Console:
    """A Rich console for stdout (or `stream`); without `rich`: no colour, no wrapping and no
    width limit, so a path or a field name is never cut in a log. Markup is off in both: what
    is printed is printed as it is, so a folder named `[ACME]` keeps its name (as markup it
    would be a style, and `[/x]` an error); colour goes in as a style, not as markup."""
    from rich.console import Console

    stream = stream or sys.stdout
    if rich:
        return Console(file=stream, markup=False)
    return Console(
        file=stream, width=_UNWRAPPED, soft_wrap=True, no_color=True, highlight=False,
        emoji=False, markup=False,
    )  # fmt: skip


def print_table(table: Table, console: Console, rich: bool) -> None:
    """The table with boxes at a terminal; else `# title`, a header line and one line per row,
    cells separated by tabs (for cut, awk, grep), nothing truncated."""
    if rich:
        console.print(table)
        return
    columns = table.columns
    lines = [f"# {_plain(table.title)}"] if table.title else []
    if table.show_header:
        lines.append("\t".join(_plain(column.header) for column in columns))
    for row in zip(*(list(column.cells) for column in columns), strict=True):
        lines.append("\t".join(_plain(cell) for cell in row))
    console.file.write("".join(line + "\n" for line in lines))
    console.file.flush()


def _plain(cell: Any) -> str:
    text = getattr(cell, "plain", None)
    return text if isinstance(text, str) else str(cell)


_PLAIN = logging.Formatter("docextract: %(message)s")


def set_verbosity(ctx: typer.Context, level: int) -> None:
    """-q is -1, nothing 0, -v 1, -vv 2: the log level of docextract's loggers (warnings by
    default, errors only with -q, info with -v, debug with -vv) and what commands print."""
    ctx.meta[_VERBOSITY_KEY] = level
    logger = logging.getLogger("pipeline")
    logger.setLevel({-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        level, logging.DEBUG if level > 1 else logging.ERROR))
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_PLAIN)
        logger.addHandler(handler)


class _JsonLines(logging.Formatter):
    """A log record as one JSON event, like the rest of a JSON log."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "event": "log", "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }  # fmt: skip
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            event["exception"] = f"{type(error).__name__}: {error}"
        return json.dumps(event, ensure_ascii=False)


_OTHERS_IN_A_JSON_LOG = ("asyncio", "py.warnings")
"""Loggers whose lines would otherwise reach stderr as text: asyncio's (an exception while a
stopped run's event loop shuts down) and Python's warnings (`logging.captureWarnings`)."""


def log_as_json(json_lines: bool) -> None:
    """From now on docextract's log lines on stderr are JSON events (`--log-format json`), or
    plain `docextract: message` lines. In a JSON log, asyncio's records and Python's warnings
    are JSON events too, so every line of the log parses."""
    for handler in logging.getLogger("pipeline").handlers:
        if isinstance(handler, _StderrHandler):
            handler.setFormatter(_JsonLines() if json_lines else _PLAIN)
            for name in _OTHERS_IN_A_JSON_LOG:
                other = logging.getLogger(name)
                if json_lines and handler not in other.handlers:
                    other.addHandler(handler)
                elif not json_lines and handler in other.handlers:
                    other.removeHandler(handler)
                other.propagate = not json_lines
            logging.captureWarnings(json_lines)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a record comes (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def verbosity(ctx: typer.Context) -> int:
    """The verbosity the root options set for this command line (0 when none did)."""
    return int(ctx.meta.get(_VERBOSITY_KEY, 0))
