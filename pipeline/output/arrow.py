"""Map any Pydantic model to an Arrow type, and its instances to values Arrow accepts.

Type mapping (works for built-in, custom and JSON-Schema-built models alike):

| Python | Arrow |
|---|---|
| nested BaseModel | struct |
| list / tuple[X, ...] / set | list |
| Decimal | decimal128(18, 4) |
| date / time / datetime | date32 / time64("us") / timestamp("us") |
| enum, Literal of strings, str, UUID, Path | string (enum value) |
| int / float / bool / bytes | int64 / float64 / bool / binary |
| dict, Any, unions of several types | string holding JSON |
| `X | None` | nullable X |

Decimal(18, 4): 14 integer digits (amounts up to 99,999,999,999,999.9999) and 4 decimals, enough
for money, unit prices and tax rates. Values are rounded half-up to 4 places (`rounded_decimals`
finds those that change, so that a row can say so); a value that does not fit raises
DecimalOutOfRange. Timezone-aware datetimes are stored as UTC without a zone.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from pipeline.annotations import NoneType, is_union, unwrap_optional
from pipeline.errors import DocextractError

DECIMAL_PRECISION = 18
DECIMAL_SCALE = 4
_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)
_JSON = "json"


class ValueOutOfRange(DocextractError, ValueError):
    """A value does not fit its Arrow column type (int64, decimal128(18, 4))."""


class DecimalOutOfRange(ValueOutOfRange):
    """A Decimal does not fit the Parquet column type decimal128(18, 4)."""


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """Strip Annotated and Optional: (inner type, nullable); unions of several types and
    free-form types are stored as JSON text."""
    inner, nullable = unwrap_optional(tp)
    if is_union(inner):
        return _JSON, nullable
    if inner is NoneType:
        return NoneType, nullable
    return (_JSON if _is_json(inner) else inner), nullable


def _is_json(tp: Any) -> bool:
    """Mappings, fixed-size tuples and untyped containers are stored as JSON text."""
    origin = get_origin(tp) or tp
    if origin in (dict, Mapping, typing.Mapping, typing.Dict):  # noqa: UP006
        return True
    if origin is tuple:
        args = get_args(tp)
        return not (len(args) == 2 and args[1] is Ellipsis)
    return False


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _enum_arrow(tp: type[Enum]) -> pa.DataType:
    values = [m.value for m in tp]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    return pa.string()


def _list_item(tp: Any) -> Any | None:
    """The item type of a homogeneous sequence annotation, else None."""
    origin = get_origin(tp) or tp
    args = get_args(tp)
    if origin in (list, set, frozenset, Sequence, typing.Sequence):
        return args[0] if args else Any
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


_SCALARS: list[tuple[type, pa.DataType]] = [
    (bool, pa.bool_()),
    (int, pa.int64()),
    (float, pa.float64()),
    (Decimal, pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)),
    (datetime, pa.timestamp("us")),
    (date, pa.date32()),
    (time, pa.time64("us")),
    (timedelta, pa.duration("us")),
    (bytes, pa.binary()),
    (str, pa.string()),
]


def _arrow_for(tp: Any) -> pa.DataType:
    if tp is _JSON or tp is Any or tp is object:
        return pa.string()
    if _is_model(tp):
        return arrow_type_for(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum_arrow(tp)
    if get_origin(tp) is Literal:
        values = get_args(tp)
        if all(isinstance(v, bool) for v in values):
            return pa.bool_()
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return pa.int64()
        return pa.string()
    item = _list_item(tp)
    if item is not None:
        inner, nullable = _unwrap(item)
        return pa.list_(pa.field("item", _arrow_for(inner), nullable=nullable))
    if isinstance(tp, type):
        for python_type, arrow_type in _SCALARS:
            if issubclass(tp, python_type):
                return arrow_type
    return pa.string()


def arrow_type_for(model: type[BaseModel]) -> pa.StructType:
    """The Arrow struct type of `model`: one child per field, nullable where Optional."""
    fields = []
    for name, info in model.model_fields.items():
        inner, nullable = _unwrap(info.annotation)
        fields.append(pa.field(name, _arrow_for(inner), nullable=nullable))
    return pa.struct(fields)


def arrow_schema_for(model: type[BaseModel]) -> pa.Schema:
    """The fields of `arrow_type_for(model)` as a table schema."""
    struct = arrow_type_for(model)
    return pa.schema([struct.field(i) for i in range(struct.num_fields)])


def _decimal(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise DecimalOutOfRange(f"{value} cannot be stored")
    too_wide = value.adjusted() >= DECIMAL_PRECISION - DECIMAL_SCALE  # before quantize can trap
    quantised = value if too_wide else value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    if too_wide or abs(quantised) >= _DECIMAL_LIMIT:
        raise DecimalOutOfRange(
            f"{value} does not fit decimal128({DECIMAL_PRECISION}, {DECIMAL_SCALE})"
        )
    return quantised


def rounded_decimals(value: Any, path: str = "") -> Iterator[tuple[str, Decimal, Decimal]]:
    """(path, value, stored value) of each Decimal under `value` (the dump of an instance
    `to_arrow_value` accepts: dicts, lists) that its decimal128 column stores rounded, stored as
    `to_arrow_value` stores it; paths read `line_items[0].unit_price`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from rounded_decimals(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from rounded_decimals(item, f"{path}[{index}]")
    elif isinstance(value, Decimal) and value.is_finite():
        stored = _decimal(value)
        if stored != value:
            yield path, value, stored


def _value_for(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if tp is _JSON or tp is Any or tp is object:
        return json.dumps(to_jsonable_python(value), ensure_ascii=False, sort_keys=True)
    if _is_model(tp):
        return to_arrow_value(value)
    if isinstance(value, Enum):
        return value.value
    item = _list_item(tp)
    if item is not None:
        inner, _ = _unwrap(item)
        return [_value_for(inner, v) for v in value]
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValueOutOfRange(f"{value} does not fit int64")
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, time) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(tp, type) and not isinstance(value, tp) and pa.types.is_string(_arrow_for(tp)):
        return str(value)
    return value


def to_arrow_value(instance: BaseModel) -> dict[str, Any]:
    """The instance as a dict of Python values that pyarrow accepts for `arrow_type_for`."""
    return {
        name: _value_for(inner, getattr(instance, name))
        for name, inner in _stored_fields(type(instance))
    }


@functools.cache
def _stored_fields(model: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """(name, stored type) of each field of `model`: worked out once per model, not per row."""
    return tuple((name, _unwrap(info.annotation)[0]) for name, info in model.model_fields.items())


def _value_from(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if tp is _JSON or tp is Any or tp is object:
        return json.loads(value)
    if _is_model(tp):
        return from_arrow_value(tp, value)
    item = _list_item(tp)
    if item is not None:
        inner, _ = _unwrap(item)
        return [_value_from(inner, v) for v in value]
    return value


def from_arrow_value(model: type[BaseModel], row: Mapping[str, Any]) -> dict[str, Any]:
    """Undo `to_arrow_value` for a row read back from Arrow: JSON columns are decoded, so
    `model.model_validate(from_arrow_value(model, row))` rebuilds the instance."""
    result: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in row:
            inner, _ = _unwrap(info.annotation)
            result[name] = _value_from(inner, row[name])
    return result
