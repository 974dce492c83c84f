"""The words and lines of a PDF's pages with their boxes (PyMuPDF's text layer), read once per
document."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a page: its text and box in PDF points (origin top left)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    block: int
    line: int


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a page as PyMuPDF reads it: its spans' text joined, and its box in PDF
    points (origin top left)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class PageText:
    """The words of one page (number from 1) in reading order, its lines where they were
    asked for, and the page's size. `source` says who read the words: the PDF's own text
    (`text_layer`), or the model (`model_box`, `extract.model_lines`)."""

    number: int
    width: float
    height: float
    words: tuple[Word, ...]
    lines: tuple[Line, ...] = ()
    source: str = "text_layer"


def page_text(page: Any, number: int, words: bool = True, lines: bool = False) -> PageText:
    """The text layer of an open PyMuPDF page (`number` from 1): with `words`, its words in
    visual order: lines top to bottom (words sharing a baseline), each left to right (the order
    in the file need not be that: a generator may write one font's text after another's); with
    `lines`, its lines (`text_lines`). Boxes are on the page as shown (its /Rotate applied), as
    the page is rendered: PyMuPDF gives them on the page before rotation."""
    rect = page.rect
    found = PageText(
        number,
        float(rect.width),
        float(rect.height),
        visual_order(page.get_text("words")) if words else (),
        text_lines(page) if lines else (),
    )
    return as_shown(found, page.rotation_matrix) if page.rotation else found


def as_shown(text: PageText, rotation: Any) -> PageText:
    """`text` with every box moved by the page's `rotation_matrix` (unrotated to shown)."""
    import pymupdf

    def shown(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        box = (pymupdf.Rect(x0, y0, x1, y1) * rotation).normalize()
        return float(box.x0), float(box.y0), float(box.x1), float(box.y1)

    return replace(
        text,
        words=tuple(
            Word(w.text, *shown(w.x0, w.y0, w.x1, w.y1), w.block, w.line) for w in text.words
        ),
        lines=tuple(Line(ln.text, *shown(ln.x0, ln.y0, ln.x1, ln.y1)) for ln in text.lines),
    )


def text_lines(page: Any) -> tuple[Line, ...]:
    """The page's lines in PyMuPDF's reading order (`get_text("dict", sort=True)`: top to
    bottom, then left to right), each line's spans joined; lines of white space only are left
    out."""
    found = []
    for block in page.get_text("dict", sort=True)["blocks"]:
        for line in block.get("lines", ()):
            text = "".join(span["text"] for span in line["spans"])
            if text.strip():
                found.append(Line(text, *(float(v) for v in line["bbox"])))
    return tuple(found)


def visual_order(raw: list[tuple[Any, ...]]) -> tuple[Word, ...]:
    """PyMuPDF word tuples as `Word`s in visual order. The words of one of PyMuPDF's lines stay
    together; those lines are grouped by their bottom edge into visual lines (one printed line
    may be several lines of the file: a label and its value, one font then another), each
    sorted by x. Grouping whole lines keeps a line of a small font beside a taller one from
    being split between two visual lines."""
    pieces: dict[tuple[Any, Any], list[tuple[Any, ...]]] = {}
    for w in raw:
        pieces.setdefault((w[5], w[6]), []).append(w)
    lines: list[tuple[float, list[tuple[Any, ...]]]] = []
    for piece in sorted(pieces.values(), key=_bottom):
        bottom, height = _bottom(piece), max(w[3] - w[1] for w in piece)
        if lines and abs(lines[-1][0] - bottom) < 0.3 * max(1.0, height):
            lines[-1][1].extend(piece)
        else:
            lines.append((bottom, list(piece)))
    return tuple(
        Word(w[4], w[0], w[1], w[2], w[3], w[5], number)
        for number, (_, line) in enumerate(lines)
        for w in sorted(line, key=lambda w: w[0])
    )


def _bottom(piece: list[tuple[Any, ...]]) -> float:
    return max(float(w[3]) for w in piece)


def read_text_layer(path: str | Path, pages: tuple[int, ...] | None = None) -> list[PageText]:
    """The text layer of a PDF's pages (all, or the numbers in `pages`); an empty list where the
    file is not a PDF PyMuPDF opens. Pages without text come back with no words."""
    import pymupdf

    try:
        doc = pymupdf.open(path)
    except Exception:  # noqa: BLE001 - not readable as a document: no text layer
        return []
    with doc:
        if not doc.is_pdf:
            return []
        wanted = range(1, doc.page_count + 1) if pages is None else pages
        return [page_text(doc[n - 1], n) for n in wanted if 1 <= n <= doc.page_count]
