"""Where each value is printed, on the review page: the fields table of a grounded run (`run
--grounding`) drawn as boxes over the page images, and listed beside them least sure first.

A box is an absolutely placed element over its page image, at the field's normalised box
(`nx0`..`ny1`) as percentages, so it follows the image at any size (thumbnail or enlarged).
Each box and its row name each other (`data-row`, `data-box`); the page's script marks both
`selected` when either is clicked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pipeline.errors import ErrorCode
from pipeline.grounding.record import under_threshold


@dataclass(frozen=True, slots=True)
class FieldMark:
    """One row of the fields table as the review page shows it."""

    path: str
    value: str | None
    source: str
    match: str
    confidence: float
    page: int | None = None
    box_norm: tuple[float, float, float, float] | None = None
    needs_review: bool = False

    @classmethod
    def of(cls, row: Mapping[str, Any], review_below: float | None = None) -> FieldMark:
        """A fields-table row; with `review_below`, marked by that threshold instead of the
        run's `needs_review` column (a field without a value is never marked)."""
        confidence = float(row.get("confidence") or 0.0)
        value = row.get("value")
        marked = bool(row.get("needs_review"))
        if review_below is not None:
            marked = under_threshold(value, confidence, review_below)
        corners = [row.get(name) for name in ("nx0", "ny0", "nx1", "ny1")]
        placed = row.get("on_page") is not None and all(c is not None for c in corners)
        return cls(
            path=str(row.get("field") or ""),
            value=value,
            source=str(row.get("source") or ""),
            match=str(row.get("match") or ""),
            confidence=confidence,
            page=row.get("on_page") if placed else None,
            box_norm=tuple(float(c) for c in corners) if placed else None,  # type: ignore[arg-type]
            needs_review=marked,
        )


def review_order(marks: Sequence[FieldMark]) -> tuple[FieldMark, ...]:
    """Least sure first; fields without a value last; by path among equals."""
    return tuple(sorted(marks, key=lambda m: (m.value is None, m.confidence, m.path)))


def needs_review(fields: Sequence[FieldMark], warning_codes: Sequence[str]) -> bool:
    """Whether a document needs review: a field of it is marked, or its row carries the
    run's needs_review warning."""
    return any(m.needs_review for m in fields) or ErrorCode.NEEDS_REVIEW in warning_codes


def box_id(number: int, index: int) -> str:
    return f"box-{number}-{index}"


def row_id(number: int, index: int) -> str:
    return f"field-{number}-{index}"


def box_style(box_norm: tuple[float, float, float, float]) -> str:
    """The CSS placing a box over its page image: its normalised corners as percentages."""
    x0, y0, x1, y1 = box_norm
    return (
        f"left:{x0 * 100:.4f}%;top:{y0 * 100:.4f}%;"
        f"width:{(x1 - x0) * 100:.4f}%;height:{(y1 - y0) * 100:.4f}%"
    )


def _level(mark: FieldMark) -> str:
    if mark.value is None:
        return "unset"  # nothing to find: no colour
    return "low" if mark.needs_review else ("mid" if mark.confidence < 0.9 else "high")


def page_boxes(number: int, fields: Sequence[FieldMark], page: int) -> str:
    """The boxes of document `number`'s fields printed on `page` (from 1)."""
    return "".join(
        f'<div class="box {_level(mark)}" id="{box_id(number, index)}" '
        f'data-row="{row_id(number, index)}" data-field="{escape(mark.path)}" '
        f'style="{box_style(mark.box_norm)}" title="{escape(mark.path)}"></div>'
        for index, mark in enumerate(fields)
        if mark.page == page and mark.box_norm is not None
    )


def page_figure(number: int, fields: Sequence[FieldMark], page: int, image: str) -> str:
    """One page image (`image`: its <img> element) with its boxes over it."""
    return f'<div class="page" data-page="{page}">{image}{page_boxes(number, fields, page)}</div>'


def fields_located(number: int, fields: Sequence[FieldMark], pages_shown: range) -> str:
    """The section listing document `number`'s fields as the run located them, in the order
    given (least sure first); a row with a box on a page shown names that box."""
    if not fields:
        return ""
    rows = "".join(
        _field_row(number, index, mark, pages_shown) for index, mark in enumerate(fields)
    )
    marked = sum(mark.needs_review for mark in fields)
    head = "<tr><th>field</th><th>value</th><th>confidence</th><th>match</th><th>page</th></tr>"
    title = "Where each value is printed" + (f" ({marked} to review)" if marked else "")
    return (
        f'<section class="located"><h3>{title}</h3>'
        f'<table class="located"><thead>{head}</thead><tbody>{rows}</tbody></table></section>'
    )


def _field_row(number: int, index: int, mark: FieldMark, pages_shown: range) -> str:
    classes = ["field-row", _level(mark)] + (["needs-review"] if mark.needs_review else [])
    drawn = mark.box_norm is not None and mark.page in pages_shown
    link = f' data-box="{box_id(number, index)}"' if drawn else ""
    value = '<span class="empty">–</span>' if mark.value is None else escape(mark.value)
    if mark.page is None:
        where = escape(mark.source if mark.source == "xml" else "not found")
    else:
        where = str(mark.page) + ("" if drawn else " (not shown)")
    return (
        f'<tr class="{" ".join(classes)}" id="{row_id(number, index)}"{link} '
        f'data-field="{escape(mark.path)}" data-confidence="{mark.confidence:g}">'
        f"<th>{escape(mark.path)}</th><td>{value}</td><td>{mark.confidence:.2f}</td>"
        f"<td>{escape(mark.match)}</td><td>{where}</td></tr>"
    )


STYLE = """
.page { position: relative; display: inline-block; line-height: 0; }
.page img { display: block; }
.box { position: absolute; box-sizing: border-box; border: 2px solid #2e8540;
  background: rgba(46, 133, 64, 0.12); cursor: pointer; }
.box.mid { border-color: #a87800; background: rgba(224, 161, 0, 0.15); }
.box.low { border-color: #c62828; background: rgba(198, 40, 40, 0.15); }
.box.selected { border: 3px solid #1565c0; background: rgba(21, 101, 192, 0.3);
  outline: 2px solid #fff; z-index: 2; }
table.located tr[data-box] { cursor: pointer; }
table.located tr.low > td:nth-child(3) { color: #c62828; font-weight: 600; }
table.located tr.mid > td:nth-child(3) { color: #a87800; }
table.located tr.selected > * { background: #d6e6fb; }
"""

SCRIPT = """
(function () {
  function select(row, box) {
    document.querySelectorAll(".selected").forEach(function (el) {
      el.classList.remove("selected");
    });
    if (row) row.classList.add("selected");
    if (box) box.classList.add("selected");
  }
  document.addEventListener("click", function (event) {
    var box = event.target.closest(".box");
    var row = event.target.closest("tr[data-box]");
    if (box) {
      row = document.getElementById(box.dataset.row);
      select(row, box);
      if (row) row.scrollIntoView({block: "nearest"});
    } else if (row) {
      box = document.getElementById(row.dataset.box);
      select(row, box);
      if (box) box.parentElement.scrollIntoView({block: "nearest"});
    }
  });
})();
"""
