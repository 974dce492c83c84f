"""Page images for the review page: a source file's pages rendered again, small, as JPEG data
URIs, or a note saying why they cannot be shown (the file is gone, changed or unreadable)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import RenderConfig
from pipeline.inputs.budget import TOKEN_SIDE

PAGES_SHOWN = 8  # the default --max-pages: longer documents show their first pages only
PREVIEW_WIDTH = 720  # pixels; wide enough to read an amount when the image is enlarged
JPEG_QUALITY = 70
PREVIEW_RENDER = RenderConfig(
    dpi=96,
    max_pixels=720 * TOKEN_SIDE * TOKEN_SIDE,  # about 720 x 1020 pixels for an A4 page
    min_pixels=64 * TOKEN_SIDE * TOKEN_SIDE,
    workers=1,
)


@dataclass(frozen=True, slots=True)
class PageImages:
    """The pages shown for one document, as JPEG data URIs, and a note where pages are missing
    (why none can be shown, or that only the first ones are)."""

    images: tuple[str, ...] = ()
    note: str | None = None


def preview_pages(
    source_path: str,
    doc_id: str | None,
    page: int | None = None,
    render: RenderConfig = PREVIEW_RENDER,
) -> PageImages:
    """The pages of `source_path` (only page `page`, from 1, when given), provided the file
    still holds the content `doc_id` names. Never raises: any problem becomes the note."""
    try:
        return _render_pages(source_path, doc_id, page, render)
    except Exception as exc:  # noqa: BLE001 - one unreadable source must not stop the page
        return PageImages(note=f"pages cannot be shown: {type(exc).__name__}: {exc}")


def _render_pages(
    source_path: str, doc_id: str | None, page: int | None, render: RenderConfig
) -> PageImages:
    from pipeline.inputs.discover import discover_sources
    from pipeline.inputs.render import render_document

    path = Path(source_path)
    if not path.is_file():
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        return PageImages(note=f"source file not found: {source_path}{where}")
    found = discover_sources([path])
    if not found.sources:
        problem = found.errors[0].message if found.errors else "not a document"
        return PageImages(note=_cannot_show(source_path, problem))
    source = found.sources[0]
    if doc_id and source.sha256 != doc_id:
        return PageImages(
            note=f"{source_path} changed since it was extracted; its pages now are not the "
            "ones the model saw"
        )
    first = page - 1 if page else 0
    rendered = render_document(source, render, first, 1 if page else PAGES_SHOWN)
    images = tuple(jpeg_data_uri(rendered_page.to_pil()) for rendered_page in rendered.pages)
    if rendered.error is not None:
        return PageImages(images, _cannot_show(source_path, rendered.error.message))
    if not page and rendered.page_count > len(images):
        return PageImages(images, f"first {len(images)} of {rendered.page_count} pages shown")
    return PageImages(images)


def _cannot_show(source_path: str, problem: str) -> str:
    """The note for a source that cannot be rendered; the page names the file already."""
    return f"pages cannot be shown: {problem.removeprefix(f'{source_path}: ')}"


def jpeg_data_uri(image: Any, width: int = PREVIEW_WIDTH, quality: int = JPEG_QUALITY) -> str:
    """A Pillow image, shrunk to at most `width` pixels wide, as `data:image/jpeg;base64,...`."""
    from PIL import Image

    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
