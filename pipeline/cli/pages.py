"""`docextract pages`: every page exactly as the model will see it, for tuning budgets."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipeline.cli.common import make_console, print_table, read_passwords, wants_rich
from pipeline.config_help import field_help


def pages_command(
    inputs: list[Path] = typer.Argument(..., help=field_help("inputs")),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNGs and tables."),
    dpi: float = typer.Option(None, "--dpi", help=field_help("render.dpi")),
    max_pixels: int = typer.Option(None, "--max-pixels", help=field_help("render.max_pixels")),
    min_pixels: int = typer.Option(None, "--min-pixels", help=field_help("render.min_pixels")),
    password: list[str] = typer.Option(None, "--password", help=field_help("render.passwords")),
    passwords_file: Path = typer.Option(None, "--passwords-file", help="One password a line."),
    workers: int = typer.Option(None, "--workers", help=field_help("render.workers")),
    timeout: float = typer.Option(None, "--timeout", help=field_help("render.timeout_s")),
    config_file: Path = typer.Option(None, "--config", help="TOML file (./docextract.toml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Render every page as the model would see it: PNGs plus pages/errors Parquet under OUT."""
    from pipeline.config import load_config
    from pipeline.inputs.pages import export_pages, summary_table
    from pipeline.output.writable import writing_to

    passwords = list(password or []) + read_passwords(passwords_file)
    render = {
        "dpi": dpi,
        "max_pixels": max_pixels,
        "min_pixels": min_pixels,
        "workers": workers,
        "timeout_s": timeout,
        "passwords": passwords or None,
    }
    config = load_config({"render": render}, config_file).render
    with writing_to(out):
        report = export_pages(inputs, out, config, config.workers)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    rich = wants_rich()
    print_table(summary_table(report), make_console(rich), rich)
