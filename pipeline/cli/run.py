"""`docextract run`: flags to RunConfig, the run, a summary, an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeline.cli.common import (
    ExitCode,
    fail,
    make_console,
    print_table,
    read_passwords,
    set_verbosity,
    verbosity,
    wants_rich,
)
from pipeline.config_help import field_help
from pipeline.errors import DocextractError, ModelNeeded, RunStopped
from pipeline.output.progress import PlainReporter, Reporter, make_reporter
from pipeline.output.report import RunReport

if TYPE_CHECKING:
    from pipeline.config import RunConfig


def run_command(
    ctx: typer.Context,
    inputs: list[Path] = typer.Argument(..., help=field_help("inputs")),
    schema: str = typer.Option(
        None,
        "--schema",
        "-s",
        help=field_help("schema_ref"),
        rich_help_panel="Extraction",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help=field_help("out"),
        rich_help_panel="Extraction",
    ),
    engine: str = typer.Option(
        None,
        "--engine",
        "-e",
        help=field_help("engine.name"),
        rich_help_panel="Engine",
    ),
    model: str = typer.Option(
        None, "--model", help=field_help("engine.model"), rich_help_panel="Engine"
    ),
    config_file: Path = typer.Option(
        None,
        "--config",
        help="TOML file (default ./docextract.toml).",
        rich_help_panel="Extraction",
    ),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help=field_help("engine.openai.base_url"),
        rich_help_panel="Engine",
    ),
    dpi: float = typer.Option(
        None,
        "--dpi",
        help=field_help("render.dpi"),
        rich_help_panel="Rendering",
    ),
    max_pixels: int = typer.Option(
        None, "--max-pixels", help=field_help("render.max_pixels"), rich_help_panel="Rendering"
    ),
    min_pixels: int = typer.Option(
        None, "--min-pixels", help=field_help("render.min_pixels"), rich_help_panel="Rendering"
    ),
    password: list[str] = typer.Option(
        None,
        "--password",
        help=field_help("render.passwords"),
        rich_help_panel="Rendering",
    ),
    passwords_file: Path = typer.Option(
        None,
        "--passwords-file",
        help="File with one password per line.",
        rich_help_panel="Rendering",
    ),
    workers: int = typer.Option(
        None, "--workers", help=field_help("render.workers"), rich_help_panel="Rendering"
    ),
    max_pages: int = typer.Option(
        None, "--max-pages", help=field_help("max_pages"), rich_help_panel="Rendering"
    ),
    per_page: bool = typer.Option(
        None, "--per-page/--per-document", help=field_help("per_page"), rich_help_panel="Rendering"
    ),
    max_new_tokens: int = typer.Option(
        None, "--max-new-tokens", help=field_help("engine.max_new_tokens"), rich_help_panel="Engine"
    ),
    retries: int = typer.Option(
        None, "--retries", help=field_help("retries"), rich_help_panel="Engine"
    ),
    force: bool = typer.Option(
        None,
        "--force",
        help=field_help("force"),
        rich_help_panel="Re-runs and scheduling",
    ),
    retry_errors: bool = typer.Option(
        None,
        "--retry-errors",
        help=field_help("retry_errors"),
        rich_help_panel="Re-runs and scheduling",
    ),
    wait: bool = typer.Option(
        None,
        "--wait",
        help=field_help("wait"),
        rich_help_panel="Re-runs and scheduling",
    ),
    shard: str = typer.Option(
        None,
        "--shard",
        help=field_help("shard"),
        rich_help_panel="Re-runs and scheduling",
    ),
    max_failure_rate: float = typer.Option(
        None,
        "--max-failure-rate",
        help=field_help("max_failure_rate"),
        rich_help_panel="Re-runs and scheduling",
    ),
    dry_run: bool = typer.Option(
        None,
        "--dry-run",
        help=field_help("dry_run"),
        rich_help_panel="Extraction",
    ),
    log_format: str = typer.Option(
        None,
        "--log-format",
        help=field_help("log_format"),
        rich_help_panel="Re-runs and scheduling",
    ),
    einvoice: str = typer.Option(
        None,
        "--einvoice",
        help=field_help("einvoice"),
        rich_help_panel="Extraction",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the summary (with --dry-run: the plan) as one JSON object on stdout.",
        rich_help_panel="Re-runs and scheduling",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Errors only: no progress, no first line, no summary.",
        rich_help_panel="Output",
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, show_default=False,
        help="More detail on stderr: -v info, -vv debug.", rich_help_panel="Output",
    ),
) -> None:
    """Extract typed data from every document under INPUTS into Parquet under OUT."""
    from pipeline.config import load_config

    json_log = log_format == "json"  # until the configuration says otherwise
    try:
        passwords = list(password or []) + read_passwords(passwords_file)
        flags = {
            "inputs": [str(p) for p in inputs],
            "schema_ref": schema,
            "out": out,
            "max_pages": max_pages,
            "per_page": per_page,
            "retries": retries,
            "force": force,
            "retry_errors": retry_errors,
            "wait": wait,
            "max_failure_rate": max_failure_rate,
            "dry_run": dry_run,
            "log_format": log_format,
            "einvoice": einvoice,
            "shard": shard,  # "I/N", read by RunConfig
            "render": {
                "dpi": dpi,
                "max_pixels": max_pixels,
                "min_pixels": min_pixels,
                "workers": workers,
                "passwords": passwords or None,
            },
            "engine": {
                "name": engine,
                "model": model,
                "max_new_tokens": max_new_tokens,
                "openai": {"base_url": base_url},
            },
        }
        config = load_config(flags, config_file)
        json_log = config.log_format == "json"
        from pipeline.run import run_extraction

        if quiet or verbose:
            set_verbosity(ctx, -1 if quiet else verbose)
        quiet = verbosity(ctx) < 0
        if not quiet:
            _print_first_line(config)
        report = run_extraction(config, reporter=_reporter(config, quiet))
    except RunStopped as stopped:
        _report_stop(stopped, config.log_format)
    except ModelNeeded as needed:
        _report_model_needed(needed, config.log_format)
    except DocextractError as exc:
        fail(str(exc), exc.exit_code, as_json=json_log)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), default=str, ensure_ascii=False))
    elif not quiet:
        _print_summary(report, config.log_format)
    if report.failure_rate > config.max_failure_rate:
        raise typer.Exit(int(ExitCode.FAILURES))


def _print_first_line(config: RunConfig) -> None:
    """Before anything slow: which engine and model this run uses, and why (stderr)."""
    from pipeline import __version__
    from pipeline.engines import engine_model_name, resolve_engine_name

    name, reason = resolve_engine_name(config.engine)
    model = engine_model_name(config.engine, name)
    if config.log_format == "json":
        event = {"event": "begin", "version": __version__, "engine": name, "reason": reason,
                 "model": model, "schema": config.schema_ref, "out": str(config.out),
                 "dry_run": config.dry_run}  # fmt: skip
        typer.echo(json.dumps(event, ensure_ascii=False), err=True)
        return
    what = "dry run" if config.dry_run else "run"
    typer.echo(
        f"docextract {__version__} {what}: engine {name} ({reason}), model {model}, "
        f"schema {config.schema_ref} -> {config.out}",
        err=True,
    )


class _QuietReporter(PlainReporter):
    """-q: only the documents that failed, one line each."""

    def start(self, report: RunReport, planned: int) -> None:
        return None

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        if code:
            self._line(f"error {code}: {message}")

    def note(self, message: str, **fields: object) -> None:
        return None

    def finish(self, report: RunReport) -> None:
        return None


def _reporter(config: RunConfig, quiet: bool) -> Reporter:
    if quiet and config.log_format != "json":
        return _QuietReporter(sys.stderr)
    return make_reporter(config.log_format)


def _report_stop(stopped: RunStopped, log_format: str) -> None:
    """The summary of what a stopped run finished, then why it stopped, and its exit code."""
    report = stopped.report
    as_json = log_format == "json"
    if isinstance(report, RunReport):
        _print_summary(report, log_format)
        fail(
            f"{stopped}; the {report.attempted} documents settled before it are committed, "
            "and the next run takes up the rest",
            stopped.exit_code,
            as_json,
        )
    fail(f"{stopped} before any document was extracted", stopped.exit_code, as_json)


_SHOWN_WHEN_SET = frozenset({"  read from e-invoice XML", "need a model", "replicas answered"})


def _report_model_needed(needed: ModelNeeded, log_format: str) -> None:
    """The summary of what was read from e-invoice XML, then why the rest waits: exit 3."""
    report = needed.report
    assert isinstance(report, RunReport)
    _print_summary(report, log_format)
    waiting = len(report.needs_model)
    fail(
        f"{needed}\n{_documents(report.from_xml)} read from e-invoice XML; {waiting} still "
        f"need a model (listed above and in OUT/.docextract/runs/{report.run_id}.json)",
        needed.exit_code,
        log_format == "json",
    )


def _documents(count: int) -> str:
    return f"{count} document was" if count == 1 else f"{count} documents were"


def _replicas_answered(report: RunReport) -> str:
    """Answers per data-parallel replica ("0: 31 · 1: 27"); "" unless several answered."""
    counts = sorted(report.answers_by_replica.items())
    return " · ".join(f"{rank}: {n}" for rank, n in counts) if len(counts) > 1 else ""


def _print_summary(report: RunReport, log_format: str) -> None:
    if log_format == "json":
        typer.echo(json.dumps(report.to_dict(), default=str))
        return
    from rich.table import Table

    rich = wants_rich(log_format)
    console = make_console(rich)
    if report.dry_run:
        table = Table(title="would extract")
        table.add_column("file", overflow="fold")
        for column in ("kind", "pages", "visual tokens", "problem"):
            table.add_column(column)
        for entry in report.planned:
            table.add_row(
                entry["path"],
                entry["kind"],
                str(entry["pages"] or "?"),
                str(entry["visual_tokens"] or "?"),
                entry["problem"] or "",
            )
        print_table(table, console, rich)
        total = sum(e["visual_tokens"] or 0 for e in report.planned)
        console.print(
            f"{len(report.planned)} documents, ~{total} visual tokens; "
            f"{report.skipped} already done"
        )
        return
    console.print(
        f"run {report.run_id} · schema {report.schema} · engine {report.engine}"
        f" · model {report.model}"
    )
    table = Table()
    table.add_column("")
    table.add_column("count", justify="right")
    for label, value in [
        ("files", report.files),
        ("duplicates", report.duplicates),
        ("already done", report.skipped),
        ("  copies of earlier files", len(report.copies)),
        ("other shards", report.other_shards),
        ("extracted", report.extracted),
        ("  read from e-invoice XML", report.from_xml),
        ("  with warnings", report.with_warnings),
        ("failed", report.failed),
        ("need a model", len(report.needs_model)),
        ("pages", report.pages),
        ("retries", report.retries),
        ("prompt tokens", report.prompt_tokens),
        ("output tokens", report.completion_tokens),
        ("replicas answered", _replicas_answered(report)),
    ]:
        if label in _SHOWN_WHEN_SET and not value:
            continue
        table.add_row(label, str(value))
    for code, count in sorted(report.errors_by_code.items()):
        table.add_row(f"  {code}", str(count))
    print_table(table, console, rich)
    if report.attempted == 0:
        console.print("nothing new to extract")
    console.print(f"{report.elapsed_s:.1f}s, {report.pages_per_s:.2f} pages/s → {report.out}")
    for copy in report.copies[:10]:
        console.print(
            f"copy, not extracted again: {copy['path']} = {copy['copy_of']}", soft_wrap=True
        )
    if len(report.copies) > 10:
        console.print(
            f"... and {len(report.copies) - 10} more copies "
            f"(see .docextract/runs/{report.run_id}.json)"
        )
    for path in report.needs_model[:10]:
        console.print(f"needs a model: {path}", soft_wrap=True)
    if len(report.needs_model) > 10:
        console.print(
            f"... and {len(report.needs_model) - 10} more "
            f"(see OUT/.docextract/runs/{report.run_id}.json)"
        )
    if report.failed:
        errors = Path(report.out) / report.schema / "errors"
        console.print(f"{report.failed} failed: their rows, codes and messages are in {errors}/")
