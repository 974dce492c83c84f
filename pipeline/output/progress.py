"""How a run talks while it works: a rich progress bar on a terminal, plain lines or JSON lines
for logs (cron, CI). The orchestrator calls the same four methods whichever is in use.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Protocol

from pipeline.output.report import RunReport, still_failed_text


class Reporter(Protocol):
    """Receives run events; must not raise. All calls come from the orchestrator's thread."""

    def start(self, report: RunReport, planned: int) -> None: ...

    def item_done(
        self, path: str, pages: int, tokens: int, code: str | None, message: str
    ) -> None: ...

    def note(self, message: str, **fields: Any) -> None: ...

    def finish(self, report: RunReport) -> None: ...


def make_reporter(log_format: str, stream: IO[str] | None = None) -> Reporter:
    """'auto' picks rich on a terminal and plain lines otherwise."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "rich" if stream.isatty() else "plain"
    if log_format == "json":
        return JsonReporter(stream)
    if log_format == "rich":
        return RichReporter(stream)
    return PlainReporter(stream)


class JsonReporter:
    """One JSON object per line, with a UTC timestamp and an event name."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def _emit(self, event: str, **fields: Any) -> None:
        record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event}
        record.update(fields)
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()

    def start(self, report: RunReport, planned: int) -> None:
        self._emit(
            "start",
            run_id=report.run_id,
            schema=report.schema,
            planned=planned,
            skipped=report.skipped,
            engine=report.engine,
            model=report.model,
        )

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        self._emit(
            "item",
            path=path,
            pages=pages,
            tokens=tokens,
            status="error" if code else "ok",
            code=code,
            message=message or None,
        )

    def note(self, message: str, **fields: Any) -> None:
        self._emit("note", message=message, **fields)

    def finish(self, report: RunReport) -> None:
        self._emit("finish", **report.to_dict())


_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), 127) if code != 9}


class PlainReporter:
    """Readable lines: one per finished item that failed, progress every few seconds."""

    def __init__(self, stream: IO[str], every_s: float = 10.0) -> None:
        self.stream = stream
        self.every_s = every_s
        self._last = time.monotonic()
        self._done = 0
        self._planned = 0
        self._t0 = time.monotonic()

    def _line(self, text: str) -> None:
        # A file name may hold a newline: escaped, it cannot forge a line of the log.
        self.stream.write(text.translate(_CONTROL_ESCAPES) + "\n")
        self.stream.flush()

    def start(self, report: RunReport, planned: int) -> None:
        self._planned = planned
        self._t0 = time.monotonic()
        self._line(
            f"run {report.run_id}: {planned} to extract, {report.skipped} already done "
            f"(schema {report.schema}, engine {report.engine}, model {report.model})"
        )

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        self._done += 1
        if code:
            self._line(f"error {code}: {message}")  # messages name the file
        if time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            eta = eta_text(self._done, self._planned, time.monotonic() - self._t0)
            self._line(f"progress {self._done}/{self._planned}, eta {eta}")

    def note(self, message: str, **fields: Any) -> None:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        self._line(f"{message} {extra}".rstrip())

    def finish(self, report: RunReport) -> None:
        self._line(summary_line(report))


class RichReporter:
    """A live progress bar (files, pages, pages/s, tokens/s, errors) for people at a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console

        self.console = Console(file=stream, markup=False)  # paths may hold brackets
        self._progress: Any = None
        self._task: Any = None
        self._pages = self._tokens = self._errors = 0
        self._t0 = time.monotonic()

    def start(self, report: RunReport, planned: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._t0 = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("extracting", total=planned, stats="")
        if report.skipped:
            self.console.print(f"{report.skipped} already done, skipped")

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        self._pages += pages
        self._tokens += tokens
        if code:
            self._errors += 1
            from rich.text import Text

            # Text, not markup: messages may hold brackets, e.g. "[Errno 2]". Soft wrap: the
            # terminal folds a long path, so a copied path holds no newline.
            line = Text.assemble(("error ", "red"), (code, "bold"), " ", message)
            self.console.print(line, soft_wrap=True)
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        stats = (
            f"{self._pages} pages · {self._pages / elapsed:.1f} pages/s · "
            f"{self._tokens / elapsed:.0f} tok/s · {self._errors} errors"
        )
        if self._progress is not None:
            self._progress.update(self._task, advance=1, stats=stats)

    def note(self, message: str, **fields: Any) -> None:
        self.console.print(message, *(f"{k}={v}" for k, v in fields.items()), soft_wrap=True)

    def finish(self, report: RunReport) -> None:
        if self._progress is not None:
            self._progress.stop()


def eta_text(done: int, planned: int, elapsed_s: float) -> str:
    """Time left at the pace so far, as 1h02m, 3m05s or 12s; `?` before the first item."""
    if done <= 0 or planned <= done:
        return "?" if done <= 0 else "0s"
    seconds = round(elapsed_s / done * (planned - done))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _warned(report: RunReport) -> str:
    """`: needs_review 2, repaired 1`: the documents with each warning code, where any."""
    codes = ", ".join(f"{code} {n}" for code, n in sorted(report.warnings_by_code.items()))
    return f": {codes}" if codes else ""


def summary_line(report: RunReport) -> str:
    codes = ", ".join(f"{code} {n}" for code, n in sorted(report.errors_by_code.items()))
    failed = f"{report.failed} failed" + (f" ({codes})" if codes else "")
    line = (
        f"done {report.run_id}: {report.extracted} extracted"
        f" ({report.with_warnings} with warnings{_warned(report)}), {failed},"
        f" {report.skipped} skipped,"
        f" {report.pages} pages in {report.elapsed_s:.1f}s ({report.pages_per_s:.2f} pages/s)"
    )
    return f"{line}; {still_failed_text(report.still_failed)}" if report.still_failed else line
