"""Whether a file's first bytes open an e-invoice: a CII CrossIndustryInvoice, a ZUGFeRD 1.0
CrossIndustryDocument, or a UBL Invoice or CreditNote, each in its own namespace.

Cheap: no XML parser runs. Reading the file is `pipeline.inputs.einvoice`'s business, which
refuses what is hostile or broken.
"""

from __future__ import annotations

import re

WHAT_IS_READ = "a CII or UBL invoice"
"""The XML documents `is_invoice_xml` accepts, as a message names them."""

_XML_ROOT = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*"  # a UTF-8 byte order mark, then the prolog:
    rb"(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*"
    rb"<(?:([A-Za-z_][\w.-]*):)?"
    rb"(CrossIndustryInvoice|CrossIndustryDocument|Invoice|CreditNote)(?=[\s/>])([^>]*)",
    re.S,
)
_INVOICE_ROOTS = {
    b"CrossIndustryInvoice": b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    b"CrossIndustryDocument": b"urn:ferd:CrossIndustryDocument:invoice:1p0",
    b"Invoice": b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    b"CreditNote": b"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}


def is_invoice_xml(head: bytes) -> bool:
    """Whether `head` (a file's first 4 KiB; later bytes when comments come first) opens an
    e-invoice: the root element's name and the namespace it is declared in."""
    found = _XML_ROOT.match(as_utf8(head))
    if found is None:
        return False
    prefix, name, attributes = found.groups()
    declared = b"xmlns:" + prefix if prefix else b"xmlns"
    uri = re.search(rb"\s" + re.escape(declared) + rb"\s*=\s*([\"'])(.*?)\1", attributes)
    return uri is not None and uri.group(2).strip() == _INVOICE_ROOTS[name]


def as_utf8(head: bytes) -> bytes:
    """`head` as UTF-8 when it is UTF-16 (a byte order mark, or `<` and `?` as 16-bit units);
    XML may be in either, and the root element is matched in UTF-8."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(codec, errors="ignore").encode()
    if head.startswith(b"<\x00?\x00"):
        return head.decode("utf-16-le", errors="ignore").encode()
    if head.startswith(b"\x00<\x00?"):
        return head.decode("utf-16-be", errors="ignore").encode()
    return head
