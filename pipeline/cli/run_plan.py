"""`docextract run --dry-run`: every input and its fate, as tables and one closing line."""

from __future__ import annotations

from typing import Any

from pipeline.cli.common import print_table
from pipeline.extract.estimate import DONE, DUPLICATE, FAIL, STILL_FAILED
from pipeline.output.report import RunReport, still_failed_text

_SKIPPED = frozenset({DONE, STILL_FAILED, DUPLICATE})


def print_plan(report: RunReport, console: Any, rich: bool) -> None:
    """What the run would do with each input (extract it, read it from XML, or fail it, with
    the error the run would record), then what it would skip and why, then the totals."""
    work = [entry for entry in report.planned if entry["fate"] not in _SKIPPED]
    skipped = [entry for entry in report.planned if entry["fate"] in _SKIPPED]
    print_table(_work_table(work), console, rich)
    if skipped:
        print_table(_skip_table(skipped), console, rich)
    console.print(plan_line(report))


def _work_table(entries: list[dict[str, Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="would run")
    table.add_column("file", overflow="fold")
    for column in ("kind", "pages", "visual tokens"):
        table.add_column(column)
    table.add_column("problem", overflow="fold")
    for entry in entries:
        problem = f"error {entry['code']}: {entry['problem']}" if entry["code"] else ""
        table.add_row(
            Text(entry["path"]), entry["kind"], _number(entry["pages"]),
            _number(entry["visual_tokens"]), Text(problem),
        )  # fmt: skip
    return table


def _skip_table(entries: list[dict[str, Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="would skip")
    table.add_column("file", overflow="fold")
    table.add_column("fate")
    table.add_column("why", overflow="fold")
    for entry in entries:
        table.add_row(Text(entry["path"]), entry["fate"], Text(_why_skipped(entry)))
    return table


def _why_skipped(entry: dict[str, Any]) -> str:
    if entry["fate"] == DUPLICATE:
        return f"same content as {entry['copy_of']}, extracted once"
    copy = f"copy of {entry['copy_of']}; " if entry["copy_of"] else ""
    if entry["fate"] == STILL_FAILED:
        return f"{copy}failed in an earlier run; --retry-errors tries it again"
    return f"{copy}extracted by an earlier run; --force extracts it again"


def plan_line(report: RunReport) -> str:
    """The totals of a dry run: what it would extract, fail and skip."""
    fates = [entry["fate"] for entry in report.planned]
    tokens = sum(entry["visual_tokens"] or 0 for entry in report.planned)
    extract = len(fates) - sum(fate in _SKIPPED or fate == FAIL for fate in fates)
    parts = [f"{_count(extract, 'document')} to extract, ~{tokens} visual tokens",
             f"{fates.count(FAIL)} would fail",
             f"{fates.count(DONE) + fates.count(STILL_FAILED)} already done"]  # fmt: skip
    if report.still_failed:
        parts.append(still_failed_text(report.still_failed))
    if fates.count(DUPLICATE):
        parts.append(_count(fates.count(DUPLICATE), "duplicate"))
    if report.other_shards:
        parts.append(f"{report.other_shards} in other shards")
    return "; ".join(parts)


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
