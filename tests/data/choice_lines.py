"""A page_text schema that the tiny random model can only answer with the choices page's words,
each in a box with an area: the five lines of `choices_pdf`, in the order it prints them, each
box's top-left corner in the grid's upper-left quarter and its bottom-right corner in the
lower-right one. Standing in for the built-in page_text as the `--model-boxes` reading, it
makes a random model's reading of the page hold every value a Choice can take, so each value
is located on it, at a box the model drew."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from schemas.page_text import PageText, TextLine
from tests.data.choice_schema import CHOICES

Near = Annotated[int, Field(ge=0, le=499)]
Far = Annotated[int, Field(ge=500, le=1000)]


def _line(word: str) -> Any:
    """A line whose text is `word` and whose box has an area by its grammar alone."""
    return create_model(
        f"{word.title()}Line",
        __base__=TextLine,
        text=(Literal[word], Field(description="The line's text.")),  # type: ignore[valid-type]
        bbox_2d=(tuple[Near, Near, Far, Far], Field(description="[x0, y0, x1, y1]")),
    )


class ChoiceLines(PageText):
    """The choices page's five lines, each with its box."""

    lines: tuple[tuple(_line(word) for word in CHOICES)]  # type: ignore[valid-type]
