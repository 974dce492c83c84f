"""How well fields were grounded: found boxes scored against true ones, field by field.

A true box (TRUTH/<schema>/boxes/<name>.json, written by the document generator: {path: {page,
box, page_size}}) says where a value is printed. Each one is scored against the grounding of
the same path: found at all (a box, whatever its source), on the right page, and the IoU of
the found box with the true one (0 when not found or on another page). Found means a source
other than `none`. Scores are summed per field kind (`line_items[2].unit` counts under
`line_items[].unit`) and overall.

`docextract eval` scores a run's `fields` table this way (`score_run`); the grounding benchmark
scores the locator with the truth standing in for the answer. Paths are compared as written:
a list item the answer put at another index is grounded under another path, and counts as not
found. Two kinds of document are counted apart: those whose source has no text layer (scans,
images: nothing can be found there yet), and those a run read from their embedded e-invoice
XML (no page was rendered: their values come from the XML, source `xml`, without a box)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.grounding import FieldGrounding, MatchQuality, Source, read_text_layer

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
        if grounding is None or grounding.source is Source.none:
            self.ious.append(0.0)
            return
        self.found += 1
        if grounding.box is None:
            self.ious.append(0.0)
            return
        on_page = grounding.page == truth["page"]
        self.right_page += on_page
        self.ious.append(iou(grounding.box, truth["box"]) if on_page else 0.0)

    @property
    def mean_iou(self) -> float:
        return sum(self.ious) / len(self.ious) if self.ious else 0.0

    @property
    def found_share(self) -> float:
        return self.found / self.total if self.total else 0.0

    @property
    def right_page_share(self) -> float:
        return self.right_page / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "true_boxes": self.total,
            "found": self.found,
            "right_page": self.right_page,
            "found_share": self.found_share,
            "right_page_share": self.right_page_share,
            "mean_iou": self.mean_iou,
        }


@dataclass
class GroundingScore:
    """Scores by field kind, their sum, and the documents counted apart: without a text
    layer, or read from their e-invoice XML."""

    fields: dict[str, FieldScore] = field(default_factory=dict)
    documents: int = 0
    without_text: list[str] = field(default_factory=list)
    from_xml: list[str] = field(default_factory=list)

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured": True,
            "documents": self.documents,
            "without_text_layer": self.without_text,
            "from_xml": self.from_xml,
            "total": self.overall().to_dict(),
            "fields": {kind: s.to_dict() for kind, s in sorted(self.fields.items())},
        }


def load_true_boxes(truth_dir: str | Path, schema: str) -> dict[str, dict[str, Any]]:
    """True boxes by document stem, from TRUTH/<schema>/boxes/ or else TRUTH/boxes/."""
    root = Path(truth_dir)
    folder = (root / schema if (root / schema).is_dir() else root) / "boxes"
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


def grounding_from_row(row: Mapping[str, Any]) -> FieldGrounding:
    """A `fields` table row read back as the grounding it was written from."""
    corners = [row.get(c) for c in ("x0", "y0", "x1", "y1")]
    box: Box | None = None
    if all(v is not None for v in corners):
        x0, y0, x1, y1 = (float(v) for v in corners if v is not None)
        box = (x0, y0, x1, y1)
    return FieldGrounding(
        path=str(row["field"]),
        value=row.get("value"),
        source=Source(row.get("source") or "none"),
        quality=MatchQuality(row.get("match") or "none"),
        confidence=float(row.get("confidence") or 0.0),
        page=row.get("on_page"),
        box=box,
    )


def _has_text_layer(source_path: str) -> bool:
    """Whether the source file has words to find values in; True when it cannot be read
    (then its fields count as not found rather than being left out)."""
    path = Path(source_path)
    if not path.is_file():
        return True
    return any(page.words for page in read_text_layer(path))


def score_run(
    field_rows: Iterable[Mapping[str, Any]],
    boxes: Mapping[str, Mapping[str, Any]],
    sources: Mapping[str, str],
) -> GroundingScore:
    """Score a run's `fields` rows against true boxes. `boxes` and `sources` (the source path
    of each extracted document) are keyed by document stem; a document with true boxes but no
    fields rows (it failed) counts every box as not found."""
    by_document: dict[str, list[FieldGrounding]] = {}
    for row in field_rows:
        key = Path(str(row.get("source_path") or "")).stem
        by_document.setdefault(key, []).append(grounding_from_row(row))
    result = GroundingScore()
    for key in sorted(boxes):
        if key not in sources and key not in by_document:
            continue  # not part of this run
        groundings = by_document.get(key, [])
        result.documents += 1
        if any(g.source is Source.xml for g in groundings):
            result.from_xml.append(Path(sources.get(key, key)).name)
            continue
        if all(g.box is None for g in groundings) and not _has_text_layer(sources.get(key, "")):
            result.without_text.append(Path(sources[key]).name)
            continue
        result.score(groundings, boxes[key])
    return result


def score_run_grounding(
    out: str | Path, schema: str, truth: str, sources: Mapping[str, str]
) -> GroundingScore | str:
    """The grounding score of run folder `out` for `schema` against the true boxes under
    `truth` (a truth folder, or 'embedded'), or why it was not measured. `sources` maps each
    extracted document's stem to its source path."""
    from pipeline.output.current import current_row_dicts

    if truth == "embedded":
        return "the embedded e-invoice XML gives no true boxes"
    boxes = load_true_boxes(truth, schema)
    if not boxes:
        return f"no true boxes under {Path(truth) / schema / 'boxes'}"
    rows = current_row_dicts(Path(out), schema, "fields")
    if not rows:
        return (
            f"{Path(out) / schema} has no fields table: run with --grounding "
            "(render.text_layer = true) to write one"
        )
    score = score_run(rows, boxes, sources)
    if not score.documents:
        return "no document of the run has true boxes"
    return score
