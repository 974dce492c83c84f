"""The page_text schema with text the tiny random model can always complete: each line's text a
short lowercase word, one to three lines (boxes as in page_text: four integers 0-1000)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.page_text import PageText, TextLine


class ShortLine(TextLine):
    text: Annotated[str, Field(pattern=r"^[a-z]{1,8}$", description="The line's text.")]


class BoundedPageText(PageText):
    """One to three short lines of a page, each with its box."""

    lines: Annotated[
        list[ShortLine], Field(min_length=1, max_length=3, description="One to three lines.")
    ]
