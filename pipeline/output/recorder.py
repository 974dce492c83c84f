"""Where settled work goes: its row to the writer, its counts to the report, a line to the
reporter. The one place a run's counters change after planning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.output.arrow import arrow_type_for
from pipeline.output.ledger import Ledger
from pipeline.output.progress import Reporter
from pipeline.output.report import RunReport
from pipeline.output.sink import (
    BufferedWriter,
    PartWriter,
    documents_schema,
    errors_schema,
    table_metadata,
)
from pipeline.output.tables import Provenance, document_row, error_row, xml_document_row

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

    from pipeline.engines.base import EngineResult
    from pipeline.items import WorkItem
    from pipeline.records import ErrorRecord, SourceFile, WarningRecord


class RunRecorder:
    """Rows, counts and progress lines of one run's settled items."""

    def __init__(
        self,
        writer: BufferedWriter,
        report: RunReport,
        reporter: Reporter,
        provenance: Provenance,
    ) -> None:
        self.writer = writer
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
    ) -> None:
        row = document_row(provenance or self.provenance, item, result, instance, warnings)
        self.writer.add("documents", row)
        report = self.report
        report.extracted += 1
        report.with_warnings += bool(warnings)
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
    ) -> None:
        """A document whose row is its e-invoice's XML (`provenance` says which)."""
        row = xml_document_row(provenance, source, page_count, instance, warnings, raw)
        self.writer.add("documents", row)
        report = self.report
        report.extracted += 1
        report.from_xml += 1
        report.with_warnings += bool(warnings)
        self.reporter.item_done(str(source.path), 0, 0, None, "")

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

    def skipped(self, count: int = 1) -> None:
        self.report.skipped += count

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

    async def close(self) -> None:
        """Write what is buffered; committed to the ledger part by part."""
        await self.writer.close()


def open_recorder(
    out: Path,
    model: type[BaseModel],
    json_schema: dict[str, Any],
    buffering: tuple[int, float],
    ledger: Ledger,
    report: RunReport,
    reporter: Reporter,
    provenance: Provenance,
) -> RunRecorder:
    """A recorder writing the schema's documents and errors tables into `out`, `buffering`
    being (rows per part, seconds between flushes)."""
    metadata = table_metadata(provenance.schema, json_schema, provenance.prompt_hash)
    schemas = {
        "documents": documents_schema(arrow_type_for(model), metadata),
        "errors": errors_schema(metadata),
    }
    part_rows, flush_s = buffering
    parts = PartWriter(out, provenance.schema, schemas, ledger, report.run_id)
    return RunRecorder(BufferedWriter(parts, part_rows, flush_s), report, reporter, provenance)
