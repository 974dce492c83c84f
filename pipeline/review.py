"""`docextract review`: a static HTML page per schema for checking what a run extracted.

The page is built from the tables under OUT (`OUT/<schema>/documents` and `.../errors`), read
with pyarrow, and holds everything it shows: page images are rendered again from each source file
with the project's own renderer, shrunk and embedded as JPEG data URIs; CSS and the few lines
of script that filter the list (all / failed / warned) are inline. Nothing is fetched over a
network, so the file can be mailed, archived or opened from a share.

A source file that is gone, or whose content changed since it was extracted, gets a note in
place of its pages: the page never shows pages the model did not see.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pipeline.config import RenderConfig
from pipeline.errors import ConfigError, DocextractError, ErrorCode, OutputNotWritable
from pipeline.items import is_page_item
from pipeline.review_pages import PREVIEW_RENDER, PageImages, preview_pages
from pipeline.sink import TABLES

REVIEW_NAME = "review.html"

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


def write_review(
    out_dir: str | Path,
    schema: str | None = None,
    destination: str | Path | None = None,
    passwords: Sequence[str] = (),
) -> list[Path]:
    """Write one review page per schema found under `out_dir` (or for `schema` alone) and
    return the files written.

    By default each page is OUT/<schema>/review.html. `destination` is a folder (each page is
    then `<folder>/<schema>-review.html`) or, when one schema is reviewed, a file name.
    `passwords` open encrypted PDFs for their page images. Raises TablesNotFound when OUT (or
    the schema in it) has no tables, OutputNotWritable when a page cannot be written.
    """
    from pipeline.review_html import review_page

    out = Path(out_dir)
    schemas = [schema] if schema is not None else list_schemas(out)
    if not schemas:
        raise TablesNotFound(f"{out}: no documents or errors tables here (is it a run's OUT?)")
    render = PREVIEW_RENDER.model_copy(update={"passwords": tuple(passwords)})
    targets = {name: _target(out, name, destination, len(schemas)) for name in schemas}
    for name, target in targets.items():
        entries = [with_images(entry, render) for entry in review_entries(out, name)]
        _write_text(target, review_page(name, out, entries))
    return list(targets.values())


def list_schemas(out: Path) -> list[str]:
    """The schemas with at least one part file under OUT, sorted by name."""
    if not out.is_dir():
        raise TablesNotFound(f"{out}: no such folder")
    return sorted(
        child.name
        for child in out.iterdir()
        if child.is_dir() and any(_part_files(child / table) for table in TABLES)
    )


def review_entries(out: Path, schema: str) -> list[ReviewEntry]:
    """Every row of OUT/<schema>'s two tables as an entry without images: failed first, then
    warned, then ok; by source path and page within each."""
    if not out.is_dir():
        raise TablesNotFound(f"{out}: no such folder")
    documents = read_rows(out / schema / "documents")
    errors = read_rows(out / schema / "errors")
    if not documents and not errors:
        found = ", ".join(list_schemas(out)) or "none"
        raise TablesNotFound(f"{out}: no tables for schema {schema!r} (schemas here: {found})")
    entries = [_document_entry(row) for row in documents] + [_error_entry(row) for row in errors]
    return sorted(entries, key=_review_order)


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of every committed part file in `folder`, each part read on its own (a custom
    schema's columns may differ between runs)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for part in _part_files(folder):
        rows.extend(pq.read_table(part).to_pylist())
    return rows


def _part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


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


def _document_entry(row: Mapping[str, Any]) -> ReviewEntry:
    warnings = tuple(Finding(w["code"], w["message"]) for w in row.get("warnings") or ())
    return ReviewEntry(
        status="warned" if row.get("status") == "warning" or warnings else "ok",
        page_count=row.get("page_count"),
        data=row.get("data"),
        validated=True,
        errors=(),
        violations=(),
        warnings=warnings,
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
    from pipeline.validate import strip_fence

    if not raw:
        return None
    try:
        value = json.loads(strip_fence(raw), parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


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
