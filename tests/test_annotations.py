"""Stripping Annotated and Optional from field annotations."""

from __future__ import annotations

from typing import Annotated, Optional, Union

from pydantic import Field

from pipeline.annotations import NoneType, is_union, unwrap_optional


def test_unwrap_optional() -> None:
    assert unwrap_optional(int) == (int, False)
    assert unwrap_optional(int | None) == (int, True)
    assert unwrap_optional(Optional[Annotated[int, Field(ge=0)]]) == (int, True)  # noqa: UP045
    assert unwrap_optional(Annotated[str | None, Field(max_length=3)]) == (str, True)
    inner, nullable = unwrap_optional(Union[int, str, None])  # noqa: UP007
    assert is_union(inner) and nullable
    assert unwrap_optional(NoneType) == (NoneType, False)
