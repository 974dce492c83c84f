"""How well the text-layer locator finds values: the truth as the answer, its boxes as the mark.

For each document with truth, the truth is validated with the schema (as an engine's answer
would be), `locate_fields` places each leaf on the document's text layer, and each field with
a true box (truth/<schema>/boxes/<name>.json, written by the document generator) is scored:
found at all, on the right page, and the IoU of the found box with the true one. Documents
without a text layer (scans, images) are counted apart: nothing can be found there."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.grounding import FieldGrounding, locate_fields, read_text_layer

Box = tuple[float, float, float, float]


def iou(a: Box | list[float], b: Box | list[float]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def field_kind(path: str) -> str:
    """The field a path is an instance of: `line_items[2].unit` -> `line_items[].unit`."""
    return re.sub(r"\[\d+\]", "[]", path)


@dataclass
class FieldScore:
    """Counts of one field kind over documents: true boxes, found, on the right page, IoUs."""

    total: int = 0
    found: int = 0
    right_page: int = 0
    ious: list[float] = field(default_factory=list)

    def add(self, grounding: FieldGrounding | None, truth: Mapping[str, Any]) -> None:
        self.total += 1
        if grounding is None or grounding.box is None:
            self.ious.append(0.0)
            return
        self.found += 1
        on_page = grounding.page == truth["page"]
        self.right_page += on_page
        self.ious.append(iou(grounding.box, truth["box"]) if on_page else 0.0)

    @property
    def mean_iou(self) -> float:
        return sum(self.ious) / len(self.ious) if self.ious else 0.0


@dataclass
class GroundingScore:
    """Scores by field kind, their sum, and the documents that had no text layer."""

    fields: dict[str, FieldScore] = field(default_factory=dict)
    documents: int = 0
    without_text: list[str] = field(default_factory=list)

    def overall(self) -> FieldScore:
        total = FieldScore()
        for score in self.fields.values():
            total.total += score.total
            total.found += score.found
            total.right_page += score.right_page
            total.ious += score.ious
        return total

    def score(self, groundings: Iterable[FieldGrounding], boxes: Mapping[str, Any]) -> None:
        by_path = {g.path: g for g in groundings}
        for path, truth in boxes.items():
            self.fields.setdefault(field_kind(path), FieldScore()).add(by_path.get(path), truth)


def measure_examples(examples: str | Path, schemas: Iterable[str] | None = None) -> GroundingScore:
    """Score the locator on every document of `examples` (documents/<schema>/, truth/<schema>/)
    that has true boxes, the truth standing in for the model's answer."""
    from schemas import BUILTIN_SCHEMAS

    root = Path(examples)
    result = GroundingScore()
    for box_file in sorted((root / "truth").glob("*/boxes/*.json")):
        schema, name = box_file.parent.parent.name, box_file.stem
        if schemas is not None and schema not in schemas:
            continue
        truth = json.loads((box_file.parent.parent / f"{name}.json").read_text(encoding="utf-8"))
        instance = BUILTIN_SCHEMAS[schema].model_validate(truth)
        document = next((root / "documents" / schema).glob(f"{name}.*"))
        pages = read_text_layer(document)
        result.documents += 1
        if not any(page.words for page in pages):
            result.without_text.append(document.name)
            continue
        boxes = json.loads(box_file.read_text(encoding="utf-8"))
        result.score(locate_fields(instance, pages), boxes)
    return result


def found_in_corpus(corpus: str | Path) -> tuple[int, int, list[str]]:
    """(found, total, missing paths) of the leaf values of the corpus's born-digital e-invoices,
    their embedded XML standing in for the answer. There are no true boxes: this says only
    whether each present value was found somewhere on the pages."""
    from pipeline.inputs.einvoice import read_embedded_invoice
    from schemas import BUILTIN_SCHEMAS

    found = total = 0
    missing: list[str] = []
    for pdf in sorted((Path(corpus) / "invoices").glob("*.pdf")):
        data = read_embedded_invoice(str(pdf))
        if data is None:
            continue
        instance = BUILTIN_SCHEMAS["invoice"].model_validate(data)
        for grounding in locate_fields(instance, read_text_layer(pdf), from_xml=True):
            if grounding.value is None:
                continue
            total += 1
            if grounding.box is not None:
                found += 1
            else:
                missing.append(f"{pdf.stem}:{grounding.path}={grounding.value}")
    return found, total, missing
