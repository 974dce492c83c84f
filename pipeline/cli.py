"""The `docextract` command: parse arguments, build the config, call the library, print, exit.

Each command is short and has a library function behind it. Exit codes: 0 done, 1 some documents
failed beyond the allowed rate, 2 usage or configuration error, 3 the engine could not start,
4 another run holds the output folder.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pipeline import __version__
from pipeline.cli_bench import bench_command
from pipeline.cli_eval import eval_command
from pipeline.cli_run import EXIT_USAGE, _fail, _read_passwords, run_command
from pipeline.cli_schemas import schemas_app
from pipeline.config import load_config
from pipeline.errors import ConfigError

app = typer.Typer(
    name="docextract",
    help="Turn folders of PDFs and scans into typed Parquet with a vision-language model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"docextract {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Turn folders of PDFs and scans into typed Parquet with a vision-language model."""


app.command("run")(run_command)
app.command("eval")(eval_command)
app.command("bench")(bench_command)
app.add_typer(schemas_app, name="schemas")


@app.command("pages")
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
    from pipeline.pages import export_pages, summary_table

    try:
        passwords = list(password or []) + _read_passwords(passwords_file)
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
        _fail(str(exc), EXIT_USAGE)
    report = export_pages(inputs, out, config, config.workers)
    Console(width=100).print(summary_table(report))


def main() -> None:
    """Console-script entry point."""
    app()
