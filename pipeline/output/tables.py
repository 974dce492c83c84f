"""Table rows for the documents and errors tables, built from a run's records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.grounding.record import under_threshold
from pipeline.items import EINVOICE_MODEL
from pipeline.output.arrow import to_arrow_value
from pipeline.records import ErrorRecord, PlacedLine, SourceFile, WarningRecord, storable

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pipeline.engines.base import EngineResult
    from pipeline.grounding import FieldGrounding
    from pipeline.items import WorkItem


@dataclass(frozen=True, slots=True)
class Provenance:
    """What every row says about the run that wrote it."""

    schema: str
    prompt_hash: str
    model: str
    engine: str
    run_id: str
    also_at: dict[str, list[str]] = field(default_factory=dict)  # path -> duplicate paths
    schema_source: str = ""  # where the schema came from, for the parts' metadata

    def columns(self, attempts: int, raw: str | None) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "prompt_hash": self.prompt_hash,
            "model": self.model,
            "engine": self.engine,
            "attempts": attempts,
            "raw_answer": None if raw is None else storable(raw),
            "run_id": self.run_id,
            "created_at": datetime.now(UTC),
        }

    def read_from_xml(self, label: str) -> Provenance:
        """The provenance of a row whose data is an e-invoice's XML: `model` is
        EINVOICE_MODEL (its ledger identity) and `engine` says what was read
        (`einvoice_rows.source_label`)."""
        return replace(self, model=EINVOICE_MODEL, engine=label)

    def duplicates_of(self, path: str) -> list[str]:
        return [storable(p) for p in self.also_at.get(path, [])]


def document_row(
    provenance: Provenance,
    item: WorkItem,
    result: EngineResult,
    instance: BaseModel,
    warnings: list[WarningRecord],
) -> dict[str, Any]:
    """One documents-table row: the typed data as a struct, with provenance and costs."""
    source = item.source
    return {
        "item_id": item.item_id,
        "doc_id": source.sha256,
        "page": item.page,
        "source_path": storable(str(source.path)),
        "also_at": provenance.duplicates_of(str(source.path)),
        "page_count": item.page_count,
        "status": "warning" if warnings else "ok",
        "data": to_arrow_value(instance),
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
        "visual_tokens": item.visual_tokens,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cached_tokens": result.cached_tokens,
        "latency_s": result.latency_s,
        **provenance.columns(item.attempts, result.text),
    }


def xml_document_row(
    provenance: Provenance,
    source: SourceFile,
    page_count: int,
    instance: BaseModel,
    warnings: list[WarningRecord],
    raw: str | None = None,
) -> dict[str, Any]:
    """A documents-table row read from an e-invoice's XML: no pages seen, no tokens spent;
    `raw` is the model's answer where one was asked to verify it."""
    return {
        "item_id": source.sha256,
        "doc_id": source.sha256,
        "page": None,
        "source_path": storable(str(source.path)),
        "also_at": provenance.duplicates_of(str(source.path)),
        "page_count": page_count,
        "status": "warning" if warnings else "ok",
        "data": to_arrow_value(instance),
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
        "visual_tokens": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "latency_s": 0.0,
        **provenance.columns(0, raw),
    }


_FIELD_IDENTITY = (
    "item_id", "doc_id", "page", "source_path", "also_at", "schema", "prompt_hash", "model",
    "engine", "attempts", "run_id", "created_at",
)  # fmt: skip


def field_rows(
    document: dict[str, Any], groundings: list[FieldGrounding], review_below: float | None = None
) -> list[dict[str, Any]]:
    """The fields-table rows of one documents-table row: its identity and provenance (the same
    created_at, so the current-rows rule keeps them together) and one grounding each, with
    `needs_review`: whether its confidence is under `review_below` (None when that is unset)."""
    identity = {name: document[name] for name in _FIELD_IDENTITY}
    return [
        {**identity, "raw_answer": None, **g.row(), "needs_review": needs_review(g, review_below)}
        for g in groundings
    ]


def line_rows(document: dict[str, Any], lines: Sequence[PlacedLine]) -> list[dict[str, Any]]:
    """The lines-table rows of one documents-table row: its identity and provenance (the same
    created_at, so the current-rows rule keeps them together) and one line each, numbered from
    1 in reading order."""
    identity = {name: document[name] for name in _FIELD_IDENTITY}
    box_names = ("x0", "y0", "x1", "y1", "nx0", "ny0", "nx1", "ny1")
    return [
        {
            **identity, "raw_answer": None, "line": number, "text": storable(line.text),
            "source": line.source, **dict(zip(box_names, line.box + line.page_box, strict=True)),
        }  # fmt: skip
        for number, line in enumerate(lines, start=1)
    ]


def needs_review(grounding: FieldGrounding, review_below: float | None) -> bool | None:
    """Whether a field is marked under the run's `review_below` (None without one)."""
    if review_below is None:
        return None
    return under_threshold(grounding.value, grounding.confidence, review_below)


def error_row(
    provenance: Provenance,
    record: ErrorRecord,
    item_id: str,
    page: int | None,
    raw: str,
    attempts: int,
) -> dict[str, Any]:
    """One errors-table row: which file, which stage, a stable code and a readable message."""
    return {
        "item_id": storable(item_id),
        "doc_id": record.doc_id or None,
        "page": page if page is not None else record.page,
        "source_path": storable(record.path),
        "also_at": provenance.duplicates_of(record.path),
        "stage": str(record.stage),
        "code": str(record.code),
        "message": storable(record.message),
        **provenance.columns(attempts or record.attempts, raw or record.raw),
    }
