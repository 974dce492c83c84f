"""A thin drawing layer over PyMuPDF pages: aligned text in Latin or CJK fonts, lines, boxes.

Latin text goes through `TextWriter` with the Base-14 fonts (full Latin coverage, including €);
CJK text uses PyMuPDF's built-in, non-embedded "china-s" font.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

RGB = tuple[float, float, float]
BLACK: RGB = (0, 0, 0)
GREY: RGB = (0.45, 0.45, 0.45)
LIGHT: RGB = (0.92, 0.92, 0.92)
CJK_FONT = "china-s"


@cache
def _font(name: str) -> Any:
    import pymupdf

    return pymupdf.Font(name)


def _runs(text: str) -> list[tuple[bool, str]]:
    """Split text into runs of CJK and non-CJK characters (each run drawn in its own font)."""
    runs: list[tuple[bool, str]] = []
    for ch in text:
        cjk = ord(ch) >= 0x2E80
        if runs and runs[-1][0] == cjk:
            runs[-1] = (cjk, runs[-1][1] + ch)
        else:
            runs.append((cjk, ch))
    return runs


class Canvas:
    """Collects text and shapes for one PyMuPDF document, page by page."""

    def __init__(self, width: float, height: float) -> None:
        import pymupdf

        self.doc = pymupdf.open()
        self.width, self.height = width, height
        self.page: Any = None
        self.page_number = 0
        self._writers: dict[RGB, Any] = {}
        self.marks: list[tuple[str, int, tuple[float, float, float, float]]] = []
        self.new_page()

    def new_page(self) -> None:
        import pymupdf

        self._flush()
        self.page = self.doc.new_page(width=self.width, height=self.height)
        self.page_number += 1
        self._pymupdf = pymupdf

    def _flush(self) -> None:
        if self.page is not None:
            for color, writer in self._writers.items():
                writer.write_text(self.page, color=color)
        self._writers = {}

    def text_width(self, text: str, size: float, font: str = "helv") -> float:
        return sum(
            _font(CJK_FONT if cjk else font).text_length(run, fontsize=size)
            for cjk, run in _runs(text)
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 9,
        font: str = "helv",
        align: str = "left",
        color: RGB = BLACK,
        field: str | tuple[str, ...] | Mapping[str, str] | None = None,
        part: str | None = None,
    ) -> None:
        """Draw `text` with its baseline at y; x is the left, right or centre edge per `align`.

        `field` names the truth field (`line_items[2].line_total`, or several) the text prints,
        or the `part` of it that does ("DE123..." of "VAT no.: DE123..."): its box is recorded.
        A mapping names several fields printed in one text, each with its part, the parts in
        the order they are printed ({"period_start": "1 May 2024", "period_end": "31 May
        2024"} of "1 May 2024 - 31 May 2024"): each is looked for after the one before."""
        if not text:
            return
        width = self.text_width(text, size, font)
        if align == "right":
            x -= width
        elif align == "center":
            x -= width / 2
        if isinstance(field, Mapping):
            start = 0
            for name, piece in field.items():
                start = self._mark(name, x, y, text, piece, size, font, start)
        else:
            for name in (field,) if isinstance(field, str) else field or ():
                self._mark(name, x, y, text, part or text, size, font)
        for cjk, run in _runs(text):
            if cjk:
                self.page.insert_text((x, y), run, fontname=CJK_FONT, fontsize=size, color=color)
            else:
                if color not in self._writers:
                    self._writers[color] = self._pymupdf.TextWriter(self.page.rect)
                self._writers[color].append((x, y), run, font=_font(font), fontsize=size)
            x += self.text_width(run, size, font)

    def _mark(
        self,
        field: str,
        x: float,
        y: float,
        text: str,
        part: str,
        size: float,
        font: str,
        after: int = 0,
    ) -> int:
        """Record the box of `part` of `text` (drawn at x, baseline y; the first time it is
        printed from index `after` on) as where `field` is, top and bottom at the fonts'
        ascender and descender as a PDF reader measures words. Returns where the part ends."""
        start = text.index(part, after)
        x0 = x + self.text_width(text[:start], size, font)
        x1 = x0 + self.text_width(part, size, font)
        fonts = [_font(CJK_FONT if cjk else font) for cjk, _ in _runs(part)]
        top = y - max(f.ascender for f in fonts) * size
        bottom = y - min(f.descender for f in fonts) * size
        self.marks.append((field, self.page_number, (x0, top, x1, bottom)))
        return start + len(part)

    def boxes(self) -> dict[str, dict[str, Any]]:
        """The true place of each marked field: its first page, the union of its marks there
        (PDF points, origin top left), and the page size."""
        found: dict[str, dict[str, Any]] = {}
        for field, page, box in self.marks:
            seen = found.setdefault(field, {"page": page, "box": list(box)})
            if seen["page"] == page:
                old = seen["box"]
                seen["box"] = [
                    min(old[0], box[0]),
                    min(old[1], box[1]),
                    max(old[2], box[2]),
                    max(old[3], box[3]),
                ]
        for place in found.values():
            place["box"] = [round(v, 2) for v in place["box"]]
            place["page_size"] = [self.width, self.height]
        return found

    def line(
        self, x0: float, y0: float, x1: float, y1: float, width: float = 0.6, color: RGB = BLACK
    ) -> None:
        self.page.draw_line((x0, y0), (x1, y1), color=color, width=width)

    def box(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        fill: RGB | None = None,
        color: RGB | None = BLACK,
        width: float = 0.6,
    ) -> None:
        self.page.draw_rect((x0, y0, x1, y1), color=color, fill=fill, width=width)

    def finish(self) -> bytes:
        """Write pending text, subset the fonts and return compact PDF bytes."""
        self._flush()
        self.doc.subset_fonts()
        # Fixed metadata and no fresh file id: the same seed gives the same bytes.
        self.doc.set_metadata({"producer": "docextract docgen", "creator": "docextract docgen"})
        data = self.doc.tobytes(garbage=4, deflate=True, no_new_id=True)
        self.doc.close()
        return data
