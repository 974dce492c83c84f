"""Factur-X style hybrid invoices: a CII XML built from invoice truth, attached to the PDF."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

NS = (
    'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    'xmlns:ram="urn:un:unece:uncefact:data:standard:'
    'ReusableAggregateBusinessInformationEntity:100" '
    'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"'
)


def _e(value: Any) -> str:
    return escape(str(value))


def _date(iso: str) -> str:
    return f'<udt:DateTimeString format="102">{iso.replace("-", "")}</udt:DateTimeString>'


def _party(tag: str, party: dict[str, Any]) -> str:
    street, _, city = (party.get("address") or "").partition(", ")
    regs = ""
    if party.get("vat_id"):
        regs += (
            f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{_e(party["vat_id"])}'
            "</ram:ID></ram:SpecifiedTaxRegistration>"
        )
    if party.get("tax_id"):
        regs += (
            f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="FC">{_e(party["tax_id"])}'
            "</ram:ID></ram:SpecifiedTaxRegistration>"
        )
    postcode, _, city_name = city.partition(" ")
    return (
        f"<ram:{tag}><ram:Name>{_e(party['name'])}</ram:Name><ram:PostalTradeAddress>"
        f"<ram:PostcodeCode>{_e(postcode)}</ram:PostcodeCode><ram:LineOne>{_e(street)}</ram:LineOne>"
        f"<ram:CityName>{_e(city_name)}</ram:CityName></ram:PostalTradeAddress>{regs}</ram:{tag}>"
    )


def build_cii_xml(truth: dict[str, Any]) -> bytes:
    """A minimal EN 16931-shaped CII document carrying every field of an invoice truth dict.

    Addresses are expected as "street, postcode city" (what the generator writes).
    """
    currency = truth["currency"]
    lines = []
    for number, item in enumerate(truth["line_items"], start=1):
        rate = item.get("tax_rate")
        lines.append(
            "<ram:IncludedSupplyChainTradeLineItem>"
            f"<ram:AssociatedDocumentLineDocument><ram:LineID>{number}</ram:LineID>"
            "</ram:AssociatedDocumentLineDocument>"
            f"<ram:SpecifiedTradeProduct><ram:Name>{_e(item['description'])}</ram:Name>"
            "</ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement>"
            f"<ram:NetPriceProductTradePrice><ram:ChargeAmount>{_e(item['unit_price'])}"
            "</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
            f'<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="{_e(item["unit"])}">'
            f"{_e(item['quantity'])}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>"
            "<ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT"
            "</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>"
            f"<ram:RateApplicablePercent>{_e(rate)}</ram:RateApplicablePercent>"
            "</ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation>"
            f"<ram:LineTotalAmount>{_e(item['line_total'])}</ram:LineTotalAmount>"
            "</ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement>"
            "</ram:IncludedSupplyChainTradeLineItem>"
        )
    seller_iban = truth["seller"].get("iban")
    means = (
        "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
        f"<ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{_e(seller_iban)}</ram:IBANID>"
        "</ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>"
        if seller_iban
        else ""
    )
    terms = "<ram:SpecifiedTradePaymentTerms>"
    if truth.get("payment_terms"):
        terms += f"<ram:Description>{_e(truth['payment_terms'])}</ram:Description>"
    if truth.get("due_date"):
        terms += f"<ram:DueDateDateTime>{_date(truth['due_date'])}</ram:DueDateDateTime>"
    terms += "</ram:SpecifiedTradePaymentTerms>"
    type_code = "381" if truth.get("kind") == "credit_note" else "380"
    due = truth.get("amount_due") or truth["grand_total"]
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice {NS}>'
        "<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>"
        "<ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>"
        "</rsm:ExchangedDocumentContext><rsm:ExchangedDocument>"
        f"<ram:ID>{_e(truth['invoice_number'])}</ram:ID><ram:TypeCode>{type_code}</ram:TypeCode>"
        f"<ram:IssueDateTime>{_date(truth['issue_date'])}</ram:IssueDateTime>"
        "</rsm:ExchangedDocument><rsm:SupplyChainTradeTransaction>"
        + "".join(lines)
        + "<ram:ApplicableHeaderTradeAgreement>"
        + _party("SellerTradeParty", truth["seller"])
        + _party("BuyerTradeParty", truth["buyer"])
        + "</ram:ApplicableHeaderTradeAgreement>"
        "<ram:ApplicableHeaderTradeDelivery/><ram:ApplicableHeaderTradeSettlement>"
        f"<ram:InvoiceCurrencyCode>{_e(currency)}</ram:InvoiceCurrencyCode>{means}{terms}"
        "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        f"<ram:LineTotalAmount>{_e(truth['net_total'])}</ram:LineTotalAmount>"
        f"<ram:TaxBasisTotalAmount>{_e(truth['net_total'])}</ram:TaxBasisTotalAmount>"
        f'<ram:TaxTotalAmount currencyID="{_e(currency)}">{_e(truth["tax_total"])}'
        "</ram:TaxTotalAmount>"
        f"<ram:GrandTotalAmount>{_e(truth['grand_total'])}</ram:GrandTotalAmount>"
        f"<ram:DuePayableAmount>{_e(due)}</ram:DuePayableAmount>"
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        "</ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction>"
        "</rsm:CrossIndustryInvoice>"
    )
    return xml.encode("utf-8")


def embed_cii_xml(pdf_bytes: bytes, xml: bytes, filename: str = "factur-x.xml") -> bytes:
    """Attach `xml` to the PDF as an embedded file, the way Factur-X/ZUGFeRD invoices carry it."""
    import pymupdf

    with pymupdf.open(stream=pdf_bytes, filetype="pdf") as doc:
        xref = doc.embfile_add(
            filename, xml, filename=filename, ufilename=filename, desc="Factur-X invoice data"
        )
        for key in ("Params/CreationDate", "Params/ModDate"):  # fixed, for reproducible bytes
            doc.xref_set_key(xref, key, "(D:20240101000000Z)")
        return doc.tobytes(garbage=3, deflate=True, no_new_id=True)
