"""`docextract pages`: every page exactly as the model will see it, for tuning budgets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pipeline.cli_common import ExitCode, fail, read_passwords
from pipeline.errors import ConfigError


def pages_command(
    inputs: list[Path] = typer.Argument(..., help="Files, folders (recursive) or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNGs and tables."),
    dpi: float = typer.Option(None, "--dpi", help="Render resolution before the pixel budget."),
    max_pixels: int = typer.Option(None, "--max-pixels", help="Pixel cap per page image."),
    min_pixels: int = typer.Option(None, "--min-pixels", help="Pixel floor per page image."),
    password: list[str] = typer.Option(None, "--password", help="PDF password (repeatable)."),
    passwords_file: Path = typer.Option(None, "--passwords-file", help="One password a line."),
    workers: int = typer.Option(None, "--workers", help="Render processes (0: one per core)."),
    timeout: float = typer.Option(None, "--timeout", help="Per-file render time limit, seconds."),
    config_file: Path = typer.Option(None, "--config", help="TOML file (./docextract.toml)."),
) -> None:
    """Render every page as the model would see it: PNGs plus pages/errors Parquet under OUT."""
    from pipeline.config import load_config
    from pipeline.pages import export_pages, summary_table

    try:
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
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    report = export_pages(inputs, out, config, config.workers)
    Console(width=100).print(summary_table(report))
