"""UN/CEFACT Cross Industry Invoice (Factur-X, ZUGFeRD 2, XRechnung CII) to invoice schema fields.

One reader serves the whole profile ladder: MINIMUM and BASIC WL carry no lines and give none;
BASIC, EN 16931, EXTENDED and XRechnung differ in what they may add, not in where shared values
sit. Where a value is optional in the lower profiles:
- net_total is the sum of line net amounts (LineTotalAmount), else the tax basis (MINIMUM);
  allowance_total and charge_total are the document-level AllowanceTotalAmount and
  ChargeTotalAmount (left out beside a tax-basis net_total, which includes them);
- tax_total is TaxTotalAmount in the invoice currency (a second TaxTotalAmount in the tax
  currency is skipped), else GrandTotalAmount minus TaxBasisTotalAmount (EN 16931 BR-CO-15).
In EXTENDED, sub-lines (with a ParentLineID) are part of their group line's amount and
INFORMATION lines bill nothing, nor do text lines (a note, no product, no amount): only the
top-level billed lines become line items.

ZUGFeRD 1.0 (`einvoice_ferd1`) is the same model under older element names: `CiiLayout` says where
each generation puts what is read, and the one reader follows it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipeline.inputs.einvoice_xml import (
    NotXmlValue,
    amount,
    calendar_date,
    currency_code,
    find,
    findall,
    first,
    identifier,
    invoice_kind,
    joined,
    text,
    unit_price,
)

CII_NAMESPACE = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


@dataclass(frozen=True)
class CiiLayout:
    """The local names a CII generation gives the elements the reader goes through."""

    context: str  # below the root: holds GuidelineSpecifiedDocumentContextParameter/ID
    document: str  # below the root: ID, TypeCode, IssueDateTime
    trade: str  # below the root: the header agreement and settlement, the lines
    agreement: str  # below trade: SellerTradeParty, BuyerTradeParty
    settlement: str  # below trade: currency, payment means and terms, the sums
    sums: str  # below settlement: LineTotalAmount ... DuePayableAmount
    line_agreement: str  # below a line: NetPriceProductTradePrice
    line_delivery: str  # below a line: BilledQuantity
    line_settlement: str  # below a line: ApplicableTradeTax and the line's sums
    line_sums: str  # below line_settlement: LineTotalAmount
    rate: str  # below ApplicableTradeTax: the rate in percent


# The names of each generation side by side: CII D16B and later (Factur-X, ZUGFeRD 2,
# XRechnung), then ZUGFeRD 1.0 (CII D13B-based, root CrossIndustryDocument).
_NAMES = (
    ("context", "ExchangedDocumentContext", "SpecifiedExchangedDocumentContext"),
    ("document", "ExchangedDocument", "HeaderExchangedDocument"),
    ("trade", "SupplyChainTradeTransaction", "SpecifiedSupplyChainTradeTransaction"),
    ("agreement", "ApplicableHeaderTradeAgreement", "ApplicableSupplyChainTradeAgreement"),
    ("settlement", "ApplicableHeaderTradeSettlement", "ApplicableSupplyChainTradeSettlement"),
    ("sums", "SpecifiedTradeSettlementHeaderMonetarySummation",
     "SpecifiedTradeSettlementMonetarySummation"),
    ("line_agreement", "SpecifiedLineTradeAgreement", "SpecifiedSupplyChainTradeAgreement"),
    ("line_delivery", "SpecifiedLineTradeDelivery", "SpecifiedSupplyChainTradeDelivery"),
    ("line_settlement", "SpecifiedLineTradeSettlement", "SpecifiedSupplyChainTradeSettlement"),
    ("line_sums", "SpecifiedTradeSettlementLineMonetarySummation",
     "SpecifiedTradeSettlementMonetarySummation"),
    ("rate", "RateApplicablePercent", "ApplicablePercent"),
)  # fmt: skip
CII_LAYOUT = CiiLayout(**{field: cii for field, cii, _ in _NAMES})
FERD1_LAYOUT = CiiLayout(**{field: ferd1 for field, _, ferd1 in _NAMES})


def cii_specification(root: ET.Element, layout: CiiLayout = CII_LAYOUT) -> str | None:
    """The guideline ID (EN 16931 BT-24) that names the profile."""
    return text(root, f"{layout.context}/GuidelineSpecifiedDocumentContextParameter/ID")


def read_cii(root: ET.Element, layout: CiiLayout = CII_LAYOUT) -> dict[str, Any]:
    """The invoice schema's fields from a CII root laid out as `layout`, amounts as Decimal."""
    document = find(root, layout.document)
    trade = find(root, layout.trade)
    agreement = find(trade, layout.agreement)
    settlement = find(trade, layout.settlement)
    sums = find(settlement, layout.sums)
    means = findall(settlement, "SpecifiedTradeSettlementPaymentMeans")
    terms = findall(settlement, "SpecifiedTradePaymentTerms")
    currency = currency_code(find(settlement, "InvoiceCurrencyCode"))
    payee = first(text(m, "PayeePartyCreditorFinancialAccount/IBANID") for m in means)
    payer = first(text(m, "PayerPartyDebtorFinancialAccount/IBANID") for m in means)
    net = amount(sums, "LineTotalAmount")
    return {
        "invoice_number": identifier(find(document, "ID")),
        "kind": invoice_kind(text(document, "TypeCode")),
        "issue_date": _date(find(document, "IssueDateTime")),
        "due_date": next((d for t in terms if (d := _date(find(t, "DueDateDateTime")))), None),
        "seller": _party(find(agreement, "SellerTradeParty"), payee),
        "buyer": _party(find(agreement, "BuyerTradeParty"), payer),
        "currency": currency,
        "line_items": [_line(item, layout) for item in _billed_lines(trade, layout)],
        "net_total": net if net is not None else amount(sums, "TaxBasisTotalAmount"),
        # With no line sum, net_total is the tax basis, adjustments already in it.
        "allowance_total": None if net is None else amount(sums, "AllowanceTotalAmount"),
        "charge_total": None if net is None else amount(sums, "ChargeTotalAmount"),
        "tax_total": _tax_total(sums, currency),
        "grand_total": amount(sums, "GrandTotalAmount"),
        "amount_due": amount(sums, "DuePayableAmount"),
        "payment_terms": joined(text(t, "Description") for t in terms),
    }


def _date(holder: ET.Element | None) -> Any:
    node = find(holder, "DateTimeString")
    if node is None:
        return None
    return calendar_date(node, node.get("format"))


def _party(party: ET.Element | None, iban: str | None) -> dict[str, Any] | None:
    if party is None:
        return None
    address = find(party, "PostalTradeAddress")
    place = joined([text(address, "PostcodeCode"), text(address, "CityName")])
    lines = [text(address, name) for name in ("LineOne", "LineTwo", "LineThree")]
    registrations = {
        (reg.get("schemeID") or "").upper(): text(reg)
        for reg in reversed(findall(party, "SpecifiedTaxRegistration/ID"))
    }  # reversed: the first registration of each scheme wins
    return {
        "name": text(party, "Name"),
        "address": joined([*lines, place, text(address, "CountryID")], ", "),
        "vat_id": registrations.get("VA"),
        "tax_id": registrations.get("FC"),
        "iban": iban,
    }


def _billed_lines(trade: ET.Element | None, layout: CiiLayout) -> list[ET.Element]:
    """Top-level billed lines: EXTENDED sub-lines, INFORMATION lines and text lines left out."""
    lines = []
    for item in findall(trade, "IncludedSupplyChainTradeLineItem"):
        document = find(item, "AssociatedDocumentLineDocument")
        status = (text(document, "LineStatusReasonCode") or "").upper()
        top_level = text(document, "ParentLineID") is None
        if top_level and status != "INFORMATION" and not _text_only(item, layout):
            lines.append(item)
    return lines


def _text_only(item: ET.Element, layout: CiiLayout) -> bool:
    """A line with neither a product nor an amount, only a note: how ZUGFeRD 1.0 writes free
    text between the billed lines."""
    total = f"{layout.line_settlement}/{layout.line_sums}/LineTotalAmount"
    return find(item, "SpecifiedTradeProduct") is None and find(item, total) is None


def _line(item: ET.Element, layout: CiiLayout) -> dict[str, Any]:
    quantity = find(item, f"{layout.line_delivery}/BilledQuantity")
    price = find(item, f"{layout.line_agreement}/NetPriceProductTradePrice")
    settlement = find(item, layout.line_settlement)
    return {
        "description": text(item, "SpecifiedTradeProduct/Name"),
        "quantity": amount(quantity),
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "unit_price": unit_price(amount(price, "ChargeAmount"), amount(price, "BasisQuantity")),
        "line_total": amount(settlement, f"{layout.line_sums}/LineTotalAmount"),
        "tax_rate": amount(settlement, f"ApplicableTradeTax/{layout.rate}"),
    }


def _tax_total(
    sums: ET.Element | None, currency: str | NotXmlValue | None
) -> Decimal | NotXmlValue | None:
    for node in findall(sums, "TaxTotalAmount"):
        if node.get("currencyID") in (None, currency):
            return amount(node)
    grand, basis = amount(sums, "GrandTotalAmount"), amount(sums, "TaxBasisTotalAmount")
    if isinstance(grand, Decimal) and isinstance(basis, Decimal):
        return grand - basis
    return None
