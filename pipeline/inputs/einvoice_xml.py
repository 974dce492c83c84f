"""E-invoice XML from untrusted files, parsed safely, and the element functions the CII and UBL
readers share.

`parse_xml` uses defusedxml: a document that declares entities (the external entities of a file
read or a request, and the nested ones of an expansion bomb) or refers to an external resource is
refused before anything is expanded or fetched. E-invoices never need either. Elements are matched
by local name, so the readers do not depend on namespace prefixes or the CII D16B/D22B versions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden

# UNTDID 1001 document types that credit the buyer (EN 16931 code list): 381 credit note, 81 and
# 83 credit notes for goods/services and financial adjustments, 261/262 self-billed/consolidated,
# 296, 308, 396, 420, 458, 532 factored, forwarder's and other credit notes.
CREDIT_NOTE_CODES = frozenset(
    {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}
)


class InvoiceXmlProblem(StrEnum):
    """Why XML could not be read as an invoice; stable codes for error rows."""

    MALFORMED = "malformed_xml"  # not well-formed XML
    UNSAFE = "unsafe_xml"  # declares entities or refers to external resources
    NOT_AN_INVOICE = "not_an_invoice"  # well-formed, but no CII or UBL invoice
    INCOMPLETE = "incomplete_invoice"  # an invoice whose required values are missing or invalid
    OUT_OF_RANGE = "amount_out_of_range"  # an amount no arithmetic or table column can hold
    TOO_LARGE = "xml_too_large"  # more bytes than an invoice needs (einvoice_max_bytes)
    READ_FAILED = "read_failed"  # the reading crashed, ran out of memory or time


class InvoiceXmlError(ValueError):
    """XML that cannot be read as a CII or UBL invoice; `problem` says how it fails."""

    def __init__(self, problem: InvoiceXmlProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def parse_xml(data: bytes | str) -> ET.Element:
    """The root element of `data`, parsed without expanding entities or fetching anything.

    Raises InvoiceXmlError: UNSAFE for entity declarations and external references, MALFORMED for
    XML that is not well-formed.
    """
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden as exc:
        raise InvoiceXmlError(InvoiceXmlProblem.UNSAFE, _entity_message(exc)) from None
    except ExternalReferenceForbidden as exc:
        message = f"refers to the external resource {exc.sysid or exc.pubid!r}; refused unread"
        raise InvoiceXmlError(InvoiceXmlProblem.UNSAFE, message) from None
    except DefusedXmlException as exc:
        raise InvoiceXmlError(InvoiceXmlProblem.UNSAFE, f"refused: {exc}") from None
    except ET.ParseError as exc:
        raise InvoiceXmlError(InvoiceXmlProblem.MALFORMED, f"not well-formed XML: {exc}") from None


def _entity_message(exc: EntitiesForbidden) -> str:
    if exc.sysid or exc.pubid:
        where = exc.sysid or exc.pubid
        return f"declares the external entity {exc.name!r} ({where}); refused, nothing was read"
    return (
        f"declares the entity {exc.name!r}; refused, since nested entities are an expansion "
        "bomb and invoices need none"
    )


# --- elements -----------------------------------------------------------------------------------


def local(tag: str) -> str:
    """The local name of a tag: '{urn:...}Invoice' -> 'Invoice'."""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    """The namespace of a tag, '' when it has none."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def findall(el: ET.Element | None, path: str) -> list[ET.Element]:
    """Every element at `path` ("A/B/C", local names) below `el`, through all branches."""
    found = [] if el is None else [el]
    for step in path.split("/"):
        found = [child for parent in found for child in parent if local(child.tag) == step]
    return found


def find(el: ET.Element | None, path: str) -> ET.Element | None:
    """The first element at `path` below `el`, or None."""
    found = findall(el, path)
    return found[0] if found else None


def text(el: ET.Element | None, path: str | None = None) -> str | None:
    """The text at `path` (or of `el`) with whitespace runs collapsed; None when empty."""
    node = find(el, path) if path else el
    if node is None or node.text is None:
        return None
    return " ".join(node.text.split()) or None


def first(values: Iterable[str | None]) -> str | None:
    """The first value that is not None or empty."""
    return next((v for v in values if v), None)


def joined(values: Iterable[str | None], separator: str = " ") -> str | None:
    """The non-empty values joined, or None when there are none."""
    return separator.join(v for v in values if v) or None


def amount(el: ET.Element | None, path: str | None = None) -> Decimal | str | None:
    """The number at `path` as an exact Decimal; text that is no finite number is returned as it
    is, for the schema to reject with its own message."""
    raw = text(el, path)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return raw
    return value if value.is_finite() else raw


def calendar_date(raw: str | None, fmt: str | None = None) -> date | str | None:
    """A date from CII format 102 (YYYYMMDD) or ISO text; anything else is returned as it is."""
    if raw is None:
        return None
    digits = raw.replace("-", "") if fmt is None else raw
    try:
        if len(digits) == 8 and digits.isdigit() and fmt in (None, "102"):
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return raw
    return raw


def invoice_kind(type_code: str | None) -> str:
    """'credit_note' for the credit-note document type codes, 'invoice' for every other."""
    return "credit_note" if type_code in CREDIT_NOTE_CODES else "invoice"


def unit_price(price: Decimal | str | None, basis: Decimal | str | None) -> Decimal | str | None:
    """The price of one unit, where the document prices a basis quantity (per 100 pieces)."""
    if isinstance(price, Decimal) and isinstance(basis, Decimal) and basis not in (0, 1):
        return price / basis
    return price
