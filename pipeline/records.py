"""Typed records that flow between the stages.

Records are frozen dataclasses: cheap to pickle across the render pool, and impossible to
mutate behind another stage's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ErrorCode, Stage

if TYPE_CHECKING:
    from pipeline.grounding.textlayer import PageText


class FileKind(StrEnum):
    """Document kinds, detected from content."""

    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    WEBP = "webp"
    BMP = "bmp"
    XML = "xml"  # an e-invoice: read, never rendered


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input document. `sha256` of the content is the document id; `mtime_ns` is the
    modification time discovery saw (None when unknown); `may_have_attachments` is False for a
    PDF whose bytes show it has no attached files (nothing to open for an e-invoice)."""

    path: Path
    sha256: str
    size: int
    kind: FileKind
    mtime_ns: int | None = None
    may_have_attachments: bool = True

    @property
    def doc_id(self) -> str:
        return self.sha256


@dataclass(frozen=True, slots=True)
class Page:
    """One rendered page, exactly as the model will see it: RGB, 8 bits, no alpha.

    `pixels` is a read-only bytes-like buffer of `width * height * 3` bytes, row-major: `bytes`,
    or a memoryview of the memory the page was rendered into (the renderer's pixmap, or the
    render pool's shared mapping) that keeps that memory alive as long as it is referenced; use
    `len()`, slicing, `bytes(...)` or `to_pil()`. A pickled Page carries a copy as `bytes`.
    `dpi` is the effective resolution after the pixel budget was applied (None for images
    without a physical size).
    """

    doc_id: str
    index: int
    width: int
    height: int
    pixels: bytes | memoryview = field(repr=False)
    dpi: float | None = None
    source_width: int = 0
    source_height: int = 0
    text: PageText | None = field(default=None, repr=False)
    """The page's text layer, its words with their boxes in PDF points (PDF pages; None for
    images), taken while the page was open to render: what fields are located in."""

    @property
    def visual_tokens(self) -> int:
        """Qwen3-VL visual tokens: one per 32x32 pixels."""
        return (self.width // 32) * (self.height // 32)

    @property
    def size_in_points(self) -> tuple[float, float]:
        """The page's (width, height) in points (1/72 inch): a PDF page's own size; an image's
        from its resolution, or its pixels where it states none."""
        if self.dpi:
            return self.width * 72 / self.dpi, self.height * 72 / self.dpi
        return float(self.source_width or self.width), float(self.source_height or self.height)

    def __getstate__(self) -> list[Any]:
        state = [getattr(self, item.name) for item in fields(self)]
        return [bytes(value) if isinstance(value, memoryview) else value for value in state]

    def to_pil(self) -> Any:
        from PIL import Image

        # Any bytes-like buffer works; Pillow's annotation names bytes only.
        pixels: Any = self.pixels
        return Image.frombuffer("RGB", (self.width, self.height), pixels, "raw", "RGB", 0, 1)


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One row of the errors table: a file, page or answer that failed, and why. `page` is
    the page's number from 1, as in every table (None when the error is not about one page)."""

    doc_id: str
    path: str
    stage: Stage
    code: ErrorCode
    message: str
    page: int | None = None
    attempts: int = 0
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class WarningRecord:
    """A non-fatal finding kept with a document (e.g. a repaired xref, a rule warning)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PlacedLine:
    """One line of text on a page (the page_text schema), with its box in points (origin top
    left) and as fractions 0-1 of the page, and where it was read: `text_layer` or `model`."""

    text: str
    source: str
    box: tuple[float, float, float, float]
    page_box: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class RenderedDocument:
    """The result of rendering one source file (or one window of its pages): its pages, or the
    error that stopped it; an error about one page comes with the window's pages before it."""

    source: SourceFile
    pages: tuple[Page, ...] = ()
    page_count: int = 0
    error: ErrorRecord | None = None
    warnings: tuple[WarningRecord, ...] = ()


def storable(text: str) -> str:
    """`text` as valid UTF-8: bytes of a file name that were not UTF-8 (kept by Python as lone
    surrogates, which Parquet and SQLite refuse) become `\\xNN` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
