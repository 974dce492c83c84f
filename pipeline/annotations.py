"""Reading Pydantic field annotations: the one place that strips Annotated and Optional."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

NoneType = type(None)


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(inner annotation, whether None is allowed), with Annotated and Optional removed.

    A union of several types other than None comes back as it is; a union of None alone as
    NoneType.
    """
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = get_args(annotation)
            others = [member for member in members if member is not NoneType]
            nullable = nullable or len(others) < len(members)
            if len(others) != 1:
                return (annotation if others else NoneType), nullable
            annotation = others[0]
        else:
            return annotation, nullable


def is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)
