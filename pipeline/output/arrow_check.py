"""Whether an answer's values fit the columns they go in, checked before a part is written.

A part holds the rows of many answers, and pyarrow or the Parquet writer refuse a whole part for
one value that is not of its column's kind, or one missing where the column needs a value; so
each answer is checked on its own first (`checked_arrow_value`), and one that does not fit fails
alone, as a schema_violation naming the field.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from pipeline.output.arrow import ValueOutOfRange, arrow_type_for, to_arrow_value


def checked_arrow_value(instance: BaseModel) -> dict[str, Any]:
    """`to_arrow_value(instance)`, checked against its columns as pyarrow and the Parquet
    writer check them: raises ValueOutOfRange, naming the field, where a value is not of its
    column's kind or a column that needs a value has none, so that the answer fails alone
    rather than the part of the table it would be written in. The check is Python's alone:
    building an Arrow array per answer would cost the process tens of MiB of arenas."""
    value = to_arrow_value(instance)
    if (problem := _unfit(arrow_type_for(type(instance)), value, "")) is not None:
        raise ValueOutOfRange(problem)
    return value


_KINDS: tuple[tuple[Any, type | tuple[type, ...]], ...] = (
    (pa.types.is_string, str),
    (pa.types.is_boolean, bool),
    (pa.types.is_int64, int),
    (pa.types.is_float64, (int, float)),
    (pa.types.is_decimal, Decimal),
    (pa.types.is_timestamp, datetime),
    (pa.types.is_date32, date),
    (pa.types.is_time64, time),
    (pa.types.is_duration, timedelta),
    (pa.types.is_binary, bytes),
)


def _unfit(dtype: pa.DataType, value: Any, path: str) -> str | None:
    """Why `value` cannot go in a column of `dtype` (the first problem, with its path)."""
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            return f"{path or 'the answer'}: {type(value).__name__} where fields are stored"
        members = [(f, value.get(f.name), f.name) for f in _children(dtype)]
    elif pa.types.is_list(dtype):
        if not isinstance(value, list):
            return f"{path}: {type(value).__name__} where a list is stored"
        members = [(dtype.value_field, v, i) for i, v in enumerate(value)]
    else:
        kind = _kind(dtype)
        bad = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        if isinstance(value, datetime) and kind is date:  # a datetime is a date to isinstance
            bad = True
        return f"{path}: {type(value).__name__} where {dtype} is stored" if bad else None
    for field, member, key in members:
        if member is None and field.nullable:
            continue
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip(".")
        if member is None:
            return f"{where}: no value, and its column needs one"
        if (found := _unfit(field.type, member, where)) is not None:
            return found
    return None


@functools.cache
def _children(struct: pa.StructType) -> tuple[pa.Field, ...]:
    return tuple(struct.field(i) for i in range(struct.num_fields))


@functools.cache
def _kind(dtype: pa.DataType) -> type | tuple[type, ...]:
    return next((python for test, python in _KINDS if test(dtype)), object)
