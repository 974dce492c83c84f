"""The XML reader: the rows a run of the invoice schema reads from the e-invoices its inputs
carry, with no model (`einvoice_rows` says what each outcome means).

- Planning (`XmlReader`): the plan asks it whether it takes an input (`takes`) and has it read
  the input's XML in its reader process (`read`); an input it does not take but cannot send to
  the model either (a standalone XML invoice has no pages) gets its `refusal`.
- Recording (`record_rows`, `record_verified`): the extraction writes the rows read from XML
  first and, under --einvoice verify, the XML's row of a document the model read too, each field
  the two read otherwise a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.errors import ErrorCode
from pipeline.extract.einvoice_rows import (
    invalid_einvoice,
    nothing_to_render,
    probes,
    reads_einvoices,
    source_label,
    verified,
    within_columns,
    xml_findings,
)
from pipeline.extract.settle import Extracted, Failed
from pipeline.grounding.textlayer import PageText
from pipeline.inputs.einvoice import EInvoice, InvoiceXmlError
from pipeline.inputs.einvoice_reader import EInvoiceReader
from pipeline.items import WorkItem
from pipeline.output.recorder import RunRecorder
from pipeline.records import ErrorRecord, FileKind, SourceFile


@dataclass(frozen=True, slots=True)
class XmlRow:
    """A document whose row is read from the e-invoice it carries: no pages, no model."""

    source: SourceFile
    einvoice: EInvoice
    page_count: int
    pages: tuple[PageText, ...] = ()  # their words, with grounding: where the values are


class XmlReader:
    """A run's reader of e-invoice XML, one reading process for the whole plan; use as a
    context manager."""

    def __init__(self, config: RunConfig, schema: str) -> None:
        self.config = config
        self.schema = schema
        self.active = reads_einvoices(config, schema)
        self._process = EInvoiceReader(config.einvoice_max_bytes, config.render.timeout_s)

    def __enter__(self) -> XmlReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.close()

    @staticmethod
    def may_carry(source: SourceFile) -> bool:
        """Whether `source` may carry an e-invoice (`einvoice_rows.probes`), in any run."""
        return probes(source)

    def takes(self, source: SourceFile) -> bool:
        """Whether this run reads `source`'s row from an e-invoice it may carry."""
        return self.active and probes(source)

    def refusal(self, source: SourceFile) -> ErrorRecord | None:
        """The error row of an input this reader does not take and the model cannot read: a
        standalone XML invoice in a run that asks the model (or of another schema)."""
        return nothing_to_render(source, self.schema) if source.kind is FileKind.XML else None

    def verifies(self, source: SourceFile) -> bool:
        """Whether the model reads `source` too, its answer compared with the XML's row."""
        return self.config.einvoice == "verify" and source.kind is FileKind.PDF

    def read(self, source: SourceFile) -> XmlRow | ErrorRecord | None:
        """The e-invoice `source` carries, read in the reader's process; None when it carries
        none (a PDF without invoice XML goes to the model as any other). A read that fails in
        any way, the reading process's death included, is the document's error row."""
        standalone = source.kind is FileKind.XML
        text_layer = self.config.render.text_layer
        try:
            found = self._process.read(source.path, standalone, text_layer=text_layer)
            if found is None:
                return None
            einvoice, page_count, pages = within_columns(found[0]), found[1], found[2]
        except (InvoiceXmlError, OSError) as problem:
            return invalid_einvoice(source, problem)
        return XmlRow(source, einvoice, page_count, pages)


def record_rows(
    rows: Sequence[XmlRow], errors: Sequence[ErrorRecord], recorder: RunRecorder
) -> None:
    """Write the rows read from XML, and the failures to read it."""
    provenance = recorder.provenance
    for record in errors:
        # A file that changed before its XML was read says nothing of its XML: its row goes
        # with the run's own rows, so the next run's row of what is there then retires it.
        changed = record.code is ErrorCode.CHANGED
        unread = None if changed else provenance.read_from_xml("einvoice")
        recorder.failed(record, record.doc_id, provenance=unread)
    for row in rows:
        recorder.from_xml(
            row.source,
            row.page_count,
            row.einvoice.invoice,
            xml_findings(row.einvoice),
            provenance.read_from_xml(source_label(row.einvoice)),
            pages=row.pages,
        )


def record_verified(
    item: WorkItem,
    einvoice: EInvoice,
    decision: Extracted | Failed,
    recorder: RunRecorder,
    engine: Engine | None,
) -> None:
    """The XML's row of an e-invoice the model read too (`einvoice_rows.verified`)."""
    instance, warnings = verified(einvoice, decision, item.render_warnings)
    by = f"{engine.name} {engine.model}" if engine is not None else "?"
    provenance = recorder.provenance.read_from_xml(f"{source_label(einvoice)}, verified by {by}")
    if isinstance(decision, Extracted):
        recorder.extracted(item, decision.result, instance, warnings, provenance)
    else:
        recorder.from_xml(
            item.source, item.page_count, instance, warnings, provenance, decision.raw
        )
