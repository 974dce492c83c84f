"""Invoices read exactly from e-invoice XML (Factur-X, ZUGFeRD, XRechnung, Peppol), no model.

An e-invoice states its values in XML: UN/CEFACT Cross Industry Invoice (CII) in any Factur-X /
ZUGFeRD 2 profile (MINIMUM, BASIC WL, BASIC, EN 16931, EXTENDED) or XRechnung CII, ZUGFeRD 1.0
(BASIC, COMFORT, EXTENDED), or OASIS UBL 2.1 Invoice and CreditNote (Peppol BIS, XRechnung UBL).
Hybrid PDFs carry the XML as an attachment.

- `read_einvoice(xml)` gives an `EInvoice`: the validated `schemas.Invoice`, the syntax, and the
  specification identifier (CII guideline ID, UBL CustomizationID) with its place on the profile
  ladder. XML that is malformed, hostile, not an invoice or lacks a required value raises
  `InvoiceXmlError`, whose `problem` is a stable code.
- `read_embedded_einvoice(pdf)` does the same for the XML attached to a PDF.
- `parse_invoice_xml` and `read_embedded_invoice` give the same values as a plain dict (amounts
  as strings, dates ISO) without validating and without raising: the truth `docextract eval`
  grades extractions by.

Sign convention: amounts are what the XML states. A credit note (CII type code 381 or another
UNTDID 1001 credit-note code, a UBL CreditNote) states positive amounts, and so does its row:
`kind` says the money goes back to the buyer. Negative amounts, such as a returned item's line
or a negative invoice, stay negative. The schema's rules accept both.

Other choices: net_total is the sum of line net amounts; document-level allowances and charges
are allowance_total and charge_total, so net_total + charge_total - allowance_total + tax_total
is grand_total. A unit price is the net price divided by its price basis quantity. Units are
UN/ECE Rec. 20 codes as written (C62, HUR). Syntax details are in `einvoice_cii`,
`einvoice_ferd1` and `einvoice_ubl`; safe parsing in `einvoice_xml`; attachments, read with a
limit that holds while they inflate, in `einvoice_attachments`; a run reads each file in the
process of `einvoice_reader`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.faults import fault_point
from pipeline.grounding.textlayer import PageText, page_text
from pipeline.inputs.einvoice_attachments import (
    MAX_XML_BYTES,
    STANDARD_XML_NAMES,
    is_standard,
    iter_embedded_xml,
    too_large,
)
from pipeline.inputs.einvoice_cii import CII_NAMESPACE, cii_specification, read_cii
from pipeline.inputs.einvoice_ferd1 import (
    FERD1_NAMESPACE,
    FERD1_ROOT,
    ferd1_specification,
    read_ferd1,
)
from pipeline.inputs.einvoice_ubl import UBL_NAMESPACES, read_ubl, ubl_specification
from pipeline.inputs.einvoice_xml import (
    InvoiceXmlError,
    InvoiceXmlProblem,
    local,
    namespace,
    parse_xml,
    unread_values,
)
from pipeline.inputs.render_result import regular_file
from schemas.invoice import Invoice

__all__ = [
    "STANDARD_XML_NAMES",
    "EInvoice",
    "InvoiceXmlError",
    "InvoiceXmlProblem",
    "Profile",
    "Syntax",
    "format_amount",
    "iter_embedded_xml",
    "parse_invoice_xml",
    "read_einvoice",
    "read_embedded_einvoice",
    "read_embedded_invoice",
    "read_file_einvoice",
]


class Syntax(StrEnum):
    """The XML syntax an e-invoice is written in."""

    CII = "CII"
    UBL = "UBL"
    FERD1 = "ZUGFeRD 1.0"  # CII before EN 16931: root CrossIndustryDocument


class Profile(StrEnum):
    """Where a specification identifier sits on the e-invoice profile ladder."""

    MINIMUM = "minimum"
    BASIC_WL = "basic_wl"
    BASIC = "basic"
    EN16931 = "en16931"  # ZUGFeRD's COMFORT (1.0 and 2.0)
    EXTENDED = "extended"
    XRECHNUNG = "xrechnung"
    PEPPOL = "peppol"
    OTHER = "other"  # an identifier none of the above


# Checked in order: the first word found in the lower-cased identifier decides.
_PROFILE_WORDS = (
    ("xrechnung", Profile.XRECHNUNG),
    ("peppol", Profile.PEPPOL),
    ("minimum", Profile.MINIMUM),
    ("basicwl", Profile.BASIC_WL),
    ("basic", Profile.BASIC),
    ("extended", Profile.EXTENDED),
    ("comfort", Profile.EN16931),
)


@dataclass(frozen=True)
class EInvoice:
    """An invoice read from its XML: the validated record, its syntax and its profile."""

    invoice: Invoice
    syntax: Syntax
    specification_id: str | None  # CII guideline ID or UBL CustomizationID, as written
    profile: Profile

    @property
    def profile_name(self) -> str:
        """The profile as the invoice's standard names it: "comfort" for ZUGFeRD 1.0's rung
        EN 16931, else the Profile's value."""
        if self.syntax is Syntax.FERD1 and self.profile is Profile.EN16931:
            return "comfort"
        return str(self.profile)


# Each syntax's readers of the root: its specification identifier, the invoice schema's fields.
_Readers = tuple[Callable[[ET.Element], str | None], Callable[[ET.Element], dict[str, Any]]]
_READERS: dict[Syntax, _Readers] = {
    Syntax.CII: (cii_specification, read_cii),
    Syntax.UBL: (ubl_specification, read_ubl),
    Syntax.FERD1: (ferd1_specification, read_ferd1),
}


def read_einvoice(data: bytes | str) -> EInvoice:
    """Read a CII, ZUGFeRD 1.0 or UBL invoice from XML into a validated `Invoice`, exactly as
    stated.

    Raises InvoiceXmlError (MALFORMED, UNSAFE, NOT_AN_INVOICE, INCOMPLETE or OUT_OF_RANGE)
    naming the problem.
    """
    root = parse_xml(data)
    syntax = _syntax(root)
    spec = _READERS[syntax][0](root)
    try:
        fields = _fields(root, syntax)
    except ArithmeticError as exc:  # decimal.Overflow and kin, from amounts such as 9E999999
        message = f"an amount is out of range ({type(exc).__name__} computing with it)"
        raise InvoiceXmlError(InvoiceXmlProblem.OUT_OF_RANGE, message) from None
    return EInvoice(_validate(fields), syntax, spec, profile_of(spec))


def read_embedded_einvoice(
    pdf_path: str | Path, max_bytes: int = MAX_XML_BYTES
) -> EInvoice | None:
    """Read the e-invoice attached to a PDF; None when it carries no invoice XML.

    An attachment under a standard name (STANDARD_XML_NAMES) that fails raises InvoiceXmlError,
    its message prefixed with the attachment's name; other XML attachments that are not invoices
    are skipped. An XML attachment whose stated size (or stored size) is over `max_bytes` is
    never loaded, and one that inflates past it is refused there: InvoiceXmlError (TOO_LARGE).
    A file that cannot be opened gives None.
    """
    for name, data in iter_embedded_xml(pdf_path, max_bytes):
        try:
            return read_einvoice(data)
        except InvoiceXmlError as exc:
            if is_standard(name):
                raise InvoiceXmlError(exc.problem, f"{name}: {exc}") from None
    return None


def read_file_einvoice(
    path: str | Path, standalone: bool, max_bytes: int = MAX_XML_BYTES, text_layer: bool = False
) -> tuple[EInvoice, int, tuple[PageText, ...]] | None:
    """The e-invoice an input file carries, with the file's page count (0 for standalone XML)
    and, with `text_layer`, its pages' words (to locate the invoice's values on): the file
    itself when `standalone`, else the XML attached to the PDF (None when there is none).
    Raises InvoiceXmlError for XML that cannot be read, OSError for a file that cannot (one
    that is no longer a regular file, as a FIFO put in its place, is never opened to wait on).
    The fault point `einvoice-read` is passed first."""
    fault_point("einvoice-read")
    content = _regular_file_bytes(path, read=standalone, max_bytes=max_bytes)
    if standalone:
        return read_einvoice(content), 0, ()
    found = read_embedded_einvoice(path, max_bytes)
    if found is None:
        return None
    import pymupdf

    try:
        doc = pymupdf.open(str(path))
    except Exception:  # it opened a moment ago; its row depends on neither count nor words
        return found, 0, ()
    with doc:
        return found, doc.page_count, _page_words(doc) if text_layer else ()


def _page_words(doc: Any) -> tuple[PageText, ...]:
    """The words of every page of an open PDF; none where its text layer cannot be read (the
    invoice's row stands, without boxes)."""
    try:
        return tuple(page_text(page, number + 1) for number, page in enumerate(doc))
    except Exception:  # noqa: BLE001 - a damaged text layer costs the boxes only
        return ()


def _regular_file_bytes(path: str | Path, read: bool, max_bytes: int) -> bytes:
    """The file's bytes (b"" unless `read`; InvoiceXmlError TOO_LARGE over `max_bytes`), once
    it is checked to be a regular file; opening never blocks, also when something else (a
    FIFO, a device) took the file's place."""
    with regular_file(path) as (handle, status):
        if not read:
            return b""
        if status.st_size > max_bytes:
            raise too_large("the file", status.st_size, max_bytes)
        return handle.read()


def profile_of(specification_id: str | None) -> Profile:
    """The profile a CII guideline ID or UBL CustomizationID names."""
    spec = (specification_id or "").lower()
    for word, profile in _PROFILE_WORDS:
        if word in spec:
            return profile
    return Profile.EN16931 if spec.startswith("urn:cen.eu:en16931:2017") else Profile.OTHER


def _syntax(root: ET.Element) -> Syntax:
    name, uri = local(root.tag), namespace(root.tag)
    if name == "CrossIndustryInvoice" and uri == CII_NAMESPACE:
        return Syntax.CII
    if UBL_NAMESPACES.get(name) == uri:
        return Syntax.UBL
    if name == FERD1_ROOT and uri == FERD1_NAMESPACE:
        return Syntax.FERD1
    where = f"namespace {uri}" if uri else "no namespace"
    message = (
        f"root element <{name}> in {where}: not a CII CrossIndustryInvoice, "
        "a ZUGFeRD 1.0 CrossIndustryDocument or a UBL Invoice or CreditNote"
    )
    raise InvoiceXmlError(InvoiceXmlProblem.NOT_AN_INVOICE, message)


def _fields(root: ET.Element, syntax: Syntax) -> dict[str, Any]:
    return _READERS[syntax][1](root)


def _validate(fields: dict[str, Any]) -> Invoice:
    """The fields as an Invoice; what is missing or invalid named by its path."""
    if unread := unread_values(fields):
        raise InvoiceXmlError(InvoiceXmlProblem.INCOMPLETE, "; ".join(unread))
    try:
        return Invoice.model_validate(_without_none(fields))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvoiceXmlError(InvoiceXmlProblem.INCOMPLETE, problems) from None


def _without_none(value: Any) -> Any:
    """Dicts without their None entries, so a missing value reads as 'Field required'."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# --- plain dicts for docextract eval ------------------------------------------------------------


def parse_invoice_xml(data: bytes | str) -> dict[str, Any] | None:
    """The invoice schema's fields from CII, ZUGFeRD 1.0 or UBL XML as plain values,
    unvalidated; None for XML that is malformed, hostile or not an invoice. Never raises."""
    try:
        root = parse_xml(data)
        fields = _fields(root, _syntax(root))
        return None if unread_values(fields) else _plain(fields)
    except (InvoiceXmlError, ArithmeticError):  # hostile, not an invoice, or values unread
        return None


def read_embedded_invoice(pdf_path: str | Path) -> dict[str, Any] | None:
    """`parse_invoice_xml` of the first invoice attached to `pdf_path`, or None (also where an
    attachment is too large or cannot be inflated, or the file cannot be read). Never raises."""
    try:
        for _name, data in iter_embedded_xml(pdf_path):
            parsed = parse_invoice_xml(data)
            if parsed is not None:
                return parsed
    except (InvoiceXmlError, OSError):
        return None
    return None


def _plain(value: Any) -> Any:
    """Decimals as amount strings and dates in ISO form, through dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def format_amount(value: Decimal) -> str:
    """60.0000 -> '60.00', 12.3450 -> '12.345', 7 -> '7.00'."""
    try:
        cents = value.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than the context holds
        return str(value)
    return str(cents) if cents == value else str(value.normalize())
