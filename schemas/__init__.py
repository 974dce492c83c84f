"""Built-in document schemas: Pydantic models with normalising field types and business rules.

This package imports nothing from `pipeline`; it can be used on its own to validate data.
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas.bank_statement import BankStatement, Transaction
from schemas.cn_vat_invoice import CnVatInvoice, CnVatItem
from schemas.currency import Currency
from schemas.id_card import IdCard, Sex
from schemas.invoice import Invoice, InvoiceKind, InvoiceLine, Party
from schemas.medical_invoice import MedicalInvoice, MedicalItem, VisitType
from schemas.page_text import PageText, TextLine
from schemas.property_certificate import PropertyCertificate
from schemas.receipt import PaymentMethod, Receipt, ReceiptItem
from schemas.rules import (
    RuleFinding,
    cn_amount_in_words,
    iban_problem,
    id_check_character,
    parse_cn_amount,
    vat_id_problem,
)

BUILTIN_SCHEMAS: dict[str, type[BaseModel]] = {
    "invoice": Invoice,
    "receipt": Receipt,
    "cn_vat_invoice": CnVatInvoice,
    "id_card": IdCard,
    "bank_statement": BankStatement,
    "medical_invoice": MedicalInvoice,
    "property_certificate": PropertyCertificate,
    "page_text": PageText,
}

SCHEMA_SUMMARIES: dict[str, str] = {
    "invoice": "Invoices and credit notes: parties, line items, net/tax/grand totals.",
    "receipt": "Till receipts: merchant, date and time, items, tax, total, payment method.",
    "cn_vat_invoice": (
        "Chinese VAT invoices (增值税发票): codes, parties, items, totals in figures and words."
    ),
    "id_card": "Chinese resident ID cards (居民身份证): holder, birth date, address, ID number.",
    "bank_statement": "Bank statements: account, period, balances, signed transactions.",
    "medical_invoice": (
        "Chinese medical invoices (医疗收费票据): hospital, patient, insurance, charges by "
        "category, fund/account/cash payments, total in figures and words."
    ),
    "property_certificate": (
        "Chinese real-property certificates (不动产权证书): holders, location, 28-character unit "
        "number, rights, use, areas, term of use."
    ),
    "page_text": (
        "All the text of a page (全文及位置): every line with its box, in reading order, one row "
        "per page; born-digital PDF pages from their text layer, scans by the model."
    ),
}

__all__ = [
    "BUILTIN_SCHEMAS",
    "SCHEMA_SUMMARIES",
    "BankStatement",
    "CnVatInvoice",
    "CnVatItem",
    "Currency",
    "IdCard",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "MedicalInvoice",
    "MedicalItem",
    "PageText",
    "Party",
    "PaymentMethod",
    "Receipt",
    "PropertyCertificate",
    "ReceiptItem",
    "RuleFinding",
    "Sex",
    "TextLine",
    "Transaction",
    "VisitType",
    "cn_amount_in_words",
    "iban_problem",
    "id_check_character",
    "parse_cn_amount",
    "vat_id_problem",
]
