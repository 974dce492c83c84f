"""`docextract run`: flags to RunConfig, the run, a summary, an exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pipeline.cli import run_options as opt
from pipeline.cli.common import (
    ExitCode,
    fail,
    log_as_json,
    make_console,
    print_table,
    read_passwords,
    set_verbosity,
    tell,
    verbosity,
    wants_rich,
)
from pipeline.cli.run_plan import print_plan
from pipeline.errors import DocextractError, EngineDied, ModelNeeded, RunStopped
from pipeline.output.progress import JsonReporter, PlainReporter, Reporter, make_reporter
from pipeline.output.report import RunReport, still_failed_text

if TYPE_CHECKING:
    from pipeline.config import RunConfig


def run_command(
    ctx: typer.Context,
    inputs: list[Path] = opt.INPUTS,
    schema: str = opt.SCHEMA,
    out: Path = opt.OUT,
    engine: str = opt.ENGINE,
    model: str = opt.MODEL,
    config_file: Path = opt.CONFIG_FILE,
    base_url: str = opt.BASE_URL,
    dpi: float = opt.DPI,
    max_pixels: int = opt.MAX_PIXELS,
    min_pixels: int = opt.MIN_PIXELS,
    password: list[str] = opt.PASSWORD,
    passwords_file: Path = opt.PASSWORDS_FILE,
    workers: int = opt.WORKERS,
    max_pages: int = opt.MAX_PAGES,
    per_page: bool = opt.PER_PAGE,
    grounding: bool = opt.GROUNDING,
    model_boxes: bool = opt.MODEL_BOXES,
    review_below: float = opt.REVIEW_BELOW,
    max_new_tokens: int = opt.MAX_NEW_TOKENS,
    retries: int = opt.RETRIES,
    force: bool = opt.FORCE,
    retry_errors: bool = opt.RETRY_ERRORS,
    wait: bool = opt.WAIT,
    engine_restarts: int = opt.ENGINE_RESTARTS,
    shard: str = opt.SHARD,
    max_failure_rate: float = opt.MAX_FAILURE_RATE,
    dry_run: bool = opt.DRY_RUN,
    log_format: str = opt.LOG_FORMAT,
    einvoice: str = opt.EINVOICE,
    as_json: bool = opt.AS_JSON,
    quiet: bool = opt.QUIET,
    verbose: int = opt.VERBOSE,
) -> None:
    """Extract typed data from every document under INPUTS into Parquet under OUT."""
    from pipeline.api import build_config

    try:
        passwords = list(password or []) + read_passwords(passwords_file)
        config = build_config(
            inputs, out, schema=schema, engine=engine, model=model, config_file=config_file,
            engine_settings={"max_new_tokens": max_new_tokens, "openai": {"base_url": base_url}},
            render={"dpi": dpi, "max_pixels": max_pixels, "min_pixels": min_pixels,
                    "workers": workers, "passwords": passwords or None,
                    "text_layer": grounding, "model_boxes": model_boxes},
            max_pages=max_pages, per_page=per_page, retries=retries, force=force,
            retry_errors=retry_errors, wait=wait, shard=shard, max_failure_rate=max_failure_rate,
            engine_restarts=engine_restarts,
            dry_run=dry_run, log_format=log_format, einvoice=einvoice, review_below=review_below,
        )  # fmt: skip
    except DocextractError as exc:
        fail(str(exc), exc.exit_code, as_json=log_format == "json")
    if quiet or verbose:
        set_verbosity(ctx, -1 if quiet else verbose)
    log_as_json(config.log_format == "json")
    _run(config, verbosity(ctx) < 0, as_json)


def _run(config: RunConfig, quiet: bool, as_json: bool) -> None:
    """The run, its summary (none with `quiet`; JSON with `as_json`) and its exit code."""
    from pipeline.api import run_configured

    try:
        if not quiet:
            _print_first_line(config)
        report = run_configured(config, reporter=_reporter(config, quiet))
    except RunStopped as stopped:
        if isinstance(stopped, EngineDied) and config.engine_restarts:
            _restart_if_left(stopped, config)
        _report_stop(stopped, config.log_format, _restart_advice(stopped, config))
    except ModelNeeded as needed:
        _report_model_needed(needed, config.log_format)
    except DocextractError as exc:
        fail(str(exc), exc.exit_code, as_json=config.log_format == "json")
    if as_json:
        typer.echo(json.dumps(report.to_dict(), default=str, ensure_ascii=False))
    elif not quiet:
        _print_summary(report, config.log_format)
    if report.failures_above(config.max_failure_rate):
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


class _FailuresOnly:
    """-q: no start, notes or summary from the reporter it is mixed into, and of the finished
    items only those that failed."""

    def start(self, report: RunReport, planned: int) -> None:
        return None

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        if code:
            self._failed(path, pages, tokens, code, message)

    def _failed(self, path: str, pages: int, tokens: int, code: str, message: str) -> None:
        raise NotImplementedError

    def note(self, message: str, **fields: object) -> None:
        return None

    def finish(self, report: RunReport) -> None:
        return None


class _QuietReporter(_FailuresOnly, PlainReporter):
    """-q: one line for each document that failed."""

    def _failed(self, path: str, pages: int, tokens: int, code: str, message: str) -> None:
        self._line(f"error {code}: {message}")


class _QuietJsonReporter(_FailuresOnly, JsonReporter):
    """-q with --log-format json: one JSON line for each document that failed."""

    def _failed(self, path: str, pages: int, tokens: int, code: str, message: str) -> None:
        JsonReporter.item_done(self, path, pages, tokens, code, message)


def _reporter(config: RunConfig, quiet: bool) -> Reporter:
    if quiet:
        json_lines = config.log_format == "json"
        return _QuietJsonReporter(sys.stderr) if json_lines else _QuietReporter(sys.stderr)
    return make_reporter(config.log_format)


def _report_stop(stopped: RunStopped, log_format: str, advice: str = "") -> None:
    """The summary of what a stopped run finished, then why it stopped, and its exit code."""
    said = _settled(stopped, log_format)
    if isinstance(stopped.report, RunReport):
        in_flight = _in_flight_text(stopped.report)
        said += ", and the next run takes up the rest" + (f": it {in_flight}" if in_flight else "")
    fail(said + advice, stopped.exit_code, log_format == "json")


def _settled(stopped: RunStopped, log_format: str) -> str:
    """Print the summary of a stopped run, where it has one; return why it stopped and what it
    had committed, in words."""
    report = stopped.report
    if not isinstance(report, RunReport):
        return f"{stopped} before any document was extracted"
    _print_summary(report, log_format)
    return f"{stopped}; the {report.attempted} documents settled before it are committed"


def _in_flight_text(report: object) -> str:
    """What the next start does with the requests a dead engine had (`policy.read_alone`), as
    a verb phrase; "" where it had none or the run has no report."""
    in_flight = report.in_flight_at_death if isinstance(report, RunReport) else 0
    if in_flight == 1:
        return (
            "records the one request in flight at the death as failed (killed_engine) "
            "instead of asking it again"
        )
    if in_flight > 1:
        return f"reads the {in_flight} requests in flight last, one at a time"
    return ""


def _restart_advice(stopped: RunStopped, config: RunConfig) -> str:
    """For a dead engine without restarts: the option that would have started it again."""
    if isinstance(stopped, EngineDied) and not config.engine_restarts:
        return " (--engine-restarts N starts it again at once)"
    return ""


def _restart_if_left(died: EngineDied, config: RunConfig) -> None:
    """With restarts left: the summary of the run whose engine died, that the command starts
    again, and the same command in this process (it does not return). Else nothing."""
    from pipeline.cli.restart import restarts_done, start_again

    restart = restarts_done() + 1
    if restart > config.engine_restarts:
        return
    in_flight = _in_flight_text(died.report)
    message = (
        f"{_settled(died, config.log_format)}{f'; the restart {in_flight}' if in_flight else ''}."
        f" Starting again with a fresh engine (restart {restart} of {config.engine_restarts})"
    )
    tell("restart", message, config.log_format == "json", reason=died.ended, restart=restart,
         of=config.engine_restarts)  # fmt: skip
    start_again()


_SHOWN_WHEN_SET = frozenset(
    {"  still failed", "  read from e-invoice XML", "need a model", "replicas answered"}
)


def _report_model_needed(needed: ModelNeeded, log_format: str) -> None:
    """The summary of what was read without a model, then why the rest waits: exit 3."""
    report = needed.report
    assert isinstance(report, RunReport)
    _print_summary(report, log_format)
    waiting = len(report.needs_model)
    fail(
        f"{needed}\n{_read_without_model(report)}; {waiting} still need a model (listed above "
        f"and in OUT/.docextract/runs/{report.run_id}.json)",
        needed.exit_code,
        log_format == "json",
    )


def _read_without_model(report: RunReport) -> str:
    """What a run whose engine did not start read: e-invoice XML, or pages' text layers (a
    page_text run)."""
    if report.extracted > report.from_xml:
        count = report.extracted - report.from_xml
        return f"{count} page{'' if count == 1 else 's'} read from the text layer"
    return f"{_documents(report.from_xml)} read from e-invoice XML"


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
    rich = wants_rich(log_format)
    console = make_console(rich)
    if report.dry_run:
        print_plan(report, console, rich)
        return
    console.print(
        f"run {report.run_id} · schema {report.schema} · engine {report.engine}"
        f" · model {report.model}"
    )
    print_table(_counts_table(report), console, rich)
    if report.attempted == 0:
        console.print("nothing new to extract")
    speed = f"{report.elapsed_s:.1f}s, {report.pages_per_s:.2f} pages/s"
    console.print(f"{speed} → {report.out}", soft_wrap=True)  # a path is never cut
    _print_listed(console, "copy, not extracted again: {}",
                  [f"{c['path']} = {c['copy_of']}" for c in report.copies],
                  f"more copies (see .docextract/runs/{report.run_id}.json)")  # fmt: skip
    _print_listed(console, "needs a model: {}", report.needs_model,
                  f"more (see OUT/.docextract/runs/{report.run_id}.json)")  # fmt: skip
    errors = Path(report.out) / report.schema / "errors"
    if report.failed:
        failed = f"{report.failed} failed: their rows, codes and messages are in {errors}/"
        console.print(failed, soft_wrap=True)
    if report.still_failed:
        still = f"{still_failed_text(report.still_failed)}; their rows are in {errors}/"
        console.print(still, soft_wrap=True)
    if other := report.other_served_models:
        console.print(
            f"the server said {', '.join(other)} answered, but the rows are recorded as model "
            f"{report.model}: give --model the name the server serves"
        )


def _counts_table(report: RunReport) -> Any:
    from rich.table import Table

    table = Table()
    table.add_column("")
    table.add_column("count", justify="right")
    for label, value in [
        ("files", report.files),
        ("duplicates", report.duplicates),
        ("already done", report.skipped),
        ("  still failed", report.still_failed),
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
    return table


def _print_listed(console: Any, line: str, items: list[str], rest: str) -> None:
    """The first ten `items`, each as `line`, then how many more there are."""
    for item in items[:10]:
        console.print(line.format(item), soft_wrap=True)
    if len(items) > 10:
        console.print(f"... and {len(items) - 10} {rest}")
