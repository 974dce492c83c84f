"""`docextract review`: a static HTML page per schema to check what a run extracted."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli_common import fail, read_passwords
from pipeline.errors import DocextractError


def review_command(
    out: Path = typer.Argument(..., help="Output folder of `docextract run`."),
    schema: str = typer.Option(None, "--schema", help="Only this schema (default: every one)."),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (one schema), or an existing folder. Default OUT/<schema>/review.html.",
    ),
    password: list[str] = typer.Option(None, "--password", help="PDF password (repeatable)."),
    passwords_file: Path = typer.Option(None, "--passwords-file", help="One password a line."),
) -> None:
    """Write an HTML page per schema: each document's pages, fields, warnings and errors."""
    from pipeline.review import write_review

    try:
        passwords = list(password or []) + read_passwords(passwords_file)
        written = write_review(out, schema, output, passwords)
    except DocextractError as exc:
        fail(str(exc), exc.exit_code)
    for path in written:
        typer.echo(str(path))
