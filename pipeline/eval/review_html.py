"""The review page as HTML: one self-contained file, every string from the data escaped.

Filtering needs no server: each filterable element names the filters that show it
(`data-filters="all failed"`), and a few lines of inline script hide the others for the filter
in the URL's fragment (`review.html#failed`), which the buttons set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from pipeline.eval import review_boxes
from pipeline.eval.review_entries import STATUS_ORDER, Finding, ReviewEntry
from pipeline.items import is_page_item

FILTERS = ("all", "failed", "warned")
REVIEW_FILTER = "review"  # documents with a field to review; shown where the run grounded fields
_LABELS = {"review": "Needs review"}
# No network, no plugins: the page may only use what it carries.
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f4f5f7; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #d5d9de;
  padding: 10px 20px; z-index: 1; }
h1 { font-size: 18px; margin: 0 0 4px; }
main, #errors-table { padding: 12px 20px; }
.filters button { font: inherit; padding: 3px 12px; margin-right: 6px; border-radius: 4px;
  border: 1px solid #9aa3ad; background: #fff; cursor: pointer; }
.filters button[aria-pressed="true"] { background: #1d232a; color: #fff; }
.doc { background: #fff; border: 1px solid #d5d9de; border-left: 6px solid #2e8540;
  border-radius: 4px; margin-bottom: 14px; padding: 10px 14px; }
.doc.failed { border-left-color: #c62828; }
.doc.warned { border-left-color: #e0a100; }
.doc h2 { font-size: 15px; margin: 0; word-break: break-all; }
.status { display: inline-block; min-width: 54px; text-align: center; border-radius: 3px;
  color: #fff; background: #2e8540; font-size: 12px; padding: 1px 6px; margin-right: 6px; }
.failed .status { background: #c62828; }
.warned .status { background: #a87800; }
.meta { color: #5b6570; margin: 2px 0 8px; font-size: 12px; word-break: break-all; }
.body { display: flex; gap: 16px; align-items: flex-start; }
.pages { flex: 0 0 auto; display: flex; flex-wrap: wrap; gap: 6px; max-width: 46%; }
.pages img { width: 220px; border: 1px solid #c4cad1; cursor: zoom-in; }
.pages img.zoomed { width: min(720px, 90vw); cursor: zoom-out; }
.note { color: #5b6570; font-style: italic; margin: 0; }
.pages .note { max-width: 300px; background: #eef0f3; padding: 10px; }
.details { flex: 1 1 auto; min-width: 0; }
.details h3 { font-size: 13px; margin: 8px 0 4px; text-transform: uppercase; color: #5b6570; }
.findings { margin: 0; padding-left: 18px; }
code { background: #eef0f3; padding: 0 4px; border-radius: 3px; }
.errors code { background: #fde0e0; }
.warnings code, .violations code { background: #fff1c2; }
table { border-collapse: collapse; }
td, th { border: 1px solid #dde1e5; padding: 2px 6px; vertical-align: top; text-align: left; }
th { background: #f4f5f7; font-weight: 600; }
.fields > tbody > tr > th { font-family: ui-monospace, monospace; font-weight: normal; }
.empty { color: #9aa3ad; }
pre { white-space: pre-wrap; word-break: break-all; background: #eef0f3; padding: 6px; }
[hidden] { display: none !important; }
"""

_SCRIPT = """
(function () {
  var known = ["all", "failed", "warned", "review"];
  function apply() {
    var wanted = location.hash.slice(1);
    if (known.indexOf(wanted) < 0) wanted = "all";
    document.querySelectorAll("[data-filters]").forEach(function (el) {
      el.hidden = el.dataset.filters.split(" ").indexOf(wanted) < 0;
    });
    document.querySelectorAll("button[data-filter]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.filter === wanted));
    });
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.matches("button[data-filter]")) location.hash = target.dataset.filter;
    else if (target.matches(".pages img")) target.classList.toggle("zoomed");
  });
  window.addEventListener("hashchange", apply);
  apply();
})();
"""


def review_page(schema: str, out: Path, entries: Sequence[ReviewEntry]) -> str:
    """The whole review page for one schema's entries (already in display order)."""
    title = f"docextract review: {schema}"
    cards = "\n".join(document_card(number, entry) for number, entry in enumerate(entries, 1))
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}{review_boxes.STYLE}</style>\n"
        f"</head>\n<body>\n{_header(schema, out, entries)}\n<main>\n{cards}\n</main>\n"
        f"{errors_table(entries)}\n<script>{_SCRIPT}{review_boxes.SCRIPT}</script>\n"
        "</body>\n</html>\n"
    )


def _header(schema: str, out: Path, entries: Sequence[ReviewEntry]) -> str:
    counts: dict[str, int] = {"all": len(entries)}
    counts.update((status, sum(e.status == status for e in entries)) for status in STATUS_ORDER)
    counts[REVIEW_FILTER] = sum(entry.needs_review for entry in entries)
    grounded = any(entry.fields for entry in entries)
    parts = ", ".join(f"{counts[status]} {status}" for status in STATUS_ORDER)
    runs = sorted({entry.run_id for entry in entries if entry.run_id})
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    buttons = "".join(
        f'<button type="button" data-filter="{name}">'
        f"{_LABELS.get(name, name.capitalize())} ({counts[name]})</button>"
        for name in FILTERS + ((REVIEW_FILTER,) if grounded else ())
    )
    return (
        f"<header>\n<h1>Review: {escape(schema)}</h1>\n"
        f'<p class="summary">{len(entries)} documents: {parts}. '
        f"Output folder {escape(str(out))}; {len(runs)} run(s): {escape(', '.join(runs))}; "
        f"page written {written}.</p>\n"
        f'<nav class="filters">{buttons}</nav>\n</header>'
    )


def document_card(number: int, entry: ReviewEntry) -> str:
    """One document: path and status, its pages, then errors, rule findings and fields."""
    filters = "all" if entry.status == "ok" else f"all {entry.status}"
    if entry.needs_review:
        filters += f" {REVIEW_FILTER}"
    first = first_page_shown(entry)
    shown = range(first, first + len(entry.images.images))
    details = "".join(
        (
            _findings("errors", "Error", entry.errors),
            _findings("violations", "Rule violations", entry.violations),
            _findings("warnings", "Warnings", entry.warnings),
            _fields(entry),
            review_boxes.fields_located(number, entry.fields, shown),
        )
    )
    return (
        f'<article class="doc {entry.status}" id="doc-{number}" data-status="{entry.status}" '
        f'data-filters="{filters}">\n'
        f'<h2><span class="status">{entry.status}</span>'
        f'<span class="path">{escape(entry.source_path)}</span></h2>\n'
        f'<p class="meta">{escape(_meta(entry))}</p>\n'
        f'<div class="body">\n{_pages(number, entry)}\n'
        f'<div class="details">{details}</div>\n</div>\n'
        "</article>"
    )


def _meta(entry: ReviewEntry) -> str:
    facts = []
    if entry.page is not None:
        facts.append(f"page {entry.page}")
    if entry.page_count:
        facts.append(f"{entry.page_count} page(s)")
    facts += [f"model {entry.model}", f"run {entry.run_id}"]
    if entry.also_at:
        facts.append("also at " + ", ".join(entry.also_at))
    return " · ".join(facts)


def _pages(card: int, entry: ReviewEntry) -> str:
    """The page images of document `card`, each with its fields' boxes over it."""
    shown = entry.images
    images = "".join(
        review_boxes.page_figure(
            card,
            entry.fields,
            number,
            f'<img src="{uri}" alt="page {number} of {escape(entry.source_path)}">',
        )  # fmt: skip
        for number, uri in enumerate(shown.images, first_page_shown(entry))
    )
    note = f'<p class="note">{escape(shown.note)}</p>' if shown.note else ""
    if not images and not note:
        note = '<p class="note">no pages</p>'
    return f'<div class="pages">{images}{note}</div>'


def first_page_shown(entry: ReviewEntry) -> int:
    """The number of the first page image: the row's page for a per-page row, else 1."""
    return entry.page if entry.page is not None and is_page_item(entry.item_id) else 1


def _findings(kind: str, title: str, findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    items = "".join(
        f"<li><code>{escape(f.code)}</code>"
        + (f" ({escape(f.stage)})" if f.stage else "")
        + f" {escape(f.message)}</li>"
        for f in findings
    )
    return f'<section class="{kind}"><h3>{title}</h3><ul class="findings">{items}</ul></section>'


def _fields(entry: ReviewEntry) -> str:
    if entry.data is not None:
        title = "Fields" if entry.validated else "The model's answer (not valid)"
        return f'<section class="fields"><h3>{title}</h3>{value_html(entry.data)}</section>'
    if entry.raw_answer:
        return (
            '<section class="fields"><h3>The model\'s answer (not JSON)</h3>'
            f"<pre>{escape(entry.raw_answer)}</pre></section>"
        )
    return ""


def value_html(value: Any) -> str:
    """A field value as HTML: objects as two-column tables, lists of objects as tables with a
    column per key, other lists as bullet lists, nothing as a grey dash."""
    if value is None or value == [] or value == {}:
        return '<span class="empty">–</span>'
    if isinstance(value, Mapping):
        rows = "".join(
            f"<tr><th>{escape(str(key))}</th><td>{value_html(item)}</td></tr>"
            for key, item in value.items()
        )
        return f'<table class="fields"><tbody>{rows}</tbody></table>'
    if isinstance(value, list | tuple):
        if all(isinstance(item, Mapping) for item in value):
            return _record_table(value)
        return "<ul>" + "".join(f"<li>{value_html(item)}</li>" for item in value) + "</ul>"
    return escape(scalar_text(value))


def _record_table(records: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for record in records for key in record))
    head = "".join(f"<th>{escape(str(column))}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{value_html(record.get(c))}</td>" for c in columns) + "</tr>"
        for record in records
    )
    return f'<table class="records"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def scalar_text(value: Any) -> str:
    """A single value as a clerk reads it: amounts without the storage's extra zeros
    (12.5000 -> 12.50), dates as ISO dates, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        cents = value.quantize(Decimal("0.01")) if value.is_finite() else value
        return str(cents) if cents == value else format(value.normalize(), "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    return str(value)


def errors_table(entries: Sequence[ReviewEntry]) -> str:
    """The errors table of the run, each row linked to its document above."""
    rows = "".join(
        f'<tr><td><a href="#doc-{number}">{escape(entry.source_path)}</a></td>'
        f"<td>{'' if entry.page is None else entry.page}</td>"
        f"<td>{escape(error.stage or '')}</td><td><code>{escape(error.code)}</code></td>"
        f"<td>{escape(error.message)}</td></tr>"
        for number, entry in enumerate(entries, 1)
        for error in entry.errors
    )
    if not rows:
        body = '<p class="note">No errors.</p>'
    else:
        head = "<tr><th>file</th><th>page</th><th>stage</th><th>code</th><th>message</th></tr>"
        body = f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"
    return f'<section id="errors-table" data-filters="all failed"><h2>Errors</h2>{body}</section>'
