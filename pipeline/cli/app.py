"""The `docextract` command: parse arguments, build the config, call the library, print, exit.

Each command is short and has a library function behind it. Exit codes (`pipeline.errors.ExitCode`):
0 done, 1 some documents failed beyond the allowed rate, 2 usage or configuration error, 3 the
engine could not start, 4 another run holds the output folder, 5 a defect in docextract (with its
traceback), 6 the engine died during the run, 7 OUT cannot be written, 130 SIGINT, 143 SIGTERM.
"""

from __future__ import annotations

import sys
import traceback

import typer

from pipeline import __version__
from pipeline.cli.bench import bench_command
from pipeline.cli.common import ExitCode, exits_on_errors, set_verbosity
from pipeline.cli.eval import eval_command
from pipeline.cli.export import export_command
from pipeline.cli.pages import pages_command
from pipeline.cli.review import review_command
from pipeline.cli.run import run_command
from pipeline.cli.run_options import quiet_option, verbose_option
from pipeline.cli.schemas import schemas_app

app = typer.Typer(
    name="docextract",
    help="Turn folders of PDFs and scans into typed Parquet with a vision-language model.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help imports rich and markdown-it (~0.1 s) on every `--help`.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"docextract {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = quiet_option(),
    verbose: int = verbose_option(),
) -> None:
    """Turn folders of PDFs and scans into typed Parquet with a vision-language model."""
    set_verbosity(ctx, -1 if quiet else verbose)


app.command("run")(exits_on_errors(run_command))
app.command("eval")(exits_on_errors(eval_command))
app.command("bench")(exits_on_errors(bench_command))
app.command("pages")(exits_on_errors(pages_command))
app.command("review")(exits_on_errors(review_command))
app.command("export")(exits_on_errors(export_command))
app.add_typer(schemas_app, name="schemas")


def main() -> None:
    """Console-script entry point. A defect surfaces as a traceback and exit code 5, never as
    the 1 that means "some documents failed"; nor does output nobody reads (streams.py)."""
    from pipeline.cli.streams import guard_standard_streams

    guard_standard_streams()
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("docextract: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception:  # noqa: BLE001 - the last line of defence, reported in full
        traceback.print_exc()
        sys.exit(int(ExitCode.INTERNAL))
