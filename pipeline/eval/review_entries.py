"""What the review page shows, read from a run's tables: one entry per document (or page),
failed first, with its fields, findings and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import DocextractError, ErrorCode
from pipeline.eval.review_boxes import FieldMark, needs_review, review_order
from pipeline.eval.review_pages import PageImages
from pipeline.output.current import current_row_dicts, missing_models
from pipeline.output.current import list_schemas as schemas_under

Status = Literal["failed", "warned", "ok"]
STATUS_ORDER: tuple[Status, ...] = ("failed", "warned", "ok")
_RULE_FINDING = re.compile(r"; (?=[\w.-]+: )")


class TablesNotFound(DocextractError):
    """OUT holds no documents or errors table (for the schema asked for)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A coded line shown with a document: an error, a rule violation or a warning."""

    code: str
    message: str
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One row of the documents or errors table, as the review page shows it.

    `data` is the validated extraction for ok and warned rows; for a failed row it is the
    model's answer parsed as JSON where there is one (`validated` then is False).
    """

    status: Status
    item_id: str
    source_path: str
    doc_id: str | None
    page: int | None
    page_count: int | None
    also_at: tuple[str, ...]
    data: Mapping[str, Any] | None
    validated: bool
    raw_answer: str | None
    errors: tuple[Finding, ...]
    violations: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    model: str
    run_id: str
    images: PageImages = PageImages()
    fields: tuple[FieldMark, ...] = ()  # where each value is printed, least sure first

    @property
    def needs_review(self) -> bool:
        """A field is marked for review, or the run warned `needs_review`."""
        return needs_review(self.fields, [finding.code for finding in self.warnings])


def list_schemas(out: Path) -> list[str]:
    """The schemas with at least one part file under OUT, sorted by name."""
    if not out.is_dir():
        raise TablesNotFound(f"{out}: no such folder")
    return schemas_under(out, with_parts=True)


def review_entries(
    out: Path, schema: str, models: Collection[str] = (), review_below: float | None = None
) -> list[ReviewEntry]:
    """Every row that stands of OUT/<schema>'s two tables (of `models` only, when given) as an
    entry without images: failed first, then warned, then ok; by source path and page within
    each. A documents row comes with its rows of the fields table, where the run wrote one,
    marked for review as the run marked them or, with `review_below`, by that threshold."""
    if not out.is_dir():
        raise TablesNotFound(f"{out}: no such folder")
    if (missing := missing_models(out, schema, models)) is not None:
        raise TablesNotFound(missing)
    documents = current_row_dicts(out, schema, "documents", models)
    errors = current_row_dicts(out, schema, "errors", models)
    if not documents and not errors:
        found = ", ".join(list_schemas(out)) or "none"
        raise TablesNotFound(f"{out}: no tables for schema {schema!r} (schemas here: {found})")
    located = _fields_by_row(current_row_dicts(out, schema, "fields", models), review_below)
    entries = [_document_entry(row, located.get(_row_key(row), ())) for row in documents]
    entries += [_error_entry(row) for row in errors]
    return sorted(entries, key=_review_order)


def _row_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a fields row shares with its documents row alone."""
    return (row.get("item_id"), row.get("model"), row.get("prompt_hash"), row.get("created_at"))


def _fields_by_row(
    rows: list[dict[str, Any]], review_below: float | None
) -> dict[tuple[Any, ...], tuple[FieldMark, ...]]:
    grouped: dict[tuple[Any, ...], list[FieldMark]] = {}
    for row in rows:
        grouped.setdefault(_row_key(row), []).append(FieldMark.of(row, review_below))
    return {key: review_order(marks) for key, marks in grouped.items()}


def _review_order(entry: ReviewEntry) -> tuple[int, str, int]:
    return (STATUS_ORDER.index(entry.status), entry.source_path, entry.page or 0)


def _common(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "item_id": str(row.get("item_id") or ""),
        "source_path": str(row.get("source_path") or ""),
        "doc_id": row.get("doc_id"),
        "page": row.get("page"),
        "also_at": tuple(row.get("also_at") or ()),
        "raw_answer": row.get("raw_answer"),
        "model": str(row.get("model") or ""),
        "run_id": str(row.get("run_id") or ""),
    }


def _document_entry(row: Mapping[str, Any], fields: tuple[FieldMark, ...] = ()) -> ReviewEntry:
    warnings = tuple(Finding(w["code"], w["message"]) for w in row.get("warnings") or ())
    return ReviewEntry(
        status="warned" if row.get("status") == "warning" or warnings else "ok",
        page_count=row.get("page_count"),
        data=row.get("data"),
        validated=True,
        errors=(),
        violations=(),
        warnings=warnings,
        fields=fields,
        **_common(row),
    )


def _error_entry(row: Mapping[str, Any]) -> ReviewEntry:
    code = str(row.get("code") or "")
    message = str(row.get("message") or "")
    own = message.removeprefix(f"{row.get('source_path')}: ")
    violations = rule_findings(own) if code == ErrorCode.RULE_VIOLATION else ()
    return ReviewEntry(
        status="failed",
        page_count=None,
        data=parsed_answer(row.get("raw_answer")),
        validated=False,
        errors=(Finding(code, message, row.get("stage")),),
        violations=violations,
        warnings=(),
        **_common(row),
    )


def rule_findings(message: str) -> tuple[Finding, ...]:
    """The broken rules listed in a `rule_violation` message, without the file name that
    starts it: `code: message; code: message`."""
    findings = []
    for part in _RULE_FINDING.split(message):
        code, _, text = part.partition(": ")
        findings.append(Finding(code.strip(), text.strip()))
    return tuple(findings)


def parsed_answer(raw: str | None) -> dict[str, Any] | None:
    """The model's answer as a JSON object, or None when it is not one."""
    from pipeline.extract.validate import strip_fence

    if not raw:
        return None
    try:
        value = json.loads(strip_fence(raw), parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
