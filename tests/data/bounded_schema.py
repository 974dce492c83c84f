"""A schema the tiny random model can always complete: every string has a bounded pattern,
every number bounds and every list a maximum length."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^[a-z]{1,6}$", description="Item code.")]
    amount: Annotated[int, Field(ge=0, le=999, description="Amount in whole units.")]


class Bounded(BaseModel):
    """A document reduced to a name, a score and up to two lines."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z]{1,8}$", description="Short lowercase name.")]
    score: Annotated[int, Field(ge=0, le=10, description="A score from 0 to 10.")]
    lines: Annotated[list[Line], Field(max_length=2, description="At most two lines.")]
