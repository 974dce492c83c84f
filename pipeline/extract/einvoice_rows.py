"""What an e-invoice an input carries means for a run of the invoice schema: pure decisions.

- `--einvoice prefer` (the default): the row is the XML's invoice, exactly, and no model is
  asked; `--einvoice verify`: the model reads the pages too, the row is still the XML's, and each
  field where the two differ is an `einvoice.mismatch` warning naming both values;
  `--einvoice model`: the XML is ignored. Other schemas ignore e-invoices.
- A standalone XML invoice has no pages: it is read from its XML unless the run asks the model
  only (or another schema), where it fails as `nothing_to_render`.
- XML that cannot be read (malformed, hostile, no invoice, a required value missing) fails as
  `einvoice_invalid`, naming the file and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal, getcontext
from typing import Any

from pydantic import BaseModel

from pipeline.config import RunConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.extract.settle import Extracted, Failed
from pipeline.inputs.einvoice import EInvoice, InvoiceXmlError, InvoiceXmlProblem
from pipeline.inputs.render_result import MOVED, REPLACED, ReplacedFile
from pipeline.output.arrow import ValueOutOfRange, rounded_decimals
from pipeline.output.arrow_check import checked_arrow_value
from pipeline.records import ErrorRecord, FileKind, SourceFile, WarningRecord

INVOICE_SCHEMA = "invoice"
MISMATCH = "einvoice.mismatch"
UNVERIFIED = "einvoice.unverified"
ROUNDED = "einvoice.rounded"


def reads_einvoices(config: RunConfig, schema: str) -> bool:
    """Whether this run takes rows from e-invoice XML where an input carries one."""
    return schema == INVOICE_SCHEMA and config.einvoice != "model"


def probes(source: SourceFile) -> bool:
    """Whether an input may carry an e-invoice: standalone XML, or a PDF whose bytes do not
    rule out attachments (discovery looked)."""
    if source.kind is FileKind.PDF:
        return source.may_have_attachments
    return source.kind is FileKind.XML


def source_label(einvoice: EInvoice) -> str:
    """The `engine` column of a row read from XML: what was read, e.g. "einvoice CII en16931"
    or "einvoice ZUGFeRD 1.0 comfort"."""
    return f"einvoice {einvoice.syntax} {einvoice.profile_name}"


def within_columns(einvoice: EInvoice) -> EInvoice:
    """`einvoice`, once every value of its invoice fits its table column; else InvoiceXmlError
    (OUT_OF_RANGE), so an amount wider than decimal128(18, 4) costs its document a row."""
    try:
        checked_arrow_value(einvoice.invoice)
    except ValueOutOfRange as exc:
        message = f"an amount is out of range: {exc}"
        raise InvoiceXmlError(InvoiceXmlProblem.OUT_OF_RANGE, message) from None
    return einvoice


def invalid_einvoice(source: SourceFile, problem: InvoiceXmlError | OSError) -> ErrorRecord:
    """The error row of an input whose e-invoice XML cannot be read."""
    if isinstance(problem, InvoiceXmlError):
        what = f"e-invoice XML {problem.problem}: {problem}"
        code = ErrorCode.EINVOICE_INVALID
    elif isinstance(problem, FileNotFoundError):
        what, code = MOVED, ErrorCode.CHANGED
    elif isinstance(problem, ReplacedFile):
        what, code = REPLACED, ErrorCode.CHANGED
    else:
        what = f"cannot read: {problem.strerror or problem}"
        code = ErrorCode.UNREADABLE
    path = str(source.path)
    return ErrorRecord(source.sha256, path, Stage.RENDER, code, f"{path}: {what}")


def nothing_to_render(source: SourceFile, schema: str) -> ErrorRecord:
    """The error row of a standalone XML invoice in a run that would ask the model."""
    why = (
        "--einvoice model asks the model"
        if schema == INVOICE_SCHEMA
        else f"schema {schema} does not read e-invoices"
    )
    path = str(source.path)
    return ErrorRecord(
        source.sha256,
        path,
        Stage.RENDER,
        ErrorCode.NOTHING_TO_RENDER,
        f"{path}: needs a model: nothing to render (an XML invoice has no pages; {why}); "
        "run with --einvoice prefer to read it",
    )


def xml_findings(einvoice: EInvoice) -> list[WarningRecord]:
    """The invoice rules' findings on the XML's own values, and one `einvoice.rounded` per
    amount with more decimals than its column keeps. The XML is what was sent, so a rule it
    breaks is kept as a warning on its row, never an error."""
    found = [WarningRecord(f.code, f.message) for f in einvoice.invoice.check_rules()]
    return found + [
        WarningRecord(ROUNDED, f"{path}: {value} in the XML is stored as {stored}")
        for path, value, stored in rounded_decimals(einvoice.invoice)
        if not _computed(path, value)
    ]


def _computed(path: str, value: Decimal) -> bool:
    """A unit price worked out as price ÷ basis quantity whose quotient does not terminate: it
    fills the whole precision of the decimal context. A stated amount is never one, however
    many digits it has: its rounding is reported."""
    return path.endswith(".unit_price") and len(value.as_tuple().digits) >= getcontext().prec


def verified(
    einvoice: EInvoice, decision: Extracted | Failed, render_warnings: tuple[WarningRecord, ...]
) -> tuple[BaseModel, list[WarningRecord]]:
    """The row of a verified e-invoice: the XML's invoice, with the render warnings, the
    XML's rule findings, and one `einvoice.mismatch` per field the model read otherwise (or one
    `einvoice.unverified` when the model's answer failed)."""
    warnings = list(render_warnings) + xml_findings(einvoice)
    if isinstance(decision, Failed):
        record = decision.record
        message = f"the model's answer could not be compared ({record.code}): {record.message}"
        return einvoice.invoice, [*warnings, WarningRecord(UNVERIFIED, message)]
    return einvoice.invoice, warnings + compare_fields(einvoice.invoice, decision.instance)


def compare_fields(xml: BaseModel, model: BaseModel) -> list[WarningRecord]:
    """One `einvoice.mismatch` warning per leaf field where the model's reading differs from the
    XML's, in field order, naming the field's path and both values."""
    return [
        WarningRecord(MISMATCH, f"{path}: XML {_shown(a)}, model {_shown(b)}")
        for path, a, b in _differences("", xml.model_dump(), model.model_dump())
    ]


def _differences(path: str, a: Any, b: Any) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from _differences(f"{path}.{key}" if path else key, a.get(key), b.get(key))
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            left = a[index] if index < len(a) else None
            right = b[index] if index < len(b) else None
            yield from _differences(f"{path}[{index}]", left, right)
    elif not _same(a, b):
        yield path, a, b


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b  # 60.00 is 60
    return type(a) is type(b) and a == b


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return repr(value)
    return repr(str(value))
