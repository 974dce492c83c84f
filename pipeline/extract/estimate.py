"""--dry-run: what a run would send, with pages and visual tokens estimated from page geometry.

Nothing is rendered: PDF page boxes and image headers give the sizes, and the pixel budget gives
the tokens, so a dry run over a large inbox takes seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.config import RenderConfig, RunConfig
from pipeline.inputs.budget import fit_pixels
from pipeline.records import FileKind, SourceFile

if TYPE_CHECKING:
    from pipeline.extract.plan import WorkPlan


def estimate_plan(plan: WorkPlan, config: RunConfig) -> list[dict[str, Any]]:
    """One entry per source: path, kind, pages, visual tokens (None where it cannot be read);
    a document read from its e-invoice XML costs no tokens, its kind says so."""
    entries = [estimate_source(source, config.render) for source in plan.sources]
    for row in plan.from_xml:
        entries.append({
            "path": str(row.source.path),
            "kind": f"{row.source.kind}, e-invoice XML",
            "pages": row.page_count,
            "visual_tokens": 0,
            "problem": None,
        })  # fmt: skip
    for record in plan.xml_errors:
        entries.append({
            "path": record.path, "kind": "e-invoice XML", "pages": None, "visual_tokens": None,
            "problem": record.message,
        })  # fmt: skip
    return entries


def estimate_source(source: SourceFile, render: RenderConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": str(source.path),
        "kind": str(source.kind),
        "pages": None,
        "visual_tokens": None,
        "problem": None,
    }
    try:
        sizes = _page_sizes(source, render.dpi)
    except Exception as exc:  # any unreadable file is reported, never raised
        entry["problem"] = f"{type(exc).__name__}: {exc}"
        return entry
    entry["pages"] = len(sizes)
    tokens = 0
    for height, width in sizes:
        h, w = fit_pixels(
            max(height, 1),
            max(width, 1),
            min_pixels=render.min_pixels,
            max_pixels=render.max_pixels,
        )
        tokens += (h // 32) * (w // 32)
    entry["visual_tokens"] = tokens
    return entry


def _page_sizes(source: SourceFile, dpi: float) -> list[tuple[int, int]]:
    """(height, width) in pixels of every page at `dpi`, before the budget."""
    if source.kind is FileKind.PDF:
        import pymupdf

        with pymupdf.open(source.path) as doc:
            if doc.needs_pass:
                raise ValueError("encrypted")
            scale = dpi / 72.0
            return [(round(p.rect.height * scale), round(p.rect.width * scale)) for p in doc]
    from PIL import Image

    with Image.open(source.path) as image:
        frames = getattr(image, "n_frames", 1)
        width, height = image.size
        return [(height, width)] * frames
