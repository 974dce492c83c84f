"""What a file's headers say before anything is rendered: the visual tokens of each page, or
the failure its render would record, with the same code and message.

`render_document`'s checks that need no drawing run here through the same functions: reading
the file, opening it, passwords, the page count, page and image sizes against their limits, and
shapes the pixel budget cannot fit. Nothing is rasterised or decoded, so a dry run over a large
inbox takes seconds; a page that fails only when it is drawn is found by the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.inputs.budget import AspectRatioTooLarge, fit_pixels, points_to_pixels, visual_tokens
from pipeline.inputs.render import cannot_render, no_pages, read_source, unreadable
from pipeline.inputs.render_image import check_frame, frame_count, open_image, pillow_guard_off
from pipeline.inputs.render_pdf import broken_page, open_pdf, page_too_large
from pipeline.inputs.render_result import failed_page, page_window, unusable_shape
from pipeline.records import ErrorRecord, FileKind, RenderedDocument, SourceFile


@dataclass(frozen=True, slots=True)
class Preflight:
    """The page count, the visual tokens of each page checked at the pixel budget, and the
    error its render would record (then `tokens` holds the pages checked before it). Where
    asked, `has_words` says of each page in `tokens` whether its text layer has words (an image
    has none)."""

    page_count: int | None = None
    tokens: tuple[int, ...] = ()
    error: ErrorRecord | None = None
    has_words: tuple[bool, ...] = ()


def preflight(
    source: SourceFile, config: RenderConfig, pages: int | None = None, words: bool = False
) -> Preflight:
    """Check `source` as its render would, short of drawing a page: its first `pages` pages
    (all when None), as a run renders the first window of a document; with `words`, also read
    whether each PDF page's text layer has words (`Preflight.has_words`). Never raises for bad
    input."""
    try:
        content = read_source(source)
        if isinstance(content, RenderedDocument):
            return Preflight(error=content.error)
        if source.kind is FileKind.PDF:
            return _pdf(source, content, config, pages, words)
        if source.kind is FileKind.XML:
            return Preflight(error=no_pages(source).error)
        with pillow_guard_off():
            checked = _image(source, content, config, pages)
        return replace(checked, has_words=(False,) * len(checked.tokens)) if words else checked
    except OSError as exc:
        return Preflight(error=unreadable(source, exc).error)
    except Exception as exc:  # noqa: BLE001 - as render_document, never raises for bad input
        return Preflight(error=cannot_render(source, exc).error)


def _pdf(
    source: SourceFile, content: bytes, config: RenderConfig, pages: int | None, words: bool
) -> Preflight:
    opened = open_pdf(source, content, config)
    if isinstance(opened, RenderedDocument):
        return Preflight(error=opened.error)
    tokens: list[int] = []
    has_words: list[bool] = []
    with opened as doc:
        total = doc.page_count
        for index in page_window(total, 0, pages):
            try:
                page = doc.load_page(index)
                rect = page.rect
                problem = page_too_large(rect, index, config)
                if problem is not None:
                    return _failed(source, ErrorCode.PAGE_TOO_LARGE, problem, index, total, tokens)
                height = points_to_pixels(rect.height, config.dpi)
                tokens.append(_tokens(height, points_to_pixels(rect.width, config.dpi), config))
                if words:
                    has_words.append(bool(page.get_text("words")))
            except AspectRatioTooLarge as exc:
                message = unusable_shape("page", index, exc)
                return _failed(source, ErrorCode.PAGE_TOO_LARGE, message, index, total, tokens)
            except Exception as exc:  # noqa: BLE001 - as render_pdf: a broken page fails
                code, message = broken_page(exc, index, content)
                return _failed(source, code, message, index, total, tokens)
    return Preflight(total, tuple(tokens), has_words=tuple(has_words))


def _image(
    source: SourceFile, content: bytes, config: RenderConfig, pages: int | None
) -> Preflight:
    image = open_image(source, content)
    if isinstance(image, RenderedDocument):
        return Preflight(error=image.error)
    tokens: list[int] = []
    with image:
        total = frame_count(image, source)
        for index in page_window(total, 0, pages):
            problem = check_frame(image, index, config)
            if problem is not None:
                return _failed(source, *problem, index, total, tokens)
            width, height = image.size
            tokens.append(_tokens(height, width, config))
    return Preflight(total, tuple(tokens))


def _tokens(height: int, width: int, config: RenderConfig) -> int:
    fitted = fit_pixels(height, width, min_pixels=config.min_pixels, max_pixels=config.max_pixels)
    return visual_tokens(*fitted)


def _failed(
    source: SourceFile, code: ErrorCode, message: str, index: int, total: int, tokens: list[int]
) -> Preflight:
    error = failed_page(source, code, message, index, total, ()).error
    return Preflight(total, tuple(tokens), error)
