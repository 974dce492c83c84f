"""E-invoice XML built from a few facts: CII in every Factur-X/ZUGFeRD profile and XRechnung,
UBL invoices and credit notes, and real PDFs that carry the XML as an attachment.

`InvoiceFacts` holds what an invoice says; `cii_xml` and `ubl_xml` write it in the elements each
profile allows, and `expected_invoice` says what reading it back must give, field by field. Amounts
are strings so that the XML holds exactly the digits written here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pymupdf

CII_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
UBL_ROOT_NS = "urn:oasis:names:specification:ubl:schema:xsd:{root}-2"

# Specification identifiers (CII guideline ID, UBL CustomizationID) by profile.
GUIDELINES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basic_wl": "urn:factur-x.eu:1p0:basicwl",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
    "extended": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
    "xrechnung": "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
    "peppol": "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
}
CII_PROFILES = ("minimum", "basic_wl", "basic", "en16931", "extended", "xrechnung")
ATTACHMENT_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml")


@dataclass(frozen=True)
class PartyFacts:
    name: str
    street: str
    postcode: str
    city: str
    country: str
    vat_id: str | None = None
    tax_id: str | None = None

    @property
    def address(self) -> str:
        return f"{self.street}, {self.postcode} {self.city}, {self.country}"


@dataclass(frozen=True)
class LineFacts:
    """One billed line; `price` is the net price of `basis` units (one unit when None)."""

    name: str
    quantity: str
    unit: str
    price: str
    total: str
    rate: str | None = "19"
    basis: str | None = None
    unit_price: str | None = None  # what one unit costs, where `basis` is given
    details: tuple[LineFacts, ...] = ()  # sub-lines, written by EXTENDED only


@dataclass(frozen=True)
class InvoiceFacts:
    number: str = "RE-2025-0417"
    type_code: str = "380"
    issued: str = "2025-03-14"
    due: str | None = "2025-04-13"
    currency: str = "EUR"
    seller: PartyFacts = PartyFacts(
        "Kranich Feinmechanik GmbH", "Werftstraße 12", "24148", "Kiel", "DE",
        vat_id="DE264831574", tax_id="19/815/08154",
    )  # fmt: skip
    buyer: PartyFacts = PartyFacts(
        "Atelier Pivert SARL", "3 rue des Tanneurs", "67000", "Strasbourg", "FR",
        vat_id="FR69417263852",
    )  # fmt: skip
    seller_iban: str | None = "DE40700202700012345678"
    buyer_iban: str | None = None  # the account a direct debit draws on
    terms: str | None = "Zahlbar innerhalb von 30 Tagen ohne Abzug"
    lines: tuple[LineFacts, ...] = (
        LineFacts("Präzisionswelle Ø 12 mm", "4", "H87", "62.50", "250.00"),
        LineFacts(
            "Montage <vor Ort> & Abnahme",
            "2.5",
            "HUR",
            "84.00",
            "210.00",
            details=(
                LineFacts("Anfahrt", "1", "C62", "42.00", "42.00"),
                LineFacts("Arbeitszeit", "2", "HUR", "84.00", "168.00"),
            ),
        ),
        LineFacts("Schrauben M4", "200", "H87", "3.20", "6.40", basis="100", unit_price="0.032"),
    )
    net: str = "466.40"
    tax: str = "88.62"
    grand: str = "555.02"
    prepaid: str = "0.00"
    payable: str = "555.02"
    tax_currency: str | None = None  # a second currency the tax is also stated in
    tax_in_tax_currency: str | None = None
    allowance: str | None = None  # document-level allowances (not on a line)
    charge: str | None = None  # document-level charges

    @property
    def taxable(self) -> str:
        """The tax basis: net plus charges minus allowances."""
        basis = Decimal(self.net) + Decimal(self.charge or 0) - Decimal(self.allowance or 0)
        return str(basis)


# --- CII ----------------------------------------------------------------------------------------


def _el(
    parent: ET.Element,
    path: str,
    text: str | None = None,
    *,
    ns: dict[str, str] | None = None,
    **attrs: str,
) -> ET.Element:
    """Append the elements of `path` ("ram:A/ram:B") under `parent`; the last gets text/attrs.
    Prefixes are CII's and UBL's, or those of `ns`."""
    node = parent
    namespaces = ns or {**CII_NS, **UBL_NS}
    for step in path.split("/"):
        prefix, name = step.split(":")
        node = ET.SubElement(node, f"{{{namespaces[prefix]}}}{name}")
    if text is not None:
        node.text = text
    node.attrib.update(attrs)
    return node


def cii_date(parent: ET.Element, path: str, iso: str, ns: dict[str, str] | None = None) -> None:
    """A date at `path` below `parent`, as CII format 102 (YYYYMMDD)."""
    _el(parent, f"{path}/udt:DateTimeString", iso.replace("-", ""), ns=ns, format="102")


def xml_root(namespaces: dict[str, str], name: str) -> ET.Element:
    """A root element `name` in the namespace of the prefix "rsm", the prefixes of `namespaces`
    registered so that the XML written says them."""
    for prefix, uri in namespaces.items():
        ET.register_namespace(prefix, uri)
    return ET.Element(f"{{{namespaces['rsm']}}}{name}")


def cii_xml(facts: InvoiceFacts, profile: str) -> bytes:
    """The invoice as a CII document in `profile` (one of CII_PROFILES)."""
    root = xml_root(CII_NS, "CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID", "A1")
    _el(context, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", GUIDELINES[profile])
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", facts.number)
    _el(document, "ram:TypeCode", facts.type_code)
    cii_date(document, "ram:IssueDateTime", facts.issued)
    if profile not in ("minimum", "basic_wl"):
        _el(document, "ram:IncludedNote/ram:Content", "Vielen Dank für Ihren Auftrag.")
    trade = _el(root, "rsm:SupplyChainTradeTransaction")
    if profile not in ("minimum", "basic_wl"):
        _cii_lines(trade, facts, profile)
    agreement = _el(trade, "ram:ApplicableHeaderTradeAgreement")
    _el(agreement, "ram:BuyerReference", "04011000-12345-34")
    _cii_party(agreement, "ram:SellerTradeParty", facts.seller, profile)
    _cii_party(agreement, "ram:BuyerTradeParty", facts.buyer, profile)
    _el(trade, "ram:ApplicableHeaderTradeDelivery")
    _cii_settlement(_el(trade, "ram:ApplicableHeaderTradeSettlement"), facts, profile)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _cii_party(agreement: ET.Element, tag: str, party: PartyFacts, profile: str) -> None:
    node = _el(agreement, tag)
    _el(node, "ram:Name", party.name)
    buyer = tag.endswith("BuyerTradeParty")
    if profile == "minimum" and buyer:
        return
    address = _el(node, "ram:PostalTradeAddress")
    if profile != "minimum":
        _el(address, "ram:PostcodeCode", party.postcode)
        _el(address, "ram:LineOne", party.street)
        _el(address, "ram:CityName", party.city)
    _el(address, "ram:CountryID", party.country)
    if party.vat_id and not (profile == "minimum" and buyer):
        _el(node, "ram:SpecifiedTaxRegistration/ram:ID", party.vat_id, schemeID="VA")
    if party.tax_id and profile != "minimum":
        _el(node, "ram:SpecifiedTaxRegistration/ram:ID", party.tax_id, schemeID="FC")


def _cii_lines(trade: ET.Element, facts: InvoiceFacts, profile: str) -> None:
    for number, line in enumerate(facts.lines, start=1):
        grouped = profile == "extended" and line.details
        _cii_line(trade, line, str(number), status="GROUP" if grouped else None)
        for sub, detail in enumerate(line.details if grouped else (), start=1):
            _cii_line(trade, detail, f"{number}.{sub}", parent=str(number), status="DETAIL")
    if profile == "extended":
        note = LineFacts("Hinweis: Lieferung in zwei Teilen", "1", "C62", "0.00", "0.00")
        _cii_line(trade, note, "99", status="INFORMATION")


def _cii_line(
    trade: ET.Element,
    line: LineFacts,
    line_id: str,
    parent: str | None = None,
    status: str | None = None,
) -> None:
    item = _el(trade, "ram:IncludedSupplyChainTradeLineItem")
    document = _el(item, "ram:AssociatedDocumentLineDocument")
    _el(document, "ram:LineID", line_id)
    if parent:
        _el(document, "ram:ParentLineID", parent)
    if status:
        _el(document, "ram:LineStatusReasonCode", status)
    _el(item, "ram:SpecifiedTradeProduct/ram:Name", line.name)
    agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
    price = _el(agreement, "ram:NetPriceProductTradePrice")
    _el(price, "ram:ChargeAmount", line.price)
    if line.basis:
        _el(price, "ram:BasisQuantity", line.basis, unitCode=line.unit)
    _el(
        item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", line.quantity, unitCode=line.unit
    )
    settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", "S" if line.rate else "O")
    if line.rate:
        _el(tax, "ram:RateApplicablePercent", line.rate)
    _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
        line.total)  # fmt: skip


def _cii_settlement(settlement: ET.Element, facts: InvoiceFacts, profile: str) -> None:
    if facts.tax_currency:
        _el(settlement, "ram:TaxCurrencyCode", facts.tax_currency)
    _el(settlement, "ram:InvoiceCurrencyCode", facts.currency)
    if profile != "minimum":
        _cii_payment(settlement, facts)
    sums = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    if profile != "minimum":
        _el(sums, "ram:LineTotalAmount", facts.net)
        if facts.charge:
            _el(sums, "ram:ChargeTotalAmount", facts.charge)
        if facts.allowance:
            _el(sums, "ram:AllowanceTotalAmount", facts.allowance)
    _el(sums, "ram:TaxBasisTotalAmount", facts.taxable)
    if facts.tax_currency and facts.tax_in_tax_currency:  # the other currency first, on purpose
        _el(sums, "ram:TaxTotalAmount", facts.tax_in_tax_currency, currencyID=facts.tax_currency)
    _el(sums, "ram:TaxTotalAmount", facts.tax, currencyID=facts.currency)
    _el(sums, "ram:GrandTotalAmount", facts.grand)
    if profile != "minimum":
        _el(sums, "ram:TotalPrepaidAmount", facts.prepaid)
    _el(sums, "ram:DuePayableAmount", facts.payable)


def _cii_payment(settlement: ET.Element, facts: InvoiceFacts) -> None:
    if facts.seller_iban:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "58")
        _el(means, "ram:PayeePartyCreditorFinancialAccount/ram:IBANID", facts.seller_iban)
    if facts.buyer_iban:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "59")
        _el(means, "ram:PayerPartyDebtorFinancialAccount/ram:IBANID", facts.buyer_iban)
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:CalculatedAmount", facts.tax)
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:BasisAmount", facts.net)
    _el(tax, "ram:CategoryCode", "S")
    _el(tax, "ram:RateApplicablePercent", "19")
    cii_terms(settlement, facts)


def cii_terms(
    settlement: ET.Element, facts: InvoiceFacts, ns: dict[str, str] | None = None
) -> None:
    """The payment terms: their text and the due date, where the facts have them."""
    if facts.terms or facts.due:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms", ns=ns)
        if facts.terms:
            _el(terms, "ram:Description", facts.terms, ns=ns)
        if facts.due:
            cii_date(terms, "ram:DueDateDateTime", facts.due, ns)


# --- UBL ----------------------------------------------------------------------------------------


def ubl_xml(facts: InvoiceFacts, profile: str = "peppol") -> bytes:
    """The invoice as a UBL 2.1 Invoice, or a CreditNote when its type code is 381."""
    credit = facts.type_code == "381"
    root_name = "CreditNote" if credit else "Invoice"
    for prefix, uri in UBL_NS.items():
        ET.register_namespace(prefix, uri)
    ET.register_namespace("", UBL_ROOT_NS.format(root=root_name))
    root = ET.Element(f"{{{UBL_ROOT_NS.format(root=root_name)}}}{root_name}")
    _el(root, "cbc:CustomizationID", GUIDELINES[profile])
    _el(root, "cbc:ProfileID", "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    _el(root, "cbc:ID", facts.number)
    _el(root, "cbc:IssueDate", facts.issued)
    if facts.due and not credit:
        _el(root, "cbc:DueDate", facts.due)
    _el(root, f"cbc:{root_name}TypeCode", facts.type_code)
    _el(root, "cbc:DocumentCurrencyCode", facts.currency)
    if facts.tax_currency:
        _el(root, "cbc:TaxCurrencyCode", facts.tax_currency)
    _el(root, "cbc:BuyerReference", "04011000-12345-34")
    _ubl_party(_el(root, "cac:AccountingSupplierParty"), facts.seller)
    _ubl_party(_el(root, "cac:AccountingCustomerParty"), facts.buyer)
    _ubl_payment(root, facts, credit)
    _ubl_totals(root, facts)
    for number, line in enumerate(facts.lines, start=1):
        _ubl_line(root, line, str(number), credit, facts.currency)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _ubl_party(holder: ET.Element, party: PartyFacts) -> None:
    node = _el(holder, "cac:Party")
    _el(node, "cbc:EndpointID", "mail@example.org", schemeID="EM")
    _el(node, "cac:PartyName/cbc:Name", party.name)
    address = _el(node, "cac:PostalAddress")
    _el(address, "cbc:StreetName", party.street)
    _el(address, "cbc:CityName", party.city)
    _el(address, "cbc:PostalZone", party.postcode)
    _el(address, "cac:Country/cbc:IdentificationCode", party.country)
    for company, scheme in ((party.vat_id, "VAT"), (party.tax_id, "FC")):
        if company:
            tax_scheme = _el(node, "cac:PartyTaxScheme")
            _el(tax_scheme, "cbc:CompanyID", company)
            _el(tax_scheme, "cac:TaxScheme/cbc:ID", scheme)
    _el(node, "cac:PartyLegalEntity/cbc:RegistrationName", party.name + " (legal)")


def _ubl_payment(root: ET.Element, facts: InvoiceFacts, credit: bool) -> None:
    if facts.seller_iban:
        means = _el(root, "cac:PaymentMeans")
        _el(means, "cbc:PaymentMeansCode", "58")
        if credit and facts.due:
            _el(means, "cbc:PaymentDueDate", facts.due)
        _el(means, "cac:PayeeFinancialAccount/cbc:ID", facts.seller_iban)
    if facts.buyer_iban:
        means = _el(root, "cac:PaymentMeans")
        _el(means, "cbc:PaymentMeansCode", "59")
        _el(means, "cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID", facts.buyer_iban)
    if facts.terms:
        _el(root, "cac:PaymentTerms/cbc:Note", facts.terms)


def _ubl_totals(root: ET.Element, facts: InvoiceFacts) -> None:
    currency = facts.currency
    if facts.tax_currency and facts.tax_in_tax_currency:  # the other currency first, on purpose
        other = _el(root, "cac:TaxTotal")
        _el(other, "cbc:TaxAmount", facts.tax_in_tax_currency, currencyID=facts.tax_currency)
    total = _el(root, "cac:TaxTotal")
    _el(total, "cbc:TaxAmount", facts.tax, currencyID=currency)
    sub = _el(total, "cac:TaxSubtotal")
    _el(sub, "cbc:TaxableAmount", facts.taxable, currencyID=currency)
    _el(sub, "cbc:TaxAmount", facts.tax, currencyID=currency)
    category = _el(sub, "cac:TaxCategory")
    _el(category, "cbc:ID", "S")
    _el(category, "cbc:Percent", "19")
    _el(category, "cac:TaxScheme/cbc:ID", "VAT")
    money = _el(root, "cac:LegalMonetaryTotal")
    for tag, value in (
        ("LineExtensionAmount", facts.net),
        ("TaxExclusiveAmount", facts.taxable),
        ("TaxInclusiveAmount", facts.grand),
        ("AllowanceTotalAmount", facts.allowance),
        ("ChargeTotalAmount", facts.charge),
        ("PrepaidAmount", facts.prepaid),
        ("PayableAmount", facts.payable),
    ):
        if value is not None:
            _el(money, f"cbc:{tag}", value, currencyID=currency)


def _ubl_line(root: ET.Element, line: LineFacts, line_id: str, credit: bool, currency: str) -> None:
    kind = "CreditNote" if credit else "Invoice"
    node = _el(root, f"cac:{kind}Line")
    _el(node, "cbc:ID", line_id)
    quantity = "CreditedQuantity" if credit else "InvoicedQuantity"
    _el(node, f"cbc:{quantity}", line.quantity, unitCode=line.unit)
    _el(node, "cbc:LineExtensionAmount", line.total, currencyID=currency)
    item = _el(node, "cac:Item")
    _el(item, "cbc:Description", "Artikel laut Angebot")
    _el(item, "cbc:Name", line.name)
    category = _el(item, "cac:ClassifiedTaxCategory")
    _el(category, "cbc:ID", "S" if line.rate else "O")
    if line.rate:
        _el(category, "cbc:Percent", line.rate)
    _el(category, "cac:TaxScheme/cbc:ID", "VAT")
    price = _el(node, "cac:Price")
    _el(price, "cbc:PriceAmount", line.price, currencyID=currency)
    if line.basis:
        _el(price, "cbc:BaseQuantity", line.basis, unitCode=line.unit)


# --- PDF ----------------------------------------------------------------------------------------


def pdf_with_xml(xml: bytes, name: str, facts: InvoiceFacts | None = None) -> bytes:
    """A one-page PDF made with PyMuPDF that carries `xml` as the embedded file `name`."""
    facts = facts or InvoiceFacts()
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), f"Rechnung {facts.number} vom {facts.issued}", fontsize=14)
    page.insert_text((72, 120), f"Gesamtbetrag {facts.grand} {facts.currency}", fontsize=11)
    doc.embfile_add(name, xml, filename=name, ufilename=name, desc="e-invoice data")
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


# --- what reading must give ---------------------------------------------------------------------


def expected_invoice(facts: InvoiceFacts, profile: str) -> dict[str, Any]:
    """The `Invoice` fields that reading `facts` written in `profile` must give, exactly.

    MINIMUM carries no lines, no payment details and only the seller's country; BASIC WL no
    lines. A line's unit price is its price divided by its price basis quantity.
    """
    minimum = profile == "minimum"
    lines = [] if profile in ("minimum", "basic_wl") else [_line(x) for x in facts.lines]
    return {
        "invoice_number": facts.number,
        "kind": "credit_note" if facts.type_code == "381" else "invoice",
        "issue_date": facts.issued,
        "due_date": None if minimum else facts.due,
        "seller": _party(facts.seller, None if minimum else facts.seller_iban, profile, True),
        "buyer": _party(facts.buyer, None if minimum else facts.buyer_iban, profile, False),
        "currency": facts.currency,
        "line_items": lines,
        "net_total": facts.taxable if minimum else facts.net,
        "allowance_total": None if minimum else facts.allowance,
        "charge_total": None if minimum else facts.charge,
        "tax_total": facts.tax,
        "grand_total": facts.grand,
        "amount_due": facts.payable,
        "payment_terms": None if minimum else facts.terms,
    }


def _party(party: PartyFacts, iban: str | None, profile: str, seller: bool) -> dict[str, Any]:
    if profile != "minimum":
        return {"name": party.name, "address": party.address, "vat_id": party.vat_id,
                "tax_id": party.tax_id, "iban": iban}  # fmt: skip
    return {"name": party.name, "address": party.country if seller else None,
            "vat_id": party.vat_id if seller else None, "tax_id": None, "iban": None}  # fmt: skip


def _line(line: LineFacts) -> dict[str, Any]:
    return {
        "description": line.name,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price": line.unit_price or line.price,
        "line_total": line.total,
        "tax_rate": line.rate,
    }


# --- hostile PDFs -------------------------------------------------------------------------------


def pdf_with_attachment_bomb(inflated: int, name: str = "factur-x.xml", on_page: bool = False
                             ) -> bytes:  # fmt: skip
    """A one-page PDF whose attachment `name` is a Flate stream of about inflated / 1000 bytes
    that inflates to `inflated` bytes (an XML declaration, then zeros), while the PDF states
    its size as 40 bytes: an attachment bomb, whose stated and stored sizes both pass a size
    limit that its content breaks. Attached to the document, or `on_page` as a file-attachment
    annotation."""
    import zlib

    packer = zlib.compressobj(9)
    stream = [packer.compress(b'<?xml version="1.0"?><a>')]
    zeros = bytes(1 << 20)
    for _ in range(inflated >> 20):
        stream.append(packer.compress(zeros))
    stream.append(packer.compress(bytes(inflated % (1 << 20))) + packer.flush())
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Rechnung", fontsize=14)
    if on_page:
        annot = page.add_file_annot((72, 120), b"<a/>" * 10, name)
        xref = int(doc.xref_get_key(annot.xref, "FS/EF/F")[1].split()[0])
    else:
        xref = doc.embfile_add(name, b"<a/>" * 10, filename=name, ufilename=name)
    doc.update_stream(xref, b"".join(stream), compress=False)
    doc.xref_set_key(xref, "Filter", "/FlateDecode")
    doc.xref_set_key(xref, "Params/Size", "40")
    data = doc.tobytes()
    doc.close()
    return data
