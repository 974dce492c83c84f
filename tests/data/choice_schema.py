"""A schema whose every value the page prints: whatever the tiny random model chooses is found
on the page, so its fields' confidence is the model's probability alone."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CHOICES = ("red", "green", "blue", "small", "large")
"""Every value a Choice can hold; a page that prints each once shows any answer."""


class Choice(BaseModel):
    """A colour and a size."""

    model_config = ConfigDict(extra="forbid")

    colour: Literal["red", "green", "blue"] = Field(description="The colour printed.")
    size: Literal["small", "large"] = Field(description="The size printed.")
