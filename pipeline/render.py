"""Render: one `SourceFile` in, its pages as RGB images at the pixel budget out.

PDFs go through PyMuPDF straight to the budget size (one rasterisation, no resize); images are
decoded with Pillow, turned upright (EXIF or XMP orientation), flattened onto white and resized
to the budget. Bad input never raises: it comes back as a RenderedDocument with an ErrorRecord.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.budget import AspectRatioTooLarge, fit_pixels, points_to_pixels
from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.records import (
    ErrorRecord,
    FileKind,
    Page,
    RenderedDocument,
    SourceFile,
    WarningRecord,
)

_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_WHITE = (255, 255, 255)


def render_document(
    source: SourceFile,
    config: RenderConfig,
    first_page: int = 0,
    max_pages: int | None = None,
) -> RenderedDocument:
    """Render pages [first_page, first_page + max_pages) of `source` (all when max_pages is None).

    `page_count` is the document's total page count, whatever the window. Never raises for bad
    input: encrypted, corrupt, truncated, empty or oversized documents come back with `error`
    set and no pages.
    """
    try:
        if source.kind is FileKind.PDF:
            return _render_pdf(source, config, first_page, max_pages)
        return _render_image(source, config, first_page, max_pages)
    except MemoryError:
        return _failed(source, ErrorCode.RENDER_FAILED, "out of memory while rendering")
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises for bad input"
        return _failed(source, ErrorCode.RENDER_FAILED, f"cannot render: {_describe(exc)}")


def _failed(
    source: SourceFile,
    code: ErrorCode,
    message: str,
    *,
    page: int | None = None,
    page_count: int = 0,
) -> RenderedDocument:
    error = ErrorRecord(
        doc_id=source.sha256,
        path=str(source.path),
        stage=Stage.RENDER,
        code=code,
        message=f"{source.path}: {message}",
        page=page,
    )
    return RenderedDocument(source=source, page_count=page_count, error=error)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _window(total: int, first_page: int, max_pages: int | None) -> range:
    start = max(0, first_page)
    stop = total if max_pages is None else min(total, start + max(0, max_pages))
    return range(start, stop)


# --- PDF -------------------------------------------------------------------------------------


def _looks_truncated(path: Path) -> bool:
    """True when the file starts like a PDF but does not end with an end-of-file marker."""
    try:
        with path.open("rb") as handle:
            if b"%PDF-" not in handle.read(1024):
                return False
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 2048))
            return b"%%EOF" not in handle.read()
    except OSError:
        return False


def _render_pdf(
    source: SourceFile, config: RenderConfig, first_page: int, max_pages: int | None
) -> RenderedDocument:
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    pymupdf.TOOLS.reset_mupdf_warnings()
    try:
        doc = pymupdf.open(source.path, filetype="pdf")
    except Exception as exc:  # noqa: BLE001 - MuPDF raises several types for unreadable files
        if _looks_truncated(source.path):
            return _failed(
                source,
                ErrorCode.TRUNCATED,
                f"truncated PDF that cannot be repaired ({_describe(exc)}); re-copy or "
                "re-download the file",
            )
        return _failed(
            source, ErrorCode.CORRUPT, f"corrupt PDF that cannot be opened ({_describe(exc)})"
        )
    with doc:
        if doc.needs_pass and not _unlock(doc, config.passwords):
            if config.passwords:
                return _failed(
                    source,
                    ErrorCode.WRONG_PASSWORD,
                    f"encrypted: none of the {len(config.passwords)} given password(s) opens "
                    "it; pass the right one with --password or --passwords-file",
                )
            return _failed(
                source, ErrorCode.ENCRYPTED, "encrypted: pass --password or --passwords-file"
            )
        total = doc.page_count
        if total == 0:
            return _failed(source, ErrorCode.ZERO_PAGES, "the PDF has no pages")
        notes: list[WarningRecord] = []
        if doc.is_repaired:
            notes.append(
                WarningRecord(
                    ErrorCode.REPAIRED.value,
                    f"{source.path}: damaged cross-reference table was repaired; check the "
                    "pages are complete",
                )
            )
        truncated = _looks_truncated(source.path)
        pages: list[Page] = []
        for index in _window(total, first_page, max_pages):
            try:
                page = doc.load_page(index)
                rect = page.rect
                if rect.width * rect.height > config.max_page_area_pt2:
                    return _failed(
                        source,
                        ErrorCode.PAGE_TOO_LARGE,
                        f"page {index + 1} is {rect.width:.0f}x{rect.height:.0f} pt, above the "
                        f"limit of {config.max_page_area_pt2:.0f} pt² (max_page_area_pt2)",
                        page=index,
                        page_count=total,
                    )
                pages.append(_render_pdf_page(page, index, source.sha256, config))
            except AspectRatioTooLarge as exc:
                return _failed(
                    source,
                    ErrorCode.PAGE_TOO_LARGE,
                    f"page {index + 1} has an unusable shape: {exc}",
                    page=index,
                    page_count=total,
                )
            except Exception as exc:  # noqa: BLE001 - a broken page fails its document
                code = ErrorCode.TRUNCATED if truncated else ErrorCode.RENDER_FAILED
                return _failed(
                    source,
                    code,
                    f"page {index + 1} cannot be rendered ({_describe(exc)})",
                    page=index,
                    page_count=total,
                )
        return RenderedDocument(
            source=source, pages=tuple(pages), page_count=total, warnings=tuple(notes)
        )


def _unlock(doc: Any, passwords: tuple[str, ...]) -> bool:
    return any(doc.authenticate(password) for password in ("", *passwords))


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
    if (pix.width, pix.height) == (width, height) and pix.stride == width * 3:
        pixels = pix.samples
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
    )


def _fit_exact(pix: Any, width: int, height: int) -> bytes:
    """MuPDF rounded the pixmap a pixel off the budget size: crop or stretch it to fit."""
    from PIL import Image

    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples, "raw", "RGB", pix.stride)
    if image.width >= width and image.height >= height:
        image = image.crop((0, 0, width, height))
    else:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return image.tobytes()


# --- images ----------------------------------------------------------------------------------


def _render_image(
    source: SourceFile, config: RenderConfig, first_page: int, max_pages: int | None
) -> RenderedDocument:
    from PIL import Image

    # Pillow's own guard is process-wide; this module checks each frame's header size against
    # config.max_image_pixels itself, before decoding, and restores the guard afterwards.
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return _decode_image(source, config, first_page, max_pages)
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def _too_large(
    source: SourceFile, config: RenderConfig, detail: str, **where: Any
) -> RenderedDocument:
    return _failed(
        source,
        ErrorCode.IMAGE_TOO_LARGE,
        f"image is too large to decode safely ({detail}); the limit is "
        f"{config.max_image_pixels} pixels (max_image_pixels)",
        **where,
    )


def _decode_image(
    source: SourceFile, config: RenderConfig, first_page: int, max_pages: int | None
) -> RenderedDocument:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(source.path)
    except UnidentifiedImageError as exc:
        return _failed(source, ErrorCode.CORRUPT, f"not a readable image ({_describe(exc)})")
    with image:
        total = getattr(image, "n_frames", 1) if source.kind is FileKind.TIFF else 1
        pages: list[Page] = []
        notes: list[WarningRecord] = []
        for index in _window(total, first_page, max_pages):
            try:
                image.seek(index)
                width, height = image.size
                if width * height > config.max_image_pixels:
                    return _too_large(
                        source,
                        config,
                        f"frame {index + 1} is {width}x{height}",
                        page=index,
                        page_count=total,
                    )
                pages.append(_render_frame(image, index, source, config, notes))
            except AspectRatioTooLarge as exc:
                return _failed(
                    source,
                    ErrorCode.IMAGE_TOO_LARGE,
                    f"frame {index + 1} has an unusable shape: {exc}",
                    page=index,
                    page_count=total,
                )
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                truncated = "truncated" in str(exc).lower() or isinstance(exc, EOFError)
                return _failed(
                    source,
                    ErrorCode.TRUNCATED if truncated else ErrorCode.CORRUPT,
                    f"frame {index + 1} cannot be decoded ({_describe(exc)})",
                    page=index,
                    page_count=total,
                )
        return RenderedDocument(
            source=source, pages=tuple(pages), page_count=total, warnings=tuple(notes)
        )


def _render_frame(
    image: Any, index: int, source: SourceFile, config: RenderConfig, notes: list[WarningRecord]
) -> Page:
    from PIL import Image, ImageOps

    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    swapped = orientation in _SWAPPING_ORIENTATIONS
    stored_w, stored_h = image.size
    shown_w, shown_h = (stored_h, stored_w) if swapped else (stored_w, stored_h)
    height, width = fit_pixels(
        shown_h, shown_w, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    if image.format == "JPEG":  # let libjpeg decode at a reduced scale when that is enough
        image.draft(None, (height, width) if swapped else (width, height))
    frame = ImageOps.exif_transpose(image) if orientation != 1 else image
    frame = _to_rgb_or_gray(frame, source, notes)
    if frame.size != (width, height):
        frame = frame.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if frame.mode != "RGB":
        frame = frame.convert("RGB")
    dpi = _image_dpi(image.info.get("dpi"), width, shown_w)
    return Page(
        doc_id=source.sha256,
        index=index,
        width=width,
        height=height,
        pixels=frame.tobytes(),
        dpi=dpi,
        source_width=shown_w,
        source_height=shown_h,
    )


def _image_dpi(stored: Any, width: int, shown_w: int) -> float | None:
    try:
        value = float(stored[0])
    except (TypeError, ValueError, IndexError):
        return None
    return round(value * width / shown_w, 2) if value > 0 else None


def _to_rgb_or_gray(frame: Any, source: SourceFile, notes: list[WarningRecord]) -> Any:
    """Any Pillow mode to "RGB" or "L" (resized before the final RGB conversion, cheaper)."""
    mode = frame.mode
    if mode in ("RGB", "L") and "transparency" not in frame.info:
        return frame
    if mode == "1":
        return frame.convert("L")
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _scale_to_gray(frame)
    if "A" in mode or "a" in mode or "transparency" in frame.info:
        return _flatten(frame.convert("RGBA"), source, notes)
    return frame.convert("RGB")


def _scale_to_gray(frame: Any) -> Any:
    """16-bit or float samples to 8-bit gray, stretching the used range down to 0..255."""
    wide = frame.convert("F" if frame.mode == "F" else "I")
    low, high = wide.getextrema()
    if high > 255 or high < 1:
        scale = 255.0 / high if high > 0 else 1.0
        wide = wide.point(lambda value: value * scale)
    return wide.convert("L")


def _flatten(rgba: Any, source: SourceFile, notes: list[WarningRecord]) -> Any:
    """Composite onto white; if that hides everything (content drawn only in the alpha
    channel, e.g. white text on transparency), composite onto black instead."""
    from PIL import Image

    alpha = rgba.getchannel("A")
    flat = Image.new("RGB", rgba.size, _WHITE)
    flat.paste(rgba, mask=alpha)
    low, high = _band_range(flat.convert("L"))
    alpha_low, alpha_high = _band_range(alpha)
    if high - low < 8 and alpha_high - alpha_low > 128:
        flat = Image.new("RGB", rgba.size, (0, 0, 0))
        flat.paste(rgba, mask=alpha)
        notes.append(
            WarningRecord(
                "alpha_only_content",
                f"{source.path}: content is visible only through transparency; flattened onto "
                "black instead of white",
            )
        )
    return flat


def _band_range(band: Any) -> tuple[float, float]:
    low, high = band.getextrema()
    return float(low), float(high)
