"""The page_text schema: all the text of a page, read without the model where the page has it.

A page_text run goes page by page (`for_schema`), its render processes reading each PDF page's
lines (`render.text_lines`). A page whose text layer has lines is read from them, exactly
(`from_text_layer`), and never sent to the model; a page without (a scan, an image) goes to the
model, which draws each line's box on the page's 0-1000 grid. Either way the lines table holds
every line with its box in points and as fractions of the page (`placed_lines`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from pipeline.config import RunConfig
from pipeline.engines.base import EngineResult
from pipeline.inputs.preflight import preflight
from pipeline.items import TEXT_LAYER_ENGINE, WorkItem, page_item_id
from pipeline.records import PlacedLine, SourceFile
from schemas.page_text import PageText, from_grid, on_grid

if TYPE_CHECKING:
    from pipeline.extract.plan import CommittedCheck

TEXT_LAYER = TEXT_LAYER_ENGINE
"""The `engine` of a row read from a page's text layer, and the `source` of its lines."""
MODEL = "model"
"""The `source` of a line the model read."""


def reads_page_text(model: type[BaseModel]) -> bool:
    return issubclass(model, PageText)


def for_schema(config: RunConfig, model: type[BaseModel]) -> RunConfig:
    """`config` as a run of `model` needs it: page_text runs page by page, reading each PDF
    page's lines while rendering; other schemas' runs as they are."""
    if not reads_page_text(model):
        return config
    render = config.render.model_copy(update={"text_lines": True})
    return config.model_copy(update={"per_page": True, "render": render})


def needs_the_model(
    sources: Iterable[SourceFile], config: RunConfig, committed: CommittedCheck
) -> bool:
    """Whether a page_text run over `sources` must start the model: a page still to do has no
    words in its text layer (an image's pages, a scanned PDF page), or a document's preflight
    stopped at a page, past which its render may still find one. Looks at each PDF's text layer
    (`preflight`) up to the first such page, so a run over born-digital PDFs only never starts
    the engine."""
    for source in sources:
        checked = preflight(source, config.render, None, words=True)
        if checked.error is not None and checked.page_count is not None:
            return True
        ids = [page_item_id(source.sha256, n) for n in range(1, len(checked.has_words) + 1)]
        undone = committed.undone(ids)[0] if ids else set()
        if any(i in undone and not words for i, words in zip(ids, checked.has_words, strict=True)):
            return True
    return False


def from_text_layer(item: WorkItem) -> tuple[PageText, list[PlacedLine], EngineResult] | None:
    """The row of a one-page item whose text layer has lines: the answer, its lines placed
    exactly as PyMuPDF reads them, and the stand-in for an engine result (no tokens, no time);
    None for a page without lines of text."""
    if len(item.page_texts) != 1 or not item.page_texts[0].lines:
        return None
    page = item.page_texts[0]
    width, height = page.width, page.height
    placed = [
        PlacedLine(
            line.text, TEXT_LAYER, (line.x0, line.y0, line.x1, line.y1),
            (line.x0 / width, line.y0 / height, line.x1 / width, line.y1 / height),
        )  # fmt: skip
        for line in page.lines
    ]
    answer = PageText.model_validate(
        {"lines": [{"text": p.text, "bbox_2d": on_grid(p.page_box)} for p in placed]}
    )
    result = EngineResult(item.item_id, answer.model_dump_json(), "stop")
    return answer, placed, result


def placed_lines(item: WorkItem, answer: BaseModel) -> list[PlacedLine]:
    """The lines of the model's page_text `answer` for a one-page item, its boxes from the
    0-1000 grid to the page's points; none for another schema's answer."""
    if not isinstance(answer, PageText) or len(item.page_sizes) != 1:
        return []
    return [place(line.text, MODEL, line.bbox_2d, item.page_sizes[0]) for line in answer.lines]


def place(text: str, source: str, grid_box: list[int], size: tuple[float, float]) -> PlacedLine:
    """A line whose box is on the 0-1000 grid, placed on a page of `size` (width, height) in
    points: its box in points and as fractions of the page."""
    x0, y0, x1, y1 = from_grid(grid_box)
    width, height = size
    return PlacedLine(text, source, (x0 * width, y0 * height, x1 * width, y1 * height),
                      (x0, y0, x1, y1))  # fmt: skip

