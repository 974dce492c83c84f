"""Where settled work goes: its row to a sink, its counts to the report, a line to the
reporter. The one place a run's counters change after planning.

A sink takes the rows of the `documents` and `errors` tables: `BufferedWriter` writes them as
Parquet parts under OUT and commits them to the ledger (`docextract run`); `MemorySink` keeps
them as Arrow tables in memory (`docextract.extract`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from pipeline.output.arrow import arrow_type_for
from pipeline.output.ledger import Ledger
from pipeline.output.progress import Reporter
from pipeline.output.report import RunReport
from pipeline.output.sink import (
    BufferedWriter,
    PartWriter,
    documents_schema,
    errors_schema,
    fields_schema,
    lines_schema,
    table_metadata,
    tables_of,
)
from pipeline.output.tables import (
    Provenance,
    document_row,
    error_row,
    field_rows,
    line_rows,
    needs_review,
    xml_document_row,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pydantic import BaseModel

    from pipeline.engines.base import EngineResult
    from pipeline.grounding import FieldGrounding
    from pipeline.grounding.textlayer import PageText
    from pipeline.items import WorkItem
    from pipeline.records import ErrorRecord, PlacedLine, SourceFile, WarningRecord


class RowSink(Protocol):
    """Where a recorder's rows go."""

    @property
    def written(self) -> list[dict[str, Any]]:
        """The parts committed so far (path, table, rows, checksum), for the run's manifest."""

    def add(self, table: str, row: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class MemorySink:
    """Rows kept in memory, each table readable as one Arrow table; nothing touches the disk."""

    def __init__(self, schemas: dict[str, pa.Schema]) -> None:
        self.schemas = schemas
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in schemas}

    @property
    def written(self) -> list[dict[str, Any]]:
        return []  # no parts: nothing is written

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    async def close(self) -> None:
        return None

    def table(self, name: str) -> pa.Table:
        """The rows of table `name`, typed as a run would write them."""
        return pa.Table.from_pylist(self.rows[name], schema=self.schemas[name])


class RunRecorder:
    """Rows, counts and progress lines of one run's settled items."""

    def __init__(
        self,
        writer: RowSink,
        report: RunReport,
        reporter: Reporter,
        provenance: Provenance,
        grounding: bool = False,
        review_below: float | None = None,
    ) -> None:
        self.writer = writer
        self.grounding = grounding
        """Whether each document gets its fields rows (render.text_layer)."""
        self.review_below = review_below
        """Fields under this confidence are marked, their documents warned (needs_review)."""
        self.report = report
        self.reporter = reporter
        self.provenance = provenance

    def extracted(
        self,
        item: WorkItem,
        result: EngineResult,
        instance: BaseModel,
        warnings: list[WarningRecord],
        provenance: Provenance | None = None,
        lines: Sequence[PlacedLine] = (),
        model_pages: Sequence[PageText] = (),
    ) -> None:
        """A document (or page) extracted: its documents row, and its fields rows (with
        grounding) and lines rows (`lines`, a page_text answer's). `model_pages` are the
        model's readings of its pages without a text layer (--model-boxes): its values are
        located on them as on the others' text."""
        # A row checked against an e-invoice's XML (`provenance` given) holds the XML's values,
        # not the model's answer: its confidence is the text layer's alone, as before.
        own = provenance is None
        pages = [page for page in item.page_texts if page.words] + list(model_pages)
        groundings = self._locate(
            pages, instance, item.page_numbers, False,
            result if own else None, warnings if own else [],
        )  # fmt: skip
        warnings = warnings + self._review(groundings)
        row = document_row(provenance or self.provenance, item, result, instance, warnings)
        self.writer.add("documents", row)
        self._write_fields(row, groundings)
        for line_row in line_rows(row, lines):
            self.writer.add("lines", line_row)
        report = self.report
        report.extracted += 1
        self._count_warnings(warnings)
        report.pages += item.page_total
        report.visual_tokens += item.visual_tokens
        self.reporter.item_done(item.path, item.page_total, result.completion_tokens, None, "")

    def from_xml(
        self,
        source: SourceFile,
        page_count: int,
        instance: BaseModel,
        warnings: list[WarningRecord],
        provenance: Provenance,
        raw: str | None = None,
        pages: Sequence[PageText] = (),
    ) -> None:
        """A document whose row is its e-invoice's XML (`provenance` says which); with
        grounding, its values are located on `pages` (the PDF's text layer, where read)."""
        groundings = self._locate(list(pages), instance, tuple(p.number for p in pages), True)
        warnings = warnings + self._review(groundings)
        row = xml_document_row(provenance, source, page_count, instance, warnings, raw)
        self.writer.add("documents", row)
        self._write_fields(row, groundings)
        report = self.report
        report.extracted += 1
        report.from_xml += 1
        self._count_warnings(warnings)
        self.reporter.item_done(str(source.path), 0, 0, None, "")

    def needs_model(self, path: str) -> None:
        """A page of `path` left undone: only the model can read it, and no engine started."""
        if path not in self.report.needs_model:
            self.report.needs_model.append(path)

    def _locate(
        self,
        pages: list[PageText],
        instance: BaseModel,
        seen: tuple[int, ...],
        from_xml: bool,
        answer: EngineResult | None = None,
        warnings: list[WarningRecord] | None = None,
    ) -> list[FieldGrounding]:
        """With `grounding` on, each leaf of `instance` located in the text layer of the pages
        the model saw (none for images and scans); nothing with it off. The confidence also
        weighs the model's probability of each value (from `answer`'s log-probabilities,
        where the engine gave them) and the business-rule warnings among `warnings`."""
        if not self.grounding:
            return []
        from pipeline.grounding import locate_fields
        from pipeline.grounding.answer import value_probabilities

        probabilities = (
            value_probabilities(answer.text, answer.tokens, answer.logprobs) if answer else {}
        )
        return locate_fields(
            instance, pages, seen, from_xml=from_xml, model_probabilities=probabilities,
            rule_warnings=rule_warning_count(warnings or []),
        )  # fmt: skip

    def _review(self, groundings: list[FieldGrounding]) -> list[WarningRecord]:
        """The needs_review warning of a document some of whose fields are under
        `review_below`, naming them, least sure first; nothing otherwise."""
        if self.review_below is None:
            return []
        from pipeline.errors import ErrorCode
        from pipeline.records import WarningRecord

        below = sorted(
            (g for g in groundings if needs_review(g, self.review_below)),
            key=lambda g: g.confidence,
        )
        if not below:
            return []
        named = ", ".join(f"{g.path} ({g.confidence:.2f})" for g in below[:10])
        more = f" and {len(below) - 10} more" if len(below) > 10 else ""
        message = (
            f"{len(below)} field(s) with a grounding confidence under {self.review_below:g}: "
            f"{named}{more}"
        )
        return [WarningRecord(str(ErrorCode.NEEDS_REVIEW), message)]

    def _write_fields(self, row: dict[str, Any], groundings: list[FieldGrounding]) -> None:
        """The fields rows of documents row `row`."""
        for field_row in field_rows(row, groundings, self.review_below):
            self.writer.add("fields", field_row)

    def _count_warnings(self, warnings: list[WarningRecord]) -> None:
        """A document with warnings: once in `with_warnings`, once under each of its codes."""
        self.report.with_warnings += bool(warnings)
        for code in {str(w.code) for w in warnings}:
            self.report.warnings_by_code[code] += 1

    def failed(
        self,
        record: ErrorRecord,
        item_id: str,
        page: int | None = None,
        raw: str = "",
        attempts: int = 0,
        pages: int = 0,
        provenance: Provenance | None = None,
    ) -> None:
        """A failure of item `item_id` that spent `pages` pages of the run's work."""
        row = error_row(provenance or self.provenance, record, item_id, page, raw, attempts)
        self.writer.add("errors", row)
        report = self.report
        report.failed += 1
        report.failed_pages += pages
        report.errors_by_code[str(record.code)] += 1
        self.reporter.item_done(record.path, pages, 0, str(record.code), record.message)

    def skipped(self, count: int = 1, still_failed: int = 0) -> None:
        """`count` items committed before, `still_failed` of them as failures that stand."""
        self.report.skipped += count
        self.report.still_failed += still_failed

    def retried(self, count: int) -> None:
        self.report.retries += count

    def answered(self, result: EngineResult) -> None:
        """Count the tokens of an answer, and the replica that gave it, whatever becomes of it."""
        report = self.report
        report.prompt_tokens += result.prompt_tokens
        report.completion_tokens += result.completion_tokens
        report.cached_tokens += result.cached_tokens
        if result.replica is not None:
            report.answers_by_replica[result.replica] += 1
        if result.served_model is not None:
            report.answers_by_served_model[result.served_model] += 1

    async def close(self) -> None:
        """Write what is buffered; committed to the ledger part by part."""
        await self.writer.close()


def rule_warning_count(warnings: list[WarningRecord]) -> int:
    """How many of a document's warnings are its schema's business rules: their codes read
    `<schema>.<rule>`; docextract's own warnings (`repaired`, `needs_review`) have no dot."""
    return sum("." in warning.code for warning in warnings)


def open_recorder(
    out: Path,
    model: type[BaseModel],
    json_schema: dict[str, Any],
    buffering: tuple[int, float],
    ledger: Ledger,
    report: RunReport,
    reporter: Reporter,
    provenance: Provenance,
    grounding: bool = False,
    review_below: float | None = None,
) -> RunRecorder:
    """A recorder writing the schema's tables into `out`, `buffering` being (rows per part,
    seconds between flushes), and fields rows with `grounding` (marked under `review_below`)."""
    part_rows, flush_s = buffering
    schemas = table_schemas(model, json_schema, provenance)
    parts = PartWriter(out, provenance.schema, schemas, ledger, report.run_id)
    writer = BufferedWriter(parts, part_rows, flush_s)
    return RunRecorder(writer, report, reporter, provenance, grounding, review_below)


def complete_tables(
    out: Path,
    model: type[BaseModel],
    json_schema: dict[str, Any],
    ledger: Ledger,
    provenance: Provenance,
) -> list[dict[str, Any]]:
    """Give each table of the schema that has no part an empty one, committed as any part;
    returns the parts written, for the run's manifest."""
    schemas = table_schemas(model, json_schema, provenance)
    parts = PartWriter(out, provenance.schema, schemas, ledger, provenance.run_id)
    parts.complete_tables()
    return parts.written


def memory_recorder(
    model: type[BaseModel],
    json_schema: dict[str, Any],
    report: RunReport,
    reporter: Reporter,
    provenance: Provenance,
    grounding: bool = False,
    review_below: float | None = None,
) -> tuple[RunRecorder, MemorySink]:
    """A recorder keeping the schema's tables in memory (fields rows with `grounding`, marked
    under `review_below`), and its sink."""
    sink = MemorySink(table_schemas(model, json_schema, provenance))
    return RunRecorder(sink, report, reporter, provenance, grounding, review_below), sink


def table_schemas(
    model: type[BaseModel], json_schema: dict[str, Any], provenance: Provenance
) -> dict[str, pa.Schema]:
    """The Arrow schemas of the tables a run of `model` writes (`tables_of`)."""
    metadata = table_metadata(
        provenance.schema, json_schema, provenance.prompt_hash, provenance.schema_source
    )
    schemas = {
        "documents": documents_schema(arrow_type_for(model), metadata),
        "errors": errors_schema(metadata),
        "fields": fields_schema(metadata),
        "lines": lines_schema(metadata),
    }
    return {name: schemas[name] for name in tables_of(model)}
