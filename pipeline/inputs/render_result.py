"""What every renderer shares: the failed result that carries an error, the page window, and
error text from an exception."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import ErrorCode, Stage
from pipeline.records import ErrorRecord, Page, RenderedDocument, SourceFile

MOVED = "the file was moved or deleted after it was found; the next run reads it where it is then"
"""The message of a `changed` row for a file that is gone from where discovery found it."""
REPLACED = (
    "the file was replaced after it was found by something that is not a regular file; the "
    "next run reads what is there then"
)
"""The message of a `changed` row for a file whose place a FIFO or a device took."""


class ReplacedFile(OSError):
    """What stands at a file's path since discovery is not a regular file: never read."""


@contextlib.contextmanager
def regular_file(path: str | Path) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """The regular file at `path`, open for reading, and its status. Opening never blocks:
    what took the file's place since discovery (a FIFO nobody writes, a device) raises
    ReplacedFile, unread."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ReplacedFile(errno.EINVAL, "no longer a regular file", str(path))
        with os.fdopen(os.dup(fd), "rb") as handle:
            yield handle, status
    finally:
        os.close(fd)


def failed_render(
    source: SourceFile,
    code: ErrorCode,
    message: str,
    *,
    page: int | None = None,
    page_count: int = 0,
    pages: tuple[Page, ...] = (),
) -> RenderedDocument:
    """A render result that carries its error (the message names the file) and the pages of
    its window rendered before the failing `page`, if any."""
    error = ErrorRecord(
        doc_id=source.sha256,
        path=str(source.path),
        stage=Stage.RENDER,
        code=code,
        message=f"{source.path}: {message}",
        page=page,
    )
    return RenderedDocument(source=source, pages=pages, page_count=page_count, error=error)


def failed_page(
    source: SourceFile,
    code: ErrorCode,
    message: str,
    index: int,
    total: int,
    pages_before: Sequence[Page],
) -> RenderedDocument:
    """`failed_render` for the page at 0-based `index` of a `total`-page document, keeping the
    pages of the window rendered before it."""
    return failed_render(
        source, code, message, page=index + 1, page_count=total, pages=tuple(pages_before)
    )


def describe_exception(exc: BaseException) -> str:
    """`Type: message` of an exception, for error messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def page_window(total: int, first_page: int, window_pages: int | None) -> range:
    """The page indexes [first_page, first_page + window_pages) that exist in a document."""
    start = max(0, first_page)
    stop = total if window_pages is None else min(total, start + max(0, window_pages))
    return range(start, stop)


def unusable_shape(what: str, index: int, exc: Exception) -> str:
    """The message of a page or frame (0-based `index`) whose shape no pixel budget fits."""
    return f"{what} {index + 1} has an unusable shape: {exc}"
