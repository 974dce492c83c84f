"""Every line of text on a page, with its box and in reading order (全文及位置)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, Field

from schemas.rules import RuleFinding, warning

GRID = 1000
"""Boxes are on the page's 0-1000 grid, the relative coordinates Qwen-VL models draw boxes in:
x from the left edge, y from the top edge."""


def on_grid(fractions: tuple[float, float, float, float]) -> list[int]:
    """A box given as fractions 0-1 of the page's width and height, as [x0, y0, x1, y1] on the
    grid: rounded, and kept on the page."""
    return [min(GRID, max(0, round(value * GRID))) for value in fractions]


def from_grid(box: list[int]) -> tuple[float, float, float, float]:
    """A box on the grid as fractions 0-1 of the page's width and height (`on_grid` undone)."""
    x0, y0, x1, y1 = (value / GRID for value in box)
    return x0, y0, x1, y1


def corners_in_order(box: list[int]) -> list[int]:
    """[x0, y0, x1, y1] with x0 <= x1 and y0 <= y1: a box given by its other two corners is
    the same box."""
    x0, y0, x1, y1 = box
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


GridBox = Annotated[
    list[Annotated[int, Field(ge=0, le=GRID)]],
    Field(min_length=4, max_length=4),
    AfterValidator(corners_in_order),
]


class TextLine(BaseModel):
    """One line of text and where it is printed."""

    text: Annotated[str, Field(min_length=1)] = Field(
        description="这一行的文字，照原样抄写 (the line's text, exactly as printed)"
    )
    bbox_2d: GridBox = Field(
        description="[x0, y0, x1, y1]: 左上角和右下角，页面 0-1000 坐标 (top-left and "
        "bottom-right corner on the page's 0-1000 grid)"
    )

    @property
    def has_area(self) -> bool:
        """Whether the box has both a width and a height: printed text covers some area."""
        x0, y0, x1, y1 = self.bbox_2d
        return x1 > x0 and y1 > y0


class PageText(BaseModel):
    """All the text of one page: each line with its box, in reading order. Born-digital PDF
    pages are read from their text layer, scans by the model."""

    writes_lines: ClassVar[bool] = True
    """Its rows also go to a lines table, one row per line (docextract's output)."""
    prompt_notes: ClassVar[tuple[str, ...]] = (
        "lines: every line of text on the page, top to bottom and left to right in reading "
        "order; a table row is one line per cell. "
        "每一行文字一项，按阅读顺序（从上到下，从左到右）；表格每个单元格一项。",
        "Copy each line exactly as printed, in its own language and script; do not translate "
        "or correct it. 照原样抄写，保留原文的语言和文字，不翻译、不更正。",
        "bbox_2d is the line's box on the page's 0-1000 grid: x from the left edge, y from the "
        "top edge. bbox_2d 为该行在页面上的方框，坐标范围 0-1000，x 从左边起，y 从上边起。",
    )

    def check_rules(self) -> list[RuleFinding]:
        """A warning for each line whose box has no width or no height: printed text covers
        some area, so such a box does not show where the line is. (The grid's bounds and the
        corners' order are the field types' business.)"""
        return [
            warning(
                "page_text.empty_box",
                f"line {number} {line.text[:40]!r}: box {line.bbox_2d} has no area",
            )
            for number, line in enumerate(self.lines, start=1)
            if not line.has_area
        ]

    lines: list[TextLine] = Field(
        default_factory=list,
        description="页面上的每一行文字，按阅读顺序 (every line on the page, in reading order)",
    )
