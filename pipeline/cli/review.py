"""`docextract review`: a static HTML page per schema to check what a run extracted."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.common import read_passwords
from pipeline.cli.run_options import complete_out_schema
from pipeline.config_help import field_help


def review_command(
    out: Path = typer.Argument(..., help="Output folder of `docextract run`."),
    schema: str = typer.Option(
        None, "--schema", help="Only this schema (default: every one).",
        autocompletion=complete_out_schema,
    ),  # fmt: skip
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (one schema), or an existing folder. Default OUT/<schema>/review.html.",
    ),
    password: list[str] = typer.Option(None, "--password", help=field_help("render.passwords")),
    passwords_file: Path = typer.Option(None, "--passwords-file", help="One password a line."),
    model: list[str] = typer.Option(
        None, "--model", help="Only the rows of this model (repeatable; `einvoice`: read from XML)."
    ),
    review_below: float = typer.Option(
        None, "--review-below", min=0.0, max=1.0,
        help="Mark the fields under this grounding confidence for review (default: as the run "
        "marked them with run --review-below).",
    ),  # fmt: skip
) -> None:
    """Write an HTML page per schema: each document's pages, fields (with their boxes, where
    the run grounded them), warnings and errors."""
    from pipeline.eval.review import write_review

    passwords = list(password or []) + read_passwords(passwords_file)
    written = write_review(out, schema, output, passwords, model or (), review_below)
    for path in written:
        typer.echo(str(path))
