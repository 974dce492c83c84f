"""`docextract review`: a static HTML page per schema for checking what a run extracted.

The page is built from the tables under OUT (`OUT/<schema>/documents` and `.../errors`), read
with pyarrow, and holds everything it shows: page images are rendered again from each source file
with the project's own renderer, shrunk and embedded as JPEG data URIs; CSS and the few lines
of script that filter the list (all / failed / warned / needs review) and tie each field's
box on its page to its row are inline. Nothing is fetched over a
network, so the file can be mailed, archived or opened from a share.

A source file that is gone, or whose content changed since it was extracted, gets a note in
place of its pages: the page never shows pages the model did not see.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.config import RenderConfig
from pipeline.errors import ConfigError, OutputNotWritable
from pipeline.eval.review_entries import ReviewEntry, TablesNotFound, list_schemas, review_entries
from pipeline.eval.review_html import review_page
from pipeline.eval.review_pages import PREVIEW_RENDER, preview_pages
from pipeline.items import is_page_item

REVIEW_NAME = "review.html"


def write_review(
    out_dir: str | Path,
    schema: str | None = None,
    destination: str | Path | None = None,
    passwords: Sequence[str] = (),
    models: Collection[str] = (),
    review_below: float | None = None,
) -> list[Path]:
    """Write one review page per schema found under `out_dir` (or for `schema` alone) and
    return the files written.

    By default each page is OUT/<schema>/review.html. `destination` is a folder (each page is
    then `<folder>/<schema>-review.html`) or, when one schema is reviewed, a file name.
    `passwords` open encrypted PDFs for their page images; `models` keeps the rows of those
    models only; `review_below` marks the fields under that confidence for review (default:
    as the run marked them, `run --review-below`). Raises TablesNotFound when OUT (or the
    schema in it) has no tables, or a model no rows, and OutputNotWritable when a page cannot
    be written.
    """
    out = Path(out_dir)
    schemas = [schema] if schema is not None else list_schemas(out)
    if not schemas:
        raise TablesNotFound(f"{out}: no documents or errors tables here (is it a run's OUT?)")
    render = PREVIEW_RENDER.model_copy(update={"passwords": tuple(passwords)})
    targets = {name: _target(out, name, destination, len(schemas)) for name in schemas}
    for name, target in targets.items():
        entries = [
            with_images(entry, render) for entry in review_entries(out, name, models, review_below)
        ]
        _write_text(target, review_page(name, out, entries))
    return list(targets.values())


def with_images(entry: ReviewEntry, render: RenderConfig = PREVIEW_RENDER) -> ReviewEntry:
    """`entry` with the pages of its source file (its one page for a per-page row)."""
    one_page = entry.page if is_page_item(entry.item_id) else None
    images = preview_pages(entry.source_path, entry.doc_id, one_page, render)
    return replace(entry, images=images)


# --- writing -----------------------------------------------------------------------------


def _target(out: Path, schema: str, destination: str | Path | None, schemas: int) -> Path:
    if destination is None:
        return out / schema / REVIEW_NAME
    chosen = Path(destination)
    if chosen.is_dir():
        return chosen / f"{schema}-review.html"
    if schemas > 1:
        raise ConfigError(
            f"{chosen}: OUT holds {schemas} schemas, so the pages need a folder; name an "
            "existing folder, or one schema with --schema"
        )
    return chosen


def _write_text(target: Path, text: str) -> None:
    """Write `text` to `target` through a hidden temporary file, so a browser never opens half
    a page."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OutputNotWritable(f"{target}: cannot write the review page: {exc.strerror}") from exc
