"""Till receipts from shops and restaurants."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, Field

from schemas.rules import RuleFinding, differs, total, warning
from schemas.types import (
    DocDate,
    Money,
    OptCurrency,
    OptMoney,
    OptText,
    OptTime,
    Text,
    blank_to_none,
    lenient_enum,
)


class PaymentMethod(StrEnum):
    """How the receipt was paid."""

    cash = "cash"
    card = "card"
    mobile = "mobile"
    other = "other"


_PAYMENT_SYNONYMS = {
    "bar": "cash", "barzahlung": "cash", "bargeld": "cash", "espèces": "cash", "especes": "cash",
    "efectivo": "cash", "contanti": "cash", "现金": "cash", "現金": "cash",
    "credit card": "card", "debit card": "card", "credit": "card", "debit": "card", "visa": "card",
    "mastercard": "card", "amex": "card", "maestro": "card", "ec": "card", "ec-karte": "card",
    "girocard": "card", "kreditkarte": "card", "karte": "card", "carte": "card",
    "carte bancaire": "card", "cb": "card", "tarjeta": "card", "银行卡": "card", "刷卡": "card",
    "信用卡": "card", "apple pay": "mobile", "google pay": "mobile", "samsung pay": "mobile",
    "alipay": "mobile", "支付宝": "mobile", "wechat": "mobile", "wechat pay": "mobile",
    "微信": "mobile", "微信支付": "mobile", "扫码": "mobile", "voucher": "other",
    "gift card": "other", "gutschein": "other",
}  # fmt: skip


class ReceiptItem(BaseModel):
    """One purchased item."""

    description: Text = Field(description="Item name as printed.")
    quantity: OptMoney = Field(None, description="Quantity, e.g. 2 or 0.5 (kg).")
    unit_price: OptMoney = Field(None, description="Price of one unit.")
    total: Money = Field(description="Amount charged for the item.")


class Receipt(BaseModel):
    """A till receipt: merchant, date, items and the total paid."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "total is the amount paid; tax is the tax contained or added, if printed.",
        "Discounts are items with a negative total.",
    )

    merchant_name: Text = Field(description="Shop or restaurant name.")
    merchant_address: OptText = Field(None, description="Shop address on one line.")
    date: DocDate = Field(description="Date of purchase.")
    time: OptTime = Field(None, description="Time of purchase, 24-hour.")
    currency: OptCurrency = Field(
        None, description="ISO 4217 code, if printed or implied by a symbol."
    )
    items: list[ReceiptItem] = Field(default_factory=list, description="Purchased items, in order.")
    tax: OptMoney = Field(None, description="Tax amount, if printed.")
    total: Money = Field(description="Total paid.")
    payment_method: Annotated[
        PaymentMethod | None,
        BeforeValidator(lenient_enum(PaymentMethod, _PAYMENT_SYNONYMS)),
        BeforeValidator(blank_to_none),
    ] = Field(None, description="cash, card, mobile or other.")

    def check_rules(self) -> list[RuleFinding]:
        """Item totals add up to the total, with or without the tax added."""
        if not self.items:
            return []
        items = total(item.total for item in self.items)
        tolerance = Decimal("0.01") * len(self.items)
        candidates = [items] + ([items + self.tax] if self.tax is not None else [])
        if all(differs(c, self.total, tolerance) for c in candidates):
            return [warning(
                "receipt.total_mismatch",
                f"item totals sum to {items}"
                + (f" (+ tax {self.tax})" if self.tax is not None else "")
                + f", total is {self.total}",
            )]  # fmt: skip
        return []
