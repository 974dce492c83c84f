"""Commercial invoices and credit notes."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, Field

from schemas.rules import (
    RuleFinding,
    differs,
    error,
    iban_problem,
    total,
    vat_id_problem,
    warning,
)
from schemas.types import (
    CurrencyCode,
    DocDate,
    Identifier,
    Money,
    OptCode,
    OptDate,
    OptMoney,
    OptText,
    Text,
    lenient_enum,
)


class InvoiceKind(StrEnum):
    """Whether the document bills the buyer or refunds them."""

    invoice = "invoice"
    credit_note = "credit_note"


_KIND_SYNONYMS = {
    "tax invoice": "invoice", "bill": "invoice", "rechnung": "invoice", "facture": "invoice",
    "factura": "invoice", "fattura": "invoice", "发票": "invoice", "請求書": "invoice",
    "credit": "credit_note", "credit memo": "credit_note", "credit note": "credit_note",
    "gutschrift": "credit_note", "rechnungskorrektur": "credit_note", "avoir": "credit_note",
    "nota de crédito": "credit_note", "nota di credito": "credit_note", "红字发票": "credit_note",
}  # fmt: skip


class Party(BaseModel):
    """A seller or buyer as printed on the invoice."""

    name: Text = Field(description="Legal or trading name.")
    address: OptText = Field(None, description="Postal address on one line.")
    vat_id: OptCode = Field(None, description="VAT identification number, e.g. DE123456789.")
    tax_id: OptCode = Field(None, description="Other tax number (national tax id), if printed.")
    iban: OptCode = Field(None, description="IBAN for payment, without spaces.")


class InvoiceLine(BaseModel):
    """One billed line."""

    description: Text = Field(description="What was sold, as printed.")
    quantity: OptMoney = Field(None, description="Quantity billed.")
    unit: OptText = Field(None, description="Unit of the quantity, e.g. pcs, h, kg.")
    unit_price: OptMoney = Field(None, description="Net price of one unit.")
    line_total: Money = Field(description="Net amount of the line (before tax).")
    tax_rate: OptMoney = Field(None, description="Tax rate in percent, e.g. 19 for 19 %.")


class Invoice(BaseModel):
    """A commercial invoice or credit note: parties, lines and totals."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "kind is credit_note only when the document says so (credit note, Gutschrift, avoir).",
        "net_total is the sum before tax, tax_total the sum of all taxes, grand_total what the "
        "document totals including tax; amount_due is the amount still to pay if printed apart.",
        "allowance_total and charge_total are document-level discounts and surcharges only; "
        "leave them empty when the document has none.",
        "Copy VAT ids and IBANs exactly, without spaces.",
    )

    invoice_number: Identifier = Field(
        description="Invoice number as printed (the key accounting matches on: kept exactly, "
        "only surrounding whitespace trimmed)."
    )
    kind: Annotated[InvoiceKind, BeforeValidator(lenient_enum(InvoiceKind, _KIND_SYNONYMS))] = (
        Field(description="invoice or credit_note.")
    )
    issue_date: DocDate = Field(description="Date the invoice was issued.")
    due_date: OptDate = Field(None, description="Payment due date, if printed.")
    seller: Party = Field(description="The party issuing the invoice.")
    buyer: Party = Field(description="The party billed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the amounts, e.g. EUR.")
    line_items: list[InvoiceLine] = Field(
        default_factory=list, description="Billed lines, in order."
    )
    net_total: Money = Field(description="Total before tax.")
    allowance_total: OptMoney = Field(
        None,
        description="Sum of allowances (discounts) on the whole document, not on a line, "
        "if printed.",
    )
    charge_total: OptMoney = Field(
        None,
        description="Sum of charges (e.g. freight, packing) on the whole document, not on a "
        "line, if printed.",
    )
    tax_total: Money = Field(description="Total tax.")
    grand_total: Money = Field(description="Total including tax.")
    amount_due: OptMoney = Field(None, description="Amount still to pay, if printed.")
    payment_terms: OptText = Field(None, description="Payment terms as printed.")

    def check_rules(self) -> list[RuleFinding]:
        """Line totals add up to the net total, net plus tax to the grand total, dates in order;
        the parties' EU VAT ids and IBANs have valid check digits (warnings)."""
        findings: list[RuleFinding] = []
        if self.line_items:
            lines = total(line.line_total for line in self.line_items)
            tolerance = Decimal("0.01") * len(self.line_items)
            signs_match = not differs(lines, self.net_total, tolerance)
            refund_match = self.kind is InvoiceKind.credit_note and not differs(
                -lines, self.net_total, tolerance
            )
            if not (signs_match or refund_match):
                findings.append(error(
                    "invoice.line_sum_mismatch",
                    f"line totals sum to {lines}, net_total is {self.net_total}",
                ))  # fmt: skip
        if differs(self.taxable_total + self.tax_total, self.grand_total, "0.02"):
            findings.append(error(
                "invoice.total_mismatch",
                f"net_total {self.net_total}{self._adjustments()} + tax_total {self.tax_total} "
                f"!= grand_total {self.grand_total}",
            ))  # fmt: skip
        if self.due_date is not None and self.due_date < self.issue_date:
            findings.append(error(
                "invoice.due_before_issue",
                f"due_date {self.due_date} is before issue_date {self.issue_date}",
            ))  # fmt: skip
        if self.amount_due is not None and abs(self.amount_due) > abs(self.grand_total) + Decimal(
            "0.01"
        ):
            findings.append(warning(
                "invoice.amount_due_exceeds_total",
                f"amount_due {self.amount_due} exceeds grand_total {self.grand_total}",
            ))  # fmt: skip
        return findings + self._identifier_findings()

    @property
    def taxable_total(self) -> Decimal:
        """net_total plus document-level charges minus allowances (EN 16931 BT-109)."""
        return self.net_total + (self.charge_total or 0) - (self.allowance_total or 0)

    def _adjustments(self) -> str:
        charges = f" + charge_total {self.charge_total}" if self.charge_total else ""
        allowances = f" - allowance_total {self.allowance_total}" if self.allowance_total else ""
        return charges + allowances

    def _identifier_findings(self) -> list[RuleFinding]:
        """`invoice.vat_id_invalid` and `invoice.iban_invalid` warnings, seller first."""
        findings: list[RuleFinding] = []
        for role, party in (("seller", self.seller), ("buyer", self.buyer)):
            if party.vat_id and (problem := vat_id_problem(party.vat_id)):
                message = f"{role}.vat_id {party.vat_id}: {problem}"
                findings.append(warning("invoice.vat_id_invalid", message))
            if party.iban and (problem := iban_problem(party.iban)):
                message = f"{role}.iban {party.iban}: {problem}"
                findings.append(warning("invoice.iban_invalid", message))
        return findings
