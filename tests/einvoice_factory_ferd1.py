"""ZUGFeRD 1.0 XML (BASIC, COMFORT, EXTENDED) built from the same `InvoiceFacts` as the CII and UBL
fixtures, in the element names and order of the ZUGFeRD 1.0 schema: root CrossIndustryDocument,
HeaderExchangedDocument, ApplicableSupplyChainTrade* header parts, the lines after the settlement,
amounts with their currencyID, the tax rate as ApplicablePercent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import partial
from typing import Any

from tests.einvoice_factory import (
    InvoiceFacts,
    LineFacts,
    PartyFacts,
    _el,
    cii_date,
    cii_terms,
    expected_invoice,
    xml_root,
)

FERD1_NS = {
    "rsm": "urn:ferd:CrossIndustryDocument:invoice:1p0",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15",
}
FERD1_GUIDELINES = {
    profile: f"urn:ferd:CrossIndustryDocument:invoice:1p0:{profile}"
    for profile in ("basic", "comfort", "extended")
}
_z = partial(_el, ns=FERD1_NS)


def ferd1_xml(facts: InvoiceFacts, profile: str) -> bytes:
    """The invoice as a ZUGFeRD 1.0 document in `profile` (basic, comfort or extended)."""
    root = xml_root(FERD1_NS, "CrossIndustryDocument")
    _context(_z(root, "rsm:SpecifiedExchangedDocumentContext"), profile)
    document = _z(root, "rsm:HeaderExchangedDocument")
    title = "GUTSCHRIFT" if facts.type_code == "381" else "RECHNUNG"
    for tag, value in (("ID", facts.number), ("Name", title), ("TypeCode", facts.type_code)):
        _z(document, f"ram:{tag}", value)
    cii_date(document, "ram:IssueDateTime", facts.issued, FERD1_NS)
    _z(document, "ram:IncludedNote/ram:Content", "Vielen Dank für Ihren Auftrag.")
    trade = _z(root, "rsm:SpecifiedSupplyChainTradeTransaction")
    agreement = _z(trade, "ram:ApplicableSupplyChainTradeAgreement")
    _party(agreement, "ram:SellerTradeParty", facts.seller)
    _party(agreement, "ram:BuyerTradeParty", facts.buyer)
    delivery = _z(trade, "ram:ApplicableSupplyChainTradeDelivery")
    event = "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime"
    cii_date(delivery, event, facts.issued, FERD1_NS)
    _settlement(_z(trade, "ram:ApplicableSupplyChainTradeSettlement"), facts)
    if profile != "basic":  # a text line before the lines, as FeRD's COMFORT samples have
        text_line = _z(trade, "ram:IncludedSupplyChainTradeLineItem")
        note = "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"
        _z(text_line, note, "Wir berechnen Ihnen aus Lieferung 2014-117:")
        _z(text_line, "ram:SpecifiedSupplyChainTradeSettlement")  # empty: it bills nothing
    for number, line in enumerate(facts.lines, start=1):
        _line(trade, line, str(number), facts.currency, priced=profile != "basic")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def expected_ferd1(facts: InvoiceFacts, profile: str) -> dict[str, Any]:
    """What reading `ferd1_xml(facts, profile)` must give: the fields of a CII EN 16931 invoice,
    except that BASIC lines state no price and no tax rate."""
    expected = expected_invoice(facts, "en16931")
    if profile == "basic":
        for line in expected["line_items"]:
            line.update(unit_price=None, tax_rate=None)
    return expected


def _context(context: ET.Element, profile: str) -> None:
    _z(context, "ram:TestIndicator/udt:Indicator", "false")
    _z(context, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", FERD1_GUIDELINES[profile])


def _party(agreement: ET.Element, tag: str, party: PartyFacts) -> None:
    node = _z(agreement, tag)
    _z(node, "ram:Name", party.name)
    address = _z(node, "ram:PostalTradeAddress")
    lines = {"PostcodeCode": party.postcode, "LineOne": party.street, "CityName": party.city}
    for tag, value in {**lines, "CountryID": party.country}.items():
        _z(address, f"ram:{tag}", value)
    for number, scheme in ((party.tax_id, "FC"), (party.vat_id, "VA")):  # FC first, as FeRD's
        if number:
            _z(node, "ram:SpecifiedTaxRegistration/ram:ID", number, schemeID=scheme)


def _settlement(settlement: ET.Element, facts: InvoiceFacts) -> None:
    money = partial(_z, currencyID=facts.currency)
    _z(settlement, "ram:PaymentReference", facts.number)
    _z(settlement, "ram:InvoiceCurrencyCode", facts.currency)
    _payment_means(settlement, facts)
    tax = _z(settlement, "ram:ApplicableTradeTax")
    for tag, value in (("CalculatedAmount", facts.tax), ("TypeCode", "VAT"),
                       ("BasisAmount", facts.taxable), ("CategoryCode", "S")):  # fmt: skip
        (money if tag.endswith("Amount") else _z)(tax, f"ram:{tag}", value)
    _z(tax, "ram:ApplicablePercent", "19.00")
    _adjustments(settlement, facts)
    cii_terms(settlement, facts, FERD1_NS)
    sums = _z(settlement, "ram:SpecifiedTradeSettlementMonetarySummation")
    names = "LineTotal ChargeTotal AllowanceTotal TaxBasisTotal TaxTotal GrandTotal TotalPrepaid"
    values = (facts.net, facts.charge, facts.allowance, facts.taxable, facts.tax, facts.grand,
              facts.prepaid, facts.payable)  # fmt: skip
    for name, value in zip([*names.split(), "DuePayable"], values, strict=True):
        if value is not None:
            money(sums, f"ram:{name}Amount", value)


def _payment_means(settlement: ET.Element, facts: InvoiceFacts) -> None:
    for code, account, iban in (
        ("31", "PayeePartyCreditorFinancialAccount", facts.seller_iban),
        ("49", "PayerPartyDebtorFinancialAccount", facts.buyer_iban),
    ):
        if iban:
            means = _z(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
            _z(means, "ram:TypeCode", code)
            _z(means, f"ram:{account}/ram:IBANID", iban)


def _adjustments(settlement: ET.Element, facts: InvoiceFacts) -> None:
    """A document-level allowance, and a charge as ZUGFeRD 1.0 states shipping."""
    if facts.allowance:
        allowance = _z(settlement, "ram:SpecifiedTradeAllowanceCharge")
        _z(allowance, "ram:ChargeIndicator/udt:Indicator", "false")
        _z(allowance, "ram:ActualAmount", facts.allowance, currencyID=facts.currency)
        _z(allowance, "ram:Reason", "Sondernachlass")
    if facts.charge:
        charge = _z(settlement, "ram:SpecifiedLogisticsServiceCharge")
        _z(charge, "ram:Description", "Versandkosten")
        _z(charge, "ram:AppliedAmount", facts.charge, currencyID=facts.currency)


def _line(trade: ET.Element, line: LineFacts, line_id: str, currency: str, priced: bool) -> None:
    item = _z(trade, "ram:IncludedSupplyChainTradeLineItem")
    _z(item, "ram:AssociatedDocumentLineDocument/ram:LineID", line_id)
    if priced:
        agreement = _z(item, "ram:SpecifiedSupplyChainTradeAgreement")
        for kind in ("Gross", "Net"):
            price = _z(agreement, f"ram:{kind}PriceProductTradePrice")
            _z(price, "ram:ChargeAmount", line.price, currencyID=currency)
            if line.basis:
                _z(price, "ram:BasisQuantity", line.basis, unitCode=line.unit)
    _z(item, "ram:SpecifiedSupplyChainTradeDelivery/ram:BilledQuantity", line.quantity,
       unitCode=line.unit)  # fmt: skip
    settlement = _z(item, "ram:SpecifiedSupplyChainTradeSettlement")
    if priced and line.rate:
        tax = _z(settlement, "ram:ApplicableTradeTax")
        _z(tax, "ram:TypeCode", "VAT")
        _z(tax, "ram:CategoryCode", "S")
        _z(tax, "ram:ApplicablePercent", line.rate)
    _z(settlement, "ram:SpecifiedTradeSettlementMonetarySummation/ram:LineTotalAmount", line.total,
       currencyID=currency)  # fmt: skip
    _z(item, "ram:SpecifiedTradeProduct/ram:Name", line.name)
