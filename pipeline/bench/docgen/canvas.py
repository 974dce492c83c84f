"""A thin drawing layer over PyMuPDF pages: aligned text in Latin or CJK fonts, lines, boxes.

Latin text goes through `TextWriter` with the Base-14 fonts (full Latin coverage, including €);
CJK text uses PyMuPDF's built-in, non-embedded "china-s" font.
"""

from __future__ import annotations

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
        self._writers: dict[RGB, Any] = {}
        self.new_page()

    def new_page(self) -> None:
        import pymupdf

        self._flush()
        self.page = self.doc.new_page(width=self.width, height=self.height)
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
    ) -> None:
        """Draw `text` with its baseline at y; x is the left, right or centre edge per `align`."""
        if not text:
            return
        width = self.text_width(text, size, font)
        if align == "right":
            x -= width
        elif align == "center":
            x -= width / 2
        for cjk, run in _runs(text):
            if cjk:
                self.page.insert_text((x, y), run, fontname=CJK_FONT, fontsize=size, color=color)
            else:
                if color not in self._writers:
                    self._writers[color] = self._pymupdf.TextWriter(self.page.rect)
                self._writers[color].append((x, y), run, font=_font(font), fontsize=size)
            x += self.text_width(run, size, font)

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
