"""OASIS UBL 2.1 Invoice and CreditNote (Peppol BIS Billing 3, XRechnung UBL) to invoice schema
fields.

- net_total is LegalMonetaryTotal/LineExtensionAmount (the sum of line net amounts), else
  TaxExclusiveAmount; allowance_total and charge_total are LegalMonetaryTotal's
  AllowanceTotalAmount and ChargeTotalAmount (left out beside a TaxExclusiveAmount net_total,
  which includes them); grand_total is TaxInclusiveAmount; amount_due is PayableAmount.
- tax_total is the TaxTotal/TaxAmount in the document currency: where the tax is also stated in
  the tax currency (a second TaxTotal), that one is skipped. Without one, TaxInclusiveAmount
  minus TaxExclusiveAmount.
- The seller's IBAN is the payee account of a payment means, when it has the shape of an IBAN
  (it may be a national account number); the buyer's is the account a direct-debit mandate draws
  on. Only top-level lines are read (sub-lines are part of them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
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
    local,
    text,
    unit_price,
)

UBL_NAMESPACES = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def ubl_specification(root: ET.Element) -> str | None:
    """The CustomizationID (EN 16931 BT-24) that names the specification followed."""
    return text(root, "CustomizationID")


def read_ubl(root: ET.Element) -> dict[str, Any]:
    """The invoice schema's fields from a UBL Invoice or CreditNote root, amounts as Decimal."""
    credit = local(root.tag) == "CreditNote"
    prefix = "CreditNote" if credit else "Invoice"
    currency = currency_code(find(root, "DocumentCurrencyCode"))
    means = findall(root, "PaymentMeans")
    money = find(root, "LegalMonetaryTotal")
    net = amount(money, "LineExtensionAmount")
    payer = first(text(m, "PaymentMandate/PayerFinancialAccount/ID") for m in means)
    dues = [find(root, "DueDate"), *(find(m, "PaymentDueDate") for m in means)]
    due = next((node for node in dues if text(node)), None)
    kind = invoice_kind(text(root, f"{prefix}TypeCode"))
    return {
        "invoice_number": identifier(find(root, "ID")),
        "kind": "credit_note" if credit else kind,
        "issue_date": calendar_date(find(root, "IssueDate")),
        "due_date": calendar_date(due),
        "seller": _party(find(root, "AccountingSupplierParty/Party"), _payee_iban(means)),
        "buyer": _party(find(root, "AccountingCustomerParty/Party"), _compact(payer)),
        "currency": currency,
        "line_items": [_line(line) for line in findall(root, f"{prefix}Line")],
        "net_total": net if net is not None else amount(money, "TaxExclusiveAmount"),
        "allowance_total": None if net is None else amount(money, "AllowanceTotalAmount"),
        "charge_total": None if net is None else amount(money, "ChargeTotalAmount"),
        "tax_total": _tax_total(root, money, currency),
        "grand_total": amount(money, "TaxInclusiveAmount"),
        "amount_due": amount(money, "PayableAmount"),
        "payment_terms": joined(text(terms, "Note") for terms in findall(root, "PaymentTerms")),
    }


def _compact(account: str | None) -> str | None:
    return account.replace(" ", "").upper() if account else None


def _payee_iban(means: list[ET.Element]) -> str | None:
    accounts = (_compact(text(m, "PayeeFinancialAccount/ID")) for m in means)
    return next((a for a in accounts if a and _IBAN_SHAPE.fullmatch(a)), None)


def _party(party: ET.Element | None, iban: str | None) -> dict[str, Any] | None:
    if party is None:
        return None
    address = find(party, "PostalAddress")
    place = joined([text(address, "PostalZone"), text(address, "CityName")])
    lines = [text(address, "StreetName"), text(address, "AdditionalStreetName")]
    lines += [text(line, "Line") for line in findall(address, "AddressLine")]
    vat_id = tax_id = None
    for scheme in findall(party, "PartyTaxScheme"):
        is_vat = (text(scheme, "TaxScheme/ID") or "").upper() == "VAT"
        if is_vat and vat_id is None:
            vat_id = text(scheme, "CompanyID")
        elif not is_vat and tax_id is None:
            tax_id = text(scheme, "CompanyID")
    return {
        "name": text(party, "PartyName/Name") or text(party, "PartyLegalEntity/RegistrationName"),
        "address": joined([*lines, place, text(address, "Country/IdentificationCode")], ", "),
        "vat_id": vat_id,
        "tax_id": tax_id,
        "iban": iban,
    }


def _line(line: ET.Element) -> dict[str, Any]:
    quantity = find(line, "InvoicedQuantity")
    if quantity is None:
        quantity = find(line, "CreditedQuantity")
    price = find(line, "Price")
    return {
        "description": text(line, "Item/Name") or text(line, "Item/Description"),
        "quantity": amount(quantity),
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "unit_price": unit_price(amount(price, "PriceAmount"), amount(price, "BaseQuantity")),
        "line_total": amount(line, "LineExtensionAmount"),
        "tax_rate": amount(line, "Item/ClassifiedTaxCategory/Percent"),
    }


def _tax_total(
    root: ET.Element, money: ET.Element | None, currency: str | NotXmlValue | None
) -> Decimal | NotXmlValue | None:
    for total in findall(root, "TaxTotal"):
        tax = find(total, "TaxAmount")
        if tax is not None and tax.get("currencyID") in (None, currency):
            return amount(tax)
    inclusive, exclusive = amount(money, "TaxInclusiveAmount"), amount(money, "TaxExclusiveAmount")
    if isinstance(inclusive, Decimal) and isinstance(exclusive, Decimal):
        return inclusive - exclusive
    return None
