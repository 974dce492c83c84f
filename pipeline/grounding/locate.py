"""Find every leaf value of a validated document on its pages' text layer.

Each leaf's candidates come from `spans.PageIndex` (numbers and dates read by the schema
parsers, text by its letters and digits, a value over several lines by its parts). Among several
candidates the one with the best score wins:

    match quality (exact 0.3, normalised 0.2, fuzzy 0.1)
    + 1.0 when a label word of the field is printed left of it on its line,
      0.5 when one heads its column (above it, overlapping it sideways)
    + up to 2.0 for nearness to the fields of the same object already placed
      (2.0 on the same line, else 1 / (1 + distance / 24 pt)) on the same page, for fields
      of a nested object or list item (a party, a line),
      - 1.0 where one of them already took this very place
    + 0.5 on a page the model saw.

Fields of an object are placed fewest-candidates first, so the distinctive ones (a line's
description) anchor the rest (its quantity "1"). A value not printed on any page gets source
`none` and no box: nothing is guessed."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from pipeline.grounding.labels import label_words
from pipeline.grounding.record import Box, FieldGrounding, MatchQuality, Source, field_confidence
from pipeline.grounding.spans import PageIndex, Span, union
from pipeline.grounding.textlayer import PageText

_QUALITY_SCORE = {MatchQuality.exact: 0.3, MatchQuality.normalised: 0.2, MatchQuality.fuzzy: 0.1}
_PARTS = re.compile(r"\s*[,;\n]\s*")
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_CONTEXT_MARGIN = 0.25


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every leaf of a model instance, lists indexed: `line_items[2].unit`."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from leaves(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def value_text(value: Any) -> str | None:
    """The value as the fields table shows it: dates in ISO 8601, numbers in plain notation
    (0.00000025 and 1500, never 2.5E-7 or 1.5E+3)."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and math.isfinite(value):
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _candidates(value: Any, indexes: Sequence[PageIndex]) -> list[Span]:
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, Decimal | int | float):
        number = Decimal(str(value))
        return [s for index in indexes for s in index.number_spans(number)]
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return [s for index in indexes for s in index.date_spans(value)]
    if isinstance(value, time):
        return [s for index in indexes for s in index.time_spans(value)]
    text = str(value.value).replace("_", " ") if isinstance(value, Enum) else str(value)
    found = [s for index in indexes for s in index.text_spans(text)]
    found = found or [s for index in indexes for s in _by_parts(text, index)]
    return found or [s for index in indexes for s in _wrapped(text, index)]


def _by_parts(text: str, index: PageIndex) -> list[Span]:
    """A value printed in parts (an address over lines): each part found, each next part the
    one nearest below or beside the part before; the box is their union. An address that ends
    in a country code (as an e-invoice's XML writes it) is found without it where the page does
    not print it."""
    parts = [p for p in _PARTS.split(text) if p]
    if len(parts) < 2:
        return []
    spans = _chains(parts, index)
    if not spans and len(parts) > 2 and _COUNTRY_CODE.fullmatch(parts[-1]):
        spans = _chains(parts[:-1], index)
    return spans


def _chains(parts: list[str], index: PageIndex) -> list[Span]:
    spans = []
    for first in index.text_spans(parts[0]):
        chain = [first]
        for part in parts[1:]:
            options = index.text_spans(part)
            if not options:
                break
            chain.append(min(options, key=lambda s: _distance(chain[-1].box, s.box)))
        if len(chain) == len(parts) and all(
            _distance(a.box, b.box) < 60 for a, b in zip(chain, chain[1:], strict=False)
        ):
            box = union([s.box for s in chain])
            lo, hi = min(s.first for s in chain), max(s.last for s in chain)
            spans.append(Span(index.page, lo, hi, box, MatchQuality.fuzzy))
    return spans


def _wrapped(text: str, index: PageIndex) -> list[Span]:
    """A value wrapped over two lines, as a long description in a table cell is: its first
    words on one line, the rest starting the line below, no further left than the cell (or
    than the line it ends, where both lines are one block of the file: a description after
    an item's code wraps back under the code)."""
    words = text.split()
    spans = []
    for k in range(1, len(words)):
        tails = index.text_spans(" ".join(words[k:]))
        for head in index.text_spans(" ".join(words[:k])) if tails else ():
            for tail in tails:
                if _continues(head.box, tail.box, _block_left(head, tail, index)):
                    box = union([head.box, tail.box])
                    spans.append(Span(index.page, head.first, tail.last, box, MatchQuality.fuzzy))
    return spans


def _continues(above: Box, below: Box, left: float | None = None) -> bool:
    """Whether `below` may be the next line of a cell whose line ends with `above`; `left`,
    where given, is where that line starts."""
    height = above[3] - above[1]
    next_line = 0.5 * height < below[1] - above[1] < 2.5 * height
    start = above[0] - 4 * height if left is None else min(left, above[0] - 4 * height)
    return next_line and start <= below[0] <= above[2]


def _block_left(head: Span, tail: Span, index: PageIndex) -> float | None:
    """Where the head's line of its block starts, if the tail begins in that same block."""
    first = head.words[0]
    if tail.words[0].block != first.block:
        return None
    return index.line_starts[(first.block, first.line)] - 1


def _distance(a: Box, b: Box) -> float:
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return (dx * dx + dy * dy) ** 0.5


def _same_line(a: Box, b: Box) -> bool:
    return min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1])


def _label_score(span: Span, index: PageIndex, labels: tuple[str, ...]) -> float:
    box, best = span.box, 0.0
    for k, wbox in index.label_boxes(labels):
        if span.first <= k <= span.last:
            continue
        if _same_line(wbox, box) and wbox[2] <= box[0] + 1 and box[0] - wbox[2] < 450:
            return 1.0
        above = wbox[3] <= box[1] + 1 and box[1] - wbox[3] < 400
        if above and min(wbox[2], box[2]) > max(wbox[0], box[0]):
            best = 0.5
    return best


def _score(
    span: Span, context: _Context, labels: tuple[str, ...], placed: list[Span], nested: bool
) -> float:
    index = context.indexes[span.page.number]
    score = _QUALITY_SCORE[span.quality] + _label_score(span, index, labels)
    if any(s.page is span.page and (s.first, s.last) == (span.first, span.last) for s in placed):
        score -= 1.0  # fields of one object are printed in different places
    near = [s for s in placed if s.page.number == span.page.number] if nested else []
    if near:
        score += max(
            2.0 if _same_line(s.box, span.box) else 1.0 / (1 + _distance(s.box, span.box) / 24)
            for s in near
        )
    return score + (0.5 if span.page.number in context.seen else 0.0)


@dataclass(frozen=True)
class _Context:
    """What every field of one document is placed against."""

    indexes: dict[int, PageIndex]
    seen: Collection[int]
    xml: bool
    model: Mapping[str, float]  # the model's probability of each value, by path
    rule_warnings: int


def _grounding(
    path: str, value: Any, options: list[Span], placed: list[Span], context: _Context
) -> FieldGrounding:
    text = value_text(value)
    xml = context.xml
    if not options:
        source = Source.xml if xml and value is not None else Source.none
        return FieldGrounding.not_found(path, text, source)
    labels = label_words(path)
    nested = "." in path or "[" in path
    scored = [(_score(s, context, labels, placed, nested), k, s) for k, s in enumerate(options)]
    ranked = sorted(scored, key=lambda t: (-t[0], t[1]))
    best_score, _, best = ranked[0]
    decided = len(ranked) == 1 or best_score - ranked[1][0] >= _CONTEXT_MARGIN
    confidence = field_confidence(
        best.quality, len(options) - 1, decided, context.model.get(path, 1.0),
        context.rule_warnings, xml, best.page.source == Source.model_box,
    )  # fmt: skip
    placed.append(best)
    page = best.page
    box = tuple(round(v, 2) for v in best.box)
    norm = (box[0] / page.width, box[1] / page.height, box[2] / page.width, box[3] / page.height)
    return FieldGrounding(
        path, text, Source(page.source), best.quality, confidence, page.number,
        box,  # type: ignore[arg-type]
        tuple(round(min(1.0, max(0.0, v)), 5) for v in norm),  # type: ignore[arg-type]
    )  # fmt: skip


def locate_fields(
    instance: BaseModel,
    pages: Sequence[PageText],
    seen_pages: Collection[int] = (),
    *,
    from_xml: bool = False,
    model_probabilities: Mapping[str, float] | None = None,
    rule_warnings: int = 0,
) -> list[FieldGrounding]:
    """One grounding per leaf of `instance`, in the order of its fields: the place on `pages`
    (the document's text layer) where each value is printed. `seen_pages` are the pages the
    model saw (preferred when a value is printed on several); `from_xml` marks values read
    from an e-invoice's XML: confidence 1, source `xml` where no page shows them.
    `model_probabilities` (by path, see `answer.value_probabilities`) and `rule_warnings` (the
    document's business-rule warnings) join the confidence as `record.field_confidence` says."""
    indexes = [PageIndex(page) for page in pages if page.words]
    context = _Context(
        {index.page.number: index for index in indexes}, seen_pages, from_xml,
        model_probabilities or {}, rule_warnings,
    )  # fmt: skip
    found: dict[str, FieldGrounding] = {}
    groups: dict[str, list[tuple[str, Any]]] = {}
    for path, value in leaves(instance):
        groups.setdefault(_parent(path), []).append((path, value))
    for members in groups.values():
        options = {path: _candidates(value, indexes) for path, value in members}
        placed: list[Span] = []
        for path, value in sorted(members, key=lambda m: len(options[m[0]]) or 1_000_000):
            found[path] = _grounding(path, value, options[path], placed, context)
    return [found[path] for path, _ in leaves(instance)]
