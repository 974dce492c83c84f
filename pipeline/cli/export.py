"""`docextract export`: the current rows of one table as JSON lines or CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pipeline.cli.run_options import complete_out_schema


def export_command(
    out: Path = typer.Argument(..., help="Output folder of `docextract run`."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (nested as it is) or csv (flat)."),
    schema: str = typer.Option(
        None, "--schema", help="The schema (needed when OUT has several).",
        autocompletion=complete_out_schema,
    ),  # fmt: skip
    table: str = typer.Option("documents", "--table", help="documents or errors."),
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
    model: list[str] = typer.Option(
        None, "--model", help="Only the rows of this model (repeatable; `einvoice`: read from XML)."
    ),
) -> None:
    """Export the rows that stand now (an item done again appears once)."""
    from pipeline.errors import ConfigError
    from pipeline.output.export import FORMATS, export_table, export_to_path
    from pipeline.output.sink import TABLES

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if table not in TABLES:
        raise ConfigError(f"--table {table!r}: expected one of {', '.join(TABLES)}")
    if output is None:
        export_table(out, fmt, sys.stdout, schema, table, model or ())  # type: ignore[arg-type]
        return
    count = export_to_path(out, fmt, output, schema, table, model or ())  # type: ignore[arg-type]
    typer.echo(f"{output}: {count} rows", err=True)
