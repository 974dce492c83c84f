"""A user-defined schema, as a project outside docextract would write one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class Priority(StrEnum):
    """How urgent the order is."""

    low = "low"
    high = "high"


class OrderLine(BaseModel):
    """One ordered article."""

    sku: str = Field(pattern=r"^[A-Z]{3}-\d{3}$", description="Article number, e.g. ABC-123.")
    quantity: int = Field(ge=1, le=999, description="Pieces ordered.")


class Model(BaseModel):
    """A purchase order."""

    order_id: str = Field(min_length=4, max_length=12, description="Order number.")
    ordered_on: date = Field(description="Order date.")
    priority: Priority = Field(description="low or high.")
    amount: Decimal = Field(description="Order value.")
    lines: list[OrderLine] = Field(default_factory=list, description="Ordered articles.")
    note: str | None = Field(None, description="Free text.")
