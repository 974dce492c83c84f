"""Render: one `SourceFile` in, its pages as RGB images at the pixel budget out.

PDFs go through PyMuPDF straight to the budget size (`pipeline.inputs.render_pdf`); images are
decoded with Pillow, turned upright, flattened onto white and resized to the budget
(`pipeline.inputs.render_image`). Bad input never raises: it comes back as a RenderedDocument
with an ErrorRecord.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.inputs.memory_cap import out_of_memory
from pipeline.inputs.render_image import render_image
from pipeline.inputs.render_pdf import render_pdf
from pipeline.inputs.render_result import (
    MOVED,
    REPLACED,
    ReplacedFile,
    describe_exception,
    failed_render,
    regular_file,
)
from pipeline.records import FileKind, RenderedDocument, SourceFile


def render_document(
    source: SourceFile,
    config: RenderConfig,
    first_page: int = 0,
    window_pages: int | None = None,
) -> RenderedDocument:
    """Render the window of pages [first_page, first_page + window_pages) of `source` (all
    when window_pages is None).

    `page_count` is the document's total page count, whatever the window. The content rendered
    is the content discovery hashed, or the result is a `changed` error. Never raises for bad
    input: encrypted, corrupt, truncated, empty or oversized documents come back with `error`
    set and no pages, and so does a render that runs out of memory (`render_oom`).
    """
    try:
        content = read_source(source, first_page)
        if isinstance(content, RenderedDocument):
            return content
        if source.kind is FileKind.PDF:
            return render_pdf(source, content, config, first_page, window_pages)
        if source.kind is FileKind.XML:
            return no_pages(source)
        return render_image(source, content, config, first_page, window_pages)
    except OSError as exc:
        if exc.errno is None:  # raised by a decoder (Pillow's OSError), not by the file system
            return failed_render(
                source, ErrorCode.CORRUPT, f"cannot decode the image ({describe_exception(exc)})"
            )
        return unreadable(source, exc)
    except MemoryError:
        return failed_render(source, ErrorCode.RENDER_OOM, out_of_memory("rendering", config))
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises for bad input"
        return cannot_render(source, exc)


def read_source(source: SourceFile, first_page: int = 0) -> bytes | RenderedDocument:
    """The content of `source`; or a `changed` failure where it is gone or is not the content
    discovery hashed. Raises OSError where it cannot be read."""
    try:
        content = read_regular(source.path)
        unchanged = _unchanged(source, content, first_page)
    except FileNotFoundError:
        return failed_render(source, ErrorCode.CHANGED, MOVED)
    except ReplacedFile:
        return failed_render(source, ErrorCode.CHANGED, REPLACED)
    if not unchanged:
        return failed_render(
            source,
            ErrorCode.CHANGED,
            "the file changed after it was found (still being written?); the next run "
            "reads it again",
        )
    return content


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at `path` (`regular_file`: never blocks on a FIFO)."""
    with regular_file(path) as (handle, _status):
        return handle.read()


def unreadable(source: SourceFile, exc: OSError) -> RenderedDocument:
    """The failure of a file the system cannot read."""
    return failed_render(source, ErrorCode.UNREADABLE, f"cannot read: {describe_exception(exc)}")


def no_pages(source: SourceFile) -> RenderedDocument:
    """The failure of an XML file that is sent to be rendered: it has no pages."""
    return failed_render(
        source, ErrorCode.NOTHING_TO_RENDER, "an XML invoice has no pages to render"
    )


def cannot_render(source: SourceFile, exc: Exception) -> RenderedDocument:
    """The failure of a file whose reader raised what no check foresaw."""
    return failed_render(
        source, ErrorCode.RENDER_FAILED, f"cannot render: {describe_exception(exc)}"
    )


def _unchanged(source: SourceFile, content: bytes, first_page: int) -> bool:
    """Whether `content` is what discovery hashed. The first window of a document is checked
    by its hash; later windows by size and modification time, so a long document rendered a
    window at a time is hashed once per run, not once per window."""
    if first_page > 0 and source.mtime_ns is not None:
        return len(content) == source.size and (
            source.path.stat().st_mtime_ns == source.mtime_ns
        )
    return hashlib.sha256(content).hexdigest() == source.sha256
