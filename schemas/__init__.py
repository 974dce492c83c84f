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
}

SCHEMA_SUMMARIES: dict[str, str] = {
    "invoice": "Invoices and credit notes: parties, line items, net/tax/grand totals.",
    "receipt": "Till receipts: merchant, date and time, items, tax, total, payment method.",
    "cn_vat_invoice": (
        "Chinese VAT invoices (增值税发票): codes, parties, items, totals in figures and words."
    ),
    "id_card": "Chinese resident ID cards (居民身份证): holder, birth date, address, ID number.",
    "bank_statement": "Bank statements: account, period, balances, signed transactions.",
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
    "Party",
    "PaymentMethod",
    "Receipt",
    "ReceiptItem",
    "RuleFinding",
    "Sex",
    "Transaction",
    "cn_amount_in_words",
    "iban_problem",
    "id_check_character",
    "parse_cn_amount",
    "vat_id_problem",
]
