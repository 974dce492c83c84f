"""Render a PDF's pages with PyMuPDF straight to the budget size: one rasterisation, no
resize, and the pixmap itself becomes the page's pixels, not a copy of it."""

from __future__ import annotations

from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.grounding.textlayer import page_text
from pipeline.inputs.budget import AspectRatioTooLarge, fit_pixels, points_to_pixels
from pipeline.inputs.memory_cap import dropped_for_memory, is_out_of_memory, out_of_memory
from pipeline.inputs.mupdf_messages import drain, silence
from pipeline.inputs.render_result import (
    describe_exception,
    failed_page,
    failed_render,
    page_window,
    unusable_shape,
)
from pipeline.records import Page, RenderedDocument, SourceFile, WarningRecord


def _looks_truncated(content: bytes) -> bool:
    """True when the file starts like a PDF but does not end with an end-of-file marker."""
    return b"%PDF-" in content[:1024] and b"%%EOF" not in content[-2048:]


def render_pdf(
    source: SourceFile,
    content: bytes,
    config: RenderConfig,
    first_page: int,
    window_pages: int | None,
) -> RenderedDocument:
    opened = open_pdf(source, content, config)
    if isinstance(opened, RenderedDocument):
        return opened
    with opened as doc:
        total = doc.page_count
        notes: list[WarningRecord] = []
        if doc.is_repaired:
            notes.append(
                WarningRecord(
                    ErrorCode.REPAIRED.value,
                    f"{source.path}: damaged cross-reference table was repaired; check the "
                    "pages are complete",
                )
            )
        pages: list[Page] = []
        for index in page_window(total, first_page, window_pages):
            try:
                page = doc.load_page(index)
                if (too_large := page_too_large(page.rect, index, config)) is not None:
                    return failed_page(
                        source, ErrorCode.PAGE_TOO_LARGE, too_large, index, total, pages
                    )
                drawn = _render_pdf_page(page, index, source.sha256, config)
                if (lost := _dropped_part(source, index, config)) is not None:
                    return failed_page(source, ErrorCode.RENDER_OOM, lost, index, total, pages)
                pages.append(drawn)
            except AspectRatioTooLarge as exc:
                message = unusable_shape("page", index, exc)
                return failed_page(source, ErrorCode.PAGE_TOO_LARGE, message, index, total, pages)
            except Exception as exc:  # noqa: BLE001 - a broken page fails its document
                problem = _page_failure(exc, index, content, config)
                return failed_page(source, *problem, index, total, pages)
        return RenderedDocument(
            source=source, pages=tuple(pages), page_count=total, warnings=tuple(notes)
        )


def _dropped_part(source: SourceFile, index: int, config: RenderConfig) -> str | None:
    """Why the page at 0-based `index`, just drawn, lacks part of its content for want of
    memory, if it does: MuPDF then draws the page without the image it could not decode and
    only says so in its messages."""
    import pymupdf

    said = drain(pymupdf, f"{source.path}: page {index + 1}")
    if (reason := dropped_for_memory(said)) is None:
        return None
    return out_of_memory(f"drawing page {index + 1}, which MuPDF drew without a part it "
                         f"could not decode ({reason.strip()})", config)  # fmt: skip


def open_pdf(source: SourceFile, content: bytes, config: RenderConfig) -> Any:
    """The PDF `content`, opened and unlocked with the configured passwords (the caller closes
    it); or, where it cannot be read, the failed RenderedDocument that says why: truncated,
    corrupt, encrypted, a wrong password, no pages."""
    import pymupdf

    silence(pymupdf)
    pymupdf.TOOLS.reset_mupdf_warnings()
    try:
        doc = pymupdf.open(stream=content, filetype="pdf")
    except Exception as exc:  # noqa: BLE001 - MuPDF raises several types for unreadable files
        if _looks_truncated(content):
            return failed_render(
                source,
                ErrorCode.TRUNCATED,
                f"truncated PDF that cannot be repaired ({describe_exception(exc)}); re-copy or "
                "re-download the file",
            )
        return failed_render(
            source,
            ErrorCode.CORRUPT,
            f"corrupt PDF that cannot be opened ({describe_exception(exc)})",
        )
    failure = _unreadable(source, doc, config)
    if failure is not None:
        doc.close()
        return failure
    return doc


def _unreadable(source: SourceFile, doc: Any, config: RenderConfig) -> RenderedDocument | None:
    if doc.needs_pass and not _unlock(doc, config.passwords):
        if config.passwords:
            return failed_render(
                source,
                ErrorCode.WRONG_PASSWORD,
                f"encrypted: none of the {len(config.passwords)} given password(s) opens "
                "it; pass the right one with --password or --passwords-file",
            )
        return failed_render(
            source, ErrorCode.ENCRYPTED, "encrypted: pass --password or --passwords-file"
        )
    if doc.page_count == 0:
        return failed_render(source, ErrorCode.ZERO_PAGES, "the PDF has no pages")
    return None


def broken_page(exc: Exception, index: int, content: bytes) -> tuple[ErrorCode, str]:
    """The code and message of the page at 0-based `index` that MuPDF cannot load or draw."""
    code = ErrorCode.TRUNCATED if _looks_truncated(content) else ErrorCode.RENDER_FAILED
    return code, f"page {index + 1} cannot be rendered ({describe_exception(exc)})"


def _page_failure(
    exc: Exception, index: int, content: bytes, config: RenderConfig
) -> tuple[ErrorCode, str]:
    """The code and message of the page at 0-based `index` whose rendering raised `exc`."""
    if is_out_of_memory(exc):
        return ErrorCode.RENDER_OOM, out_of_memory(f"rendering page {index + 1}", config)
    return broken_page(exc, index, content)


def page_too_large(rect: Any, index: int, config: RenderConfig) -> str | None:
    """Why the page at 0-based `index`, of box `rect` in points, is too large to render, if
    it is."""
    if rect.width * rect.height <= config.max_page_area_pt2:
        return None
    return (
        f"page {index + 1} is {rect.width:.0f}x{rect.height:.0f} pt, above the "
        f"limit of {config.max_page_area_pt2:.0f} pt² (max_page_area_pt2)"
    )


def _unlock(doc: Any, passwords: tuple[str, ...]) -> bool:
    candidates = dict.fromkeys(form for pw in ("", *passwords) for form in _forms(pw))
    return any(doc.authenticate(password) for password in candidates)


def _forms(password: str) -> tuple[str, str]:
    """The forms `password` is tried in: as given and as SASLprep gives it. A password that
    came as bytes no text decoding fits (Latin-1 on the command line or in a passwords file,
    held as surrogate escapes) is taken as those bytes read as Latin-1, which MuPDF turns back
    into the same bytes for the encryptions that use them (revisions 2 to 4)."""
    if any("\udc80" <= char <= "\udcff" for char in password):
        password = password.encode("utf-8", "surrogateescape").decode("latin-1")
    return password, saslprep(password)


def saslprep(password: str) -> str:
    """The password as AES-256 PDFs (revisions 5 and 6) expect it: SASLprep's mapping (other
    spaces become a space, characters mapped to nothing are dropped) and NFKC, so a password
    typed or stored in another Unicode form (e.g. decomposed accents) still opens the file."""
    import stringprep
    import unicodedata

    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    )
    return unicodedata.normalize("NFKC", mapped)


def _render_pdf_page(page: Any, index: int, doc_id: str, config: RenderConfig) -> Page:
    """Rasterise one page directly at its budget size (the page's /Rotate applied)."""
    import pymupdf

    rect = page.rect  # already rotated: width and height as displayed
    source_w = points_to_pixels(rect.width, config.dpi)
    source_h = points_to_pixels(rect.height, config.dpi)
    height, width = fit_pixels(
        source_h, source_w, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    matrix = pymupdf.Matrix(width / rect.width, height / rect.height)
    pix = page.get_pixmap(matrix=matrix, alpha=False, colorspace=pymupdf.csRGB)
    pixels: bytes | memoryview
    if (pix.width, pix.height) == (width, height) and pix.stride == width * 3:
        pixels = _pixmap_view(pix)
    else:
        pixels = _fit_exact(pix, width, height)
    return Page(
        doc_id=doc_id,
        index=index,
        width=width,
        height=height,
        pixels=pixels,
        dpi=round(72.0 * width / rect.width, 2),
        source_width=source_w,
        source_height=source_h,
        text=(
            page_text(page, index + 1, config.text_layer, config.text_lines)
            if config.text_layer or config.text_lines
            else None
        ),
    )


def _pixmap_view(pix: Any) -> memoryview:
    """The pixmap's samples, read-only and not copied; the view keeps the pixmap alive.

    Keeping the pixmap is cheaper than copying it out (`pix.samples`): a copy writes every page
    a second time into fresh memory, which costs about as much as rasterising it.
    """
    import ctypes

    holder = (ctypes.c_char * (pix.stride * pix.height)).from_address(pix.samples_ptr)
    # The owner lives as long as the buffer.
    holder.pixmap = pix  # type: ignore[attr-defined]
    return memoryview(holder).cast("B").toreadonly()


def _fit_exact(pix: Any, width: int, height: int) -> bytes:
    """MuPDF rounded the pixmap a pixel off the budget size: crop or stretch it to fit."""
    from PIL import Image

    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples, "raw", "RGB", pix.stride)
    if image.width >= width and image.height >= height:
        image = image.crop((0, 0, width, height))
    else:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return image.tobytes()
