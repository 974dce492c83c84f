"""Grounding on pages without a text layer (`render.model_boxes`, `--model-boxes`).

A scan or an image has no words to locate an answer's values in. With model boxes on, once a
document's answer is validated, each such page of it goes to the model once more with the
page_text schema: every line of text with its box on the page's 0-1000 grid. The lines become
words with boxes in the page's points (`page_words`), and the values are located among them
as among a PDF's own words, with source `model_box` (`grounding.locate`). Nothing is invented:
a value the model's reading of the page does not show has no box. Pages with a text layer are
never asked.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipeline.engines.base import (
    Engine,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    SamplingConfig,
    generate_guarded,
)
from pipeline.errors import ErrorCode
from pipeline.extract.breaker import unreachable
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from pipeline.extract.prompt import PromptTemplate, build_prompt, build_request
from pipeline.extract.text_lines import place
from pipeline.grounding.record import Source
from pipeline.grounding.textlayer import PageText, Word
from pipeline.items import WorkItem
from pipeline.records import Page, WarningRecord
from schemas.page_text import TextLine

LINES_MAX_NEW_TOKENS = 4096
"""The least answer length a page's lines may take: a dense page has 60 lines and more, each
about 25 tokens with its box."""
_TOKEN = re.compile(r"[\u2e80-\U0002ffff]+|[^\s\u2e80-\U0002ffff]+")
"""A word of a line: a run of CJK characters (and full-width signs), or of other non-space
characters, so that "合计：¥123.00" gives the amount a word of its own, as a text layer would."""


def unread_pages(item: WorkItem) -> list[Page]:
    """The pages of `item` with no words of their own to locate values in: images, and PDF
    pages without a text layer."""
    return [page for page in item.pages if page.text is None or not page.text.words]


@dataclass(frozen=True, slots=True)
class LineReader:
    """The page_text requests for the unread pages of an extracted item, and their answers as
    the pages' words."""

    template: PromptTemplate
    json_schema: dict[str, Any]
    max_new_tokens: int
    seed: int

    @classmethod
    def build(cls, max_new_tokens: int, seed: int) -> LineReader:
        spec = resolve_schema("page_text")
        return cls(
            build_prompt(spec), engine_json_schema(spec.model),
            max(LINES_MAX_NEW_TOKENS, max_new_tokens), seed,
        )  # fmt: skip

    def requests(self, item: WorkItem) -> list[tuple[Page, EngineRequest]]:
        """One request per unread page of `item`, each with that page alone."""
        sampling = SamplingConfig(max_new_tokens=self.max_new_tokens, seed=self.seed)
        return [
            (page, build_request(
                self.template, [page], self.json_schema, sampling,
                f"{item.item_id}#lines{page.index + 1}",
            ))  # fmt: skip
            for page in unread_pages(item)
        ]


@dataclass(frozen=True, slots=True)
class ModelRead:
    """What the model's reading of an item's unread pages gave: their words, and a lines_unread
    warning for each page it gave none for."""

    pages: tuple[PageText, ...] = ()
    warnings: tuple[WarningRecord, ...] = ()


async def read_pages(
    reader: LineReader,
    engine: Engine,
    items: Sequence[WorkItem],
    observe: Callable[[Sequence[EngineOutcome]], None],
) -> dict[str, ModelRead]:
    """Ask `engine` for the lines of every unread page of `items` in one batch, asking again
    while it cannot be reached (`observe` sees every outcome: the run's breaker stops a run
    whose engine is gone); what each item's pages gave, by item id."""
    asks = [(item, page, request) for item in items for page, request in reader.requests(item)]
    answers: dict[int, EngineOutcome] = {}
    pending = list(range(len(asks)))
    while pending:
        outcomes = await generate_guarded(engine, [asks[k][2] for k in pending])
        observe(outcomes)
        answers.update(zip(pending, outcomes, strict=True))
        pending = [k for k in pending if unreachable(answers[k])]
    pages: dict[str, list[PageText]] = {item.item_id: [] for item in items}
    warnings: dict[str, list[WarningRecord]] = {item.item_id: [] for item in items}
    for k, (item, page, _) in enumerate(asks):
        words, why = page_words(page, answers[k])
        if words is not None:
            pages[item.item_id].append(words)
            continue
        message = f"page {page.index + 1} could not be read as lines: {why}; no box there"
        warnings[item.item_id].append(WarningRecord(str(ErrorCode.LINES_UNREAD), message))
    return {key: ModelRead(tuple(pages[key]), tuple(warnings[key])) for key in pages}


def page_words(page: Page, outcome: EngineOutcome) -> tuple[PageText | None, str]:
    """The model's reading of `page` as its words, with `source` model_box; or None and why
    not (the engine failed, or the answer has no valid line)."""
    if not isinstance(outcome, EngineResult):
        return None, f"{outcome.code}: {outcome.message}"
    lines = answer_lines(outcome.text)
    if not lines:
        cut = " (cut at the length limit)" if outcome.finish_reason == "length" else ""
        return None, f"the answer has no line with a valid box{cut}"
    size = page.size_in_points
    words: list[Word] = []
    for number, line in enumerate(lines):
        placed = place(line.text, Source.model_box, line.bbox_2d, size)
        words += line_words(line.text, placed.box, number)
    found = PageText(page.index + 1, *size, tuple(words), source=Source.model_box)
    return found, ""


def answer_lines(text: str) -> list[TextLine]:
    """The valid lines of a page_text answer: each line checked alone, so that one line with a
    bad box costs that line only; of an answer cut at the length limit, the lines before the
    cut."""
    raw = _json_or_prefix(text)
    entries = raw.get("lines") if isinstance(raw, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            line = TextLine.model_validate(entry)
        except ValidationError:
            continue
        if line.has_area and line.text.strip():
            found.append(line)
    return found


def _json_or_prefix(text: str, tries: int = 4) -> Any:
    """`text` as JSON; or, cut short, its longest prefix that closes after a complete line
    (`{"lines": [{...}, {...}` and then `]}`); None where neither reads."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    end = len(text)
    for _ in range(tries):
        end = text.rfind("}", 0, end)
        if end < 0:
            return None
        try:
            return json.loads(text[: end + 1] + "]}")
        except ValueError:
            continue
    return None


def line_words(text: str, box: tuple[float, float, float, float], line: int) -> list[Word]:
    """The words of one line the model read, each given the share of the line's box that its
    characters take (a wide character, CJK or full-width, twice a narrow one's); each word
    reaches to where the next begins, so the words of a line read as one run of text (a number
    printed "1 234,56" stays one value)."""
    x0, y0, x1, y1 = box
    edges = [0]
    for ch in text:
        edges.append(edges[-1] + (2 if unicodedata.east_asian_width(ch) in "WF" else 1))
    step = (x1 - x0) / max(1, edges[-1])
    found = list(_TOKEN.finditer(text))
    return [
        Word(
            match.group(), x0 + step * edges[match.start()], y0,
            x0 + step * edges[found[k + 1].start() if k + 1 < len(found) else match.end()], y1,
            line, line,
        )  # fmt: skip
        for k, match in enumerate(found)
    ]
