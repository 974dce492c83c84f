"""Read the structured invoice embedded in a PDF (Factur-X, ZUGFeRD, XRechnung).

Hybrid e-invoices carry their own ground truth: an XML file attached to the PDF, either in
UN/CEFACT Cross Industry Invoice (CII) syntax or in OASIS UBL. `read_embedded_invoice` finds that
XML and maps it onto the field names of the `invoice` schema, with amounts as strings ("1234.56")
and dates in ISO form, so it can serve as truth for `docextract eval --truth embedded`.

Mapping choices worth knowing:
- `net_total` is the sum of line net amounts (CII `LineTotalAmount`, UBL `LineExtensionAmount`);
  document-level allowances and charges are not modelled by the schema.
- `kind` is `credit_note` for type code 381 (and a UBL `CreditNote` root), `invoice` otherwise.
- The IBAN is the payee account and belongs to the seller.
Parsing is namespace-agnostic (elements are matched by local name), so CII D16B/D22B and the
ZUGFeRD 1.x namespaces are read alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

# Names under which the standards attach their XML; any other *.xml attachment is tried as well.
KNOWN_XML_NAMES = (
    "factur-x.xml",
    "zugferd-invoice.xml",
    "ZUGFeRD-invoice.xml",
    "xrechnung.xml",
    "order-x.xml",
)
CREDIT_NOTE_CODES = {"381"}


def read_embedded_invoice(pdf_path: str | Path) -> dict[str, Any] | None:
    """Return the invoice embedded in `pdf_path` as a dict of schema fields, or None.

    None means: the file cannot be opened, carries no XML attachment, or no attachment is a CII
    or UBL invoice. Never raises for bad input.
    """
    for _name, data in iter_embedded_xml(pdf_path):
        parsed = parse_invoice_xml(data)
        if parsed is not None:
            return parsed
    return None


def iter_embedded_xml(pdf_path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield `(name, bytes)` of every XML attachment, well-known Factur-X/ZUGFeRD names first.

    Looks at document-level embedded files and at page-level file-attachment annotations.
    """
    import pymupdf

    try:
        doc = pymupdf.open(str(pdf_path))
    except Exception:
        return
    try:
        found: list[tuple[str, bytes]] = []
        try:
            for name in doc.embfile_names():
                info = doc.embfile_info(name)
                filename = str(info.get("filename") or name)
                if filename.lower().endswith(".xml") or name.lower().endswith(".xml"):
                    found.append((filename, doc.embfile_get(name)))
        except Exception:
            pass
        try:
            attachment = getattr(pymupdf, "PDF_ANNOT_FILE_ATTACHMENT", 17)
            for page in doc.pages():
                for annot in page.annots(types=[attachment]):
                    filename = str(annot.file_info.get("filename", ""))
                    if filename.lower().endswith(".xml"):
                        found.append((filename, annot.get_file()))
        except Exception:
            pass
    finally:
        doc.close()
    known = {n.lower(): i for i, n in enumerate(KNOWN_XML_NAMES)}
    found.sort(key=lambda item: known.get(item[0].lower(), len(known)))
    yield from found


def parse_invoice_xml(data: bytes | str) -> dict[str, Any] | None:
    """Map a CII or UBL invoice document onto the invoice schema fields; None if it is neither."""
    try:
        root = ET.fromstring(data.encode() if isinstance(data, str) else data)
    except ET.ParseError:
        return None
    tag = _local(root.tag)
    if tag == "CrossIndustryInvoice" or tag == "CrossIndustryDocument":
        return _parse_cii(root)
    if tag in ("Invoice", "CreditNote"):
        return _parse_ubl(root)
    return None


# --- element helpers ----------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element | None, name: str) -> list[ET.Element]:
    if el is None:
        return []
    return [c for c in el if _local(c.tag) == name]


def _find(el: ET.Element | None, path: str) -> ET.Element | None:
    for step in path.split("/"):
        found = _children(el, step)
        if not found:
            return None
        el = found[0]
    return el


def _findall(el: ET.Element | None, path: str) -> list[ET.Element]:
    *head, last = path.split("/")
    parent = _find(el, "/".join(head)) if head else el
    return _children(parent, last)


def _text(el: ET.Element | None, path: str | None = None) -> str | None:
    node = _find(el, path) if path else el
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text or None


def format_amount(text: str | None) -> str | None:
    """'60.0000' -> '60.00', '12.3450' -> '12.345', '7' -> '7.00'; None for non-numbers."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if value == value.quantize(Decimal("0.01")):
        return str(value.quantize(Decimal("0.01")))
    return str(value.normalize())


def _date(text: str | None, fmt: str | None = "102") -> str | None:
    if not text:
        return None
    digits = text.strip()
    if fmt in (None, "102") and len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) >= 10 and digits[4] == "-" and digits[7] == "-":
        return digits[:10]
    return None


def _cii_date(el: ET.Element | None) -> str | None:
    node = _find(el, "DateTimeString") if el is not None else None
    if node is None:
        node = _find(el, "DateString") if el is not None else None
    if node is None:
        return None
    return _date(node.text, node.get("format"))


# --- CII ----------------------------------------------------------------------------------------


def _cii_party(party: ET.Element | None) -> dict[str, Any] | None:
    if party is None:
        return None
    addr = _find(party, "PostalTradeAddress")
    parts = [_text(addr, n) for n in ("LineOne", "LineTwo", "LineThree")]
    city = " ".join(p for p in (_text(addr, "PostcodeCode"), _text(addr, "CityName")) if p)
    parts += [city, _text(addr, "CountryID")]
    vat_id = tax_id = None
    for reg in _findall(party, "SpecifiedTaxRegistration/ID"):
        scheme = (reg.get("schemeID") or "").upper()
        if scheme == "VA" and vat_id is None:
            vat_id = _text(reg)
        elif scheme == "FC" and tax_id is None:
            tax_id = _text(reg)
    return _party_fields(_text(party, "Name"), parts, vat_id, tax_id)


def _party_fields(
    name: str | None, address_parts: list[str | None], vat_id: str | None, tax_id: str | None
) -> dict[str, Any]:
    """A party in the invoice schema's field names (the IBAN is read with the payment means)."""
    return {
        "name": name or "",
        "address": ", ".join(p for p in address_parts if p) or None,
        "vat_id": vat_id,
        "tax_id": tax_id,
        "iban": None,
    }


def _cii_line(item: ET.Element) -> dict[str, Any]:
    qty = _find(item, "SpecifiedLineTradeDelivery/BilledQuantity")
    settlement = _find(item, "SpecifiedLineTradeSettlement")
    price = _find(item, "SpecifiedLineTradeAgreement/NetPriceProductTradePrice/ChargeAmount")
    total = _find(settlement, "SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount")
    rate = _find(settlement, "ApplicableTradeTax/RateApplicablePercent")
    if rate is None:
        rate = _find(settlement, "ApplicableTradeTax/ApplicablePercent")
    return {
        "description": _text(item, "SpecifiedTradeProduct/Name") or "",
        "quantity": format_amount(_text(qty)),
        "unit": qty.get("unitCode") if qty is not None else None,
        "unit_price": format_amount(_text(price)),
        "line_total": format_amount(_text(total)),
        "tax_rate": format_amount(_text(rate)),
    }


def _parse_cii(root: ET.Element) -> dict[str, Any]:
    doc = _find(root, "ExchangedDocument") or _find(root, "HeaderExchangedDocument")
    trade = _find(root, "SupplyChainTradeTransaction")
    agreement = _find(trade, "ApplicableHeaderTradeAgreement")
    settlement = _find(trade, "ApplicableHeaderTradeSettlement")
    summary = _find(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    currency = _text(settlement, "InvoiceCurrencyCode")

    seller = _cii_party(_find(agreement, "SellerTradeParty"))
    if seller is not None:
        for means in _findall(settlement, "SpecifiedTradeSettlementPaymentMeans"):
            iban = _text(means, "PayeePartyCreditorFinancialAccount/IBANID")
            if iban:
                seller["iban"] = iban.replace(" ", "")
                break

    terms = _findall(settlement, "SpecifiedTradePaymentTerms")
    due_date = None
    descriptions = []
    for term in terms:
        due_date = due_date or _cii_date(_find(term, "DueDateDateTime"))
        if text := _text(term, "Description"):
            descriptions.append(text)

    tax_total = None
    for node in _findall(summary, "TaxTotalAmount"):
        node_currency = node.get("currencyID")
        if node_currency in (None, currency) and tax_total is None:
            tax_total = format_amount(_text(node))

    type_code = _text(doc, "TypeCode") or "380"
    items = _findall(trade, "IncludedSupplyChainTradeLineItem")
    return {
        "invoice_number": _text(doc, "ID") or "",
        "kind": "credit_note" if type_code in CREDIT_NOTE_CODES else "invoice",
        "issue_date": _cii_date(_find(doc, "IssueDateTime")),
        "due_date": due_date,
        "seller": seller,
        "buyer": _cii_party(_find(agreement, "BuyerTradeParty")),
        "currency": currency,
        "line_items": [_cii_line(item) for item in items],
        "net_total": format_amount(_text(summary, "LineTotalAmount")),
        "tax_total": tax_total,
        "grand_total": format_amount(_text(summary, "GrandTotalAmount")),
        "amount_due": format_amount(_text(summary, "DuePayableAmount")),
        "payment_terms": " ".join(descriptions) or None,
    }


# --- UBL ----------------------------------------------------------------------------------------


def _ubl_party(holder: ET.Element | None) -> dict[str, Any] | None:
    party = _find(holder, "Party")
    if party is None:
        return None
    name = _text(party, "PartyName/Name") or _text(party, "PartyLegalEntity/RegistrationName")
    addr = _find(party, "PostalAddress")
    parts = [_text(addr, "StreetName"), _text(addr, "AdditionalStreetName")]
    parts += [_text(line, "Line") for line in _findall(addr, "AddressLine")]
    city = " ".join(p for p in (_text(addr, "PostalZone"), _text(addr, "CityName")) if p)
    parts += [city, _text(addr, "Country/IdentificationCode")]
    vat_id = tax_id = None
    for scheme in _findall(party, "PartyTaxScheme"):
        kind = (_text(scheme, "TaxScheme/ID") or "").upper()
        company = _text(scheme, "CompanyID")
        if kind == "VAT" and vat_id is None:
            vat_id = company
        elif kind != "VAT" and tax_id is None:
            tax_id = company
    return _party_fields(name, parts, vat_id, tax_id)


def _ubl_line(line: ET.Element) -> dict[str, Any]:
    qty = _find(line, "InvoicedQuantity")
    if qty is None:
        qty = _find(line, "CreditedQuantity")
    return {
        "description": _text(line, "Item/Name") or _text(line, "Item/Description") or "",
        "quantity": format_amount(_text(qty)),
        "unit": qty.get("unitCode") if qty is not None else None,
        "unit_price": format_amount(_text(line, "Price/PriceAmount")),
        "line_total": format_amount(_text(line, "LineExtensionAmount")),
        "tax_rate": format_amount(_text(line, "Item/ClassifiedTaxCategory/Percent")),
    }


def _parse_ubl(root: ET.Element) -> dict[str, Any]:
    credit = _local(root.tag) == "CreditNote"
    type_code = _text(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode") or ""
    currency = _text(root, "DocumentCurrencyCode")
    seller = _ubl_party(_find(root, "AccountingSupplierParty"))
    means = _findall(root, "PaymentMeans")
    if seller is not None:
        for mean in means:
            if iban := _text(mean, "PayeeFinancialAccount/ID"):
                seller["iban"] = iban.replace(" ", "")
                break
    due = _text(root, "DueDate") or next(
        (d for m in means if (d := _text(m, "PaymentDueDate"))), None
    )
    tax_total = None
    for total in _findall(root, "TaxTotal"):
        amount = _find(total, "TaxAmount")
        if amount is not None and amount.get("currencyID") in (None, currency):
            tax_total = format_amount(_text(amount))
            break
    money = _find(root, "LegalMonetaryTotal")
    lines = _findall(root, "CreditNoteLine" if credit else "InvoiceLine")
    terms = [t for p in _findall(root, "PaymentTerms") if (t := _text(p, "Note"))]
    return {
        "invoice_number": _text(root, "ID") or "",
        "kind": "credit_note" if credit or type_code in CREDIT_NOTE_CODES else "invoice",
        "issue_date": _date(_text(root, "IssueDate"), None),
        "due_date": _date(due, None),
        "seller": seller,
        "buyer": _ubl_party(_find(root, "AccountingCustomerParty")),
        "currency": currency,
        "line_items": [_ubl_line(line) for line in lines],
        "net_total": format_amount(_text(money, "LineExtensionAmount")),
        "tax_total": tax_total,
        "grand_total": format_amount(_text(money, "TaxInclusiveAmount")),
        "amount_due": format_amount(_text(money, "PayableAmount")),
        "payment_terms": " ".join(terms) or None,
    }
