"""Bank account statements."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, Field

from schemas.rules import RuleFinding, differs, error, iban_problem, total, warning
from schemas.types import CurrencyCode, DocDate, Money, OptCode, OptMoney, OptText, Text


class Transaction(BaseModel):
    """One booked transaction."""

    date: DocDate = Field(description="Booking date.")
    description: Text = Field(description="Counterparty and reference as printed.")
    amount: Money = Field(description="Signed amount: credits positive, debits negative.")
    balance: OptMoney = Field(
        None, description="Running balance after the transaction, if printed."
    )


class BankStatement(BaseModel):
    """A bank account statement: account, period, balances and transactions."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "amount is signed: money in (credit, Haben, H) positive, money out (debit, Soll, S) "
        "negative.",
        "opening_balance is the balance before the first transaction of the period, "
        "closing_balance the balance after the last.",
    )

    account_holder: Text = Field(description="Name of the account holder.")
    bank_name: OptText = Field(None, description="Name of the bank.")
    account_number: OptCode = Field(None, description="Account number, if printed.")
    iban: OptCode = Field(None, description="IBAN without spaces, if printed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the account, e.g. EUR.")
    period_start: DocDate = Field(description="First day of the statement period.")
    period_end: DocDate = Field(description="Last day of the statement period.")
    opening_balance: Money = Field(description="Balance at the start of the period.")
    closing_balance: Money = Field(description="Balance at the end of the period.")
    transactions: list[Transaction] = Field(
        default_factory=list, description="Transactions in statement order."
    )

    def check_rules(self) -> list[RuleFinding]:
        """Opening balance plus all amounts equals the closing balance; the period is ordered; the
        IBAN has valid check digits (a warning)."""
        findings: list[RuleFinding] = []
        moved = total(t.amount for t in self.transactions)
        if differs(self.opening_balance + moved, self.closing_balance, Decimal("0.005")):
            findings.append(error(
                "bank_statement.unreconciled",
                f"opening {self.opening_balance} + transactions {moved} = "
                f"{self.opening_balance + moved}, closing is {self.closing_balance}",
            ))  # fmt: skip
        if self.period_end < self.period_start:
            findings.append(error(
                "bank_statement.period_order",
                f"period_end {self.period_end} is before period_start {self.period_start}",
            ))  # fmt: skip
        if self.iban and (problem := iban_problem(self.iban)):
            findings.append(warning("bank_statement.iban_invalid", f"iban {self.iban}: {problem}"))
        return findings
