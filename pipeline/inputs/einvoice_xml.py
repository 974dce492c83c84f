"""E-invoice XML from untrusted files, parsed safely, and the element functions the CII and UBL
readers share.

`parse_xml` uses defusedxml: a document that declares entities (the external entities of a file
read or a request, and the nested ones of an expansion bomb) or refers to an external resource is
refused before anything is expanded or fetched. E-invoices never need either. Elements are matched
by local name, so the readers do not depend on namespace prefixes or the CII D16B/D22B versions.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

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


_XML_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_XML_DATE = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_FORMAT_102 = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_CURRENCY = re.compile(r"[A-Z]{3}")
_NO_DATE = re.compile(r"(?!)")  # the date formats other than 102 name no calendar day


@dataclass(frozen=True, slots=True)
class NotXmlValue:
    """Text where the XML must hold a number, a date or a code, kept to be reported under the
    field it was read for (`unread_values`): it is never read as a printed value would be."""

    element: str
    raw: str
    wanted: str

    def __str__(self) -> str:
        return f"{self.element} is {self.raw!r}, not {self.wanted}"


def amount(el: ET.Element | None, path: str | None = None) -> Decimal | NotXmlValue | None:
    """The number at `path` (or of `el`) as an exact Decimal, None where there is none.

    XML writes a number as xs:decimal (a sign, ASCII digits, a point); an exponent is read too.
    Any other text (`1,500`, `1 000`, `(100.00)`, `100.00-`, other digits) is a NotXmlValue:
    it is not a number the XML states, and reading it as a printed amount would guess (is
    `1,500` fifteen hundred or one and a half?).
    """
    node = find(el, path) if path else el
    raw = text(node)
    if raw is None:
        return None
    try:
        value = Decimal(raw) if _XML_NUMBER.fullmatch(raw) else None
    except (InvalidOperation, ValueError, OverflowError):  # an exponent no Decimal can hold
        value = None
    if value is None or not value.is_finite():
        return NotXmlValue(_named(node), raw, "a number as XML writes one (digits and a point)")
    return value


def calendar_date(node: ET.Element | None, fmt: str | None = None) -> date | NotXmlValue | None:
    """The date of `node`: CII's format 102 (YYYYMMDD), or without a format xs:date
    (YYYY-MM-DD, a zone after it is left out); None where there is none. Any other text, or a
    day the calendar does not have, is a NotXmlValue."""
    raw = text(node)
    if raw is None:
        return None
    found = {None: _XML_DATE, "102": _FORMAT_102}.get(fmt, _NO_DATE).fullmatch(raw)
    try:
        if found is not None:
            return date(*(int(part) for part in found.groups()))
    except ValueError:
        pass
    wanted = "a date in YYYY-MM-DD" if fmt is None else "a date in format 102 (YYYYMMDD)"
    return NotXmlValue(_named(node), raw if fmt in (None, "102") else f"{raw} (format {fmt})",
                       wanted)  # fmt: skip


def currency_code(node: ET.Element | None) -> str | NotXmlValue | None:
    """The ISO 4217 code of `node` (three capital letters), None where there is none; any
    other text (`$`, `Euro`) is a NotXmlValue."""
    raw = text(node)
    if raw is None or _CURRENCY.fullmatch(raw):
        return raw
    return NotXmlValue(_named(node), raw, "an ISO 4217 currency code")


def unread_values(value: Any, path: str = "") -> list[str]:
    """`path: why` of each NotXmlValue in the fields read from XML (dicts and lists)."""
    if isinstance(value, NotXmlValue):
        return [f"{path}: {value}"]
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in unread_values(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in unread_values(v, f"{path}.{i}")]
    return []


def identifier(node: ET.Element | None) -> str | None:
    """The text of `node` as it is, only trimmed at its ends: an identifier (the invoice
    number) is matched character for character, inner spaces included."""
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def _named(node: ET.Element | None) -> str:
    return local(node.tag) if node is not None else "a value"


def invoice_kind(type_code: str | None) -> str:
    """'credit_note' for the credit-note document type codes, 'invoice' for every other."""
    return "credit_note" if type_code in CREDIT_NOTE_CODES else "invoice"


def unit_price(
    price: Decimal | NotXmlValue | None, basis: Decimal | NotXmlValue | None
) -> Decimal | NotXmlValue | None:
    """The price of one unit, where the document prices a basis quantity (per 100 pieces)."""
    if isinstance(basis, NotXmlValue):
        return basis
    if isinstance(price, Decimal) and isinstance(basis, Decimal) and basis not in (0, 1):
        return price / basis
    return price
