"""Table rows for the documents and errors tables, built from a run's records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.records import ErrorRecord, WarningRecord

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pipeline.engines.base import EngineResult
    from pipeline.extraction import Extraction
    from pipeline.items import WorkItem


def storable(text: str) -> str:
    """`text` as valid UTF-8: bytes of a file name that were not UTF-8 (kept by Python as lone
    surrogates, which Parquet and SQLite refuse) become `\\xNN` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _provenance(run: Extraction, attempts: int, raw: str | None) -> dict[str, Any]:
    return {
        "schema": run.spec.name,
        "prompt_hash": run.template.prompt_hash,
        "model": run.identity.model,
        "engine": run.engine.name,
        "attempts": attempts,
        "raw_answer": None if raw is None else storable(raw),
        "run_id": run.report.run_id,
        "created_at": datetime.now(UTC),
    }


def document_row(
    run: Extraction,
    item: WorkItem,
    result: EngineResult,
    instance: BaseModel,
    warnings: list[WarningRecord],
) -> dict[str, Any]:
    """One documents-table row: the typed data as a struct, with provenance and costs."""
    from pipeline.arrow import to_arrow_value

    source = item.source
    return {
        "item_id": item.item_id,
        "doc_id": source.sha256,
        "page": item.page,
        "source_path": storable(str(source.path)),
        "also_at": [storable(p) for p in run.also_at.get(str(source.path), [])],
        "page_count": item.page_count,
        "status": "warning" if warnings else "ok",
        "data": to_arrow_value(instance),
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
        "visual_tokens": item.visual_tokens,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cached_tokens": result.cached_tokens,
        "latency_s": result.latency_s,
        **_provenance(run, item.attempts, result.text),
    }


def error_row(
    run: Extraction, record: ErrorRecord, item_id: str, page: int | None, raw: str, attempts: int
) -> dict[str, Any]:
    """One errors-table row: which file, which stage, a stable code and a readable message."""
    return {
        "item_id": storable(item_id),
        "doc_id": record.doc_id or None,
        "page": page if page is not None else record.page,
        "source_path": storable(record.path),
        "also_at": [storable(p) for p in run.also_at.get(record.path, [])],
        "stage": str(record.stage),
        "code": str(record.code),
        "message": storable(record.message),
        **_provenance(run, attempts or record.attempts, raw or record.raw),
    }
