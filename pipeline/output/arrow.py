"""Map any Pydantic model to an Arrow type, and its instances to values Arrow accepts.

Type mapping (works for built-in, custom and JSON-Schema-built models alike):

| Python | Arrow |
|---|---|
| nested BaseModel | struct |
| list / tuple[X, ...] / set | list |
| Decimal | decimal128(18, 4) |
| date / time / datetime | date32 / time64("us") / timestamp("us") |
| enum, Literal: ints, numbers, bools (Literal), else | int64 / float64 / bool / string |
| str, UUID, Path, URL, IP address, any other type | string (its text) |
| int / float / bool / bytes | int64 / float64 / bool / binary |
| dict, Any, unions of several types | string holding JSON (numbers as written) |
| `X | None`, a Literal that holds None | nullable X |

Decimal(18, 4): 14 integer digits (amounts up to 99,999,999,999,999.9999) and 4 decimals, enough
for money, unit prices and tax rates. Values are rounded half-up to 4 places (`rounded_decimals`
finds those that change, so that a row can say so); a value that does not fit raises
DecimalOutOfRange. Timezone-aware datetimes and times are stored as UTC without a zone.
Decimals inside JSON text are kept as the model wrote them (no rounding, no limit).
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
from pydantic import (
    AwareDatetime,
    BaseModel,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
)
from pydantic_core import to_jsonable_python

from pipeline.annotations import NoneType, is_union, unwrap_optional
from pipeline.errors import DocextractError

DECIMAL_PRECISION = 18
DECIMAL_SCALE = 4
_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)
_JSON = "json"
_PYDANTIC_SCALARS: dict[Any, type] = {
    AwareDatetime: datetime,
    NaiveDatetime: datetime,
    PastDatetime: datetime,
    FutureDatetime: datetime,
    PastDate: date,
    FutureDate: date,
}
"""pydantic's constrained dates and datetimes: classes of their own, not subclasses."""


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
        return NoneType, True
    if get_origin(inner) is Literal and None in get_args(inner):
        values = tuple(v for v in get_args(inner) if v is not None)
        return (Literal[values] if values else NoneType), True  # type: ignore[return-value]
    if _is_json(inner):
        return _JSON, nullable
    try:
        return _PYDANTIC_SCALARS.get(inner, inner), nullable
    except TypeError:  # an annotation that cannot be hashed is none of them
        return inner, nullable


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choices_arrow(values: Sequence[Any], bools: bool) -> pa.DataType:
    """The column of a set of choices (an enum's values, a Literal's): int64 for ints, float64
    for numbers, bool for bools (`bools`: Literals; an enum of bools stays text), else text."""
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if values and all(_is_number(v) for v in values):
        return pa.float64()
    if bools and values and all(isinstance(v, bool) for v in values):
        return pa.bool_()
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
        return _choices_arrow([m.value for m in tp], bools=False)
    if get_origin(tp) is Literal:
        return _choices_arrow(get_args(tp), bools=True)
    item = _list_item(tp)
    if item is not None:
        inner, nullable = _unwrap(item)
        return pa.list_(pa.field("item", _arrow_for(inner), nullable=nullable))
    if isinstance(tp, type):
        for python_type, arrow_type in _SCALARS:
            if issubclass(tp, python_type):
                return arrow_type
    return pa.string()


@functools.cache
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


def rounded_decimals(instance: BaseModel, path: str = "") -> Iterator[tuple[str, Decimal, Decimal]]:
    """(path, value, stored value) of each Decimal of `instance` that its decimal128 column
    stores rounded; paths read `line_items[0].unit_price`. Decimals inside JSON text are
    stored as written, so they are not listed."""
    for name, tp in _stored_fields(type(instance)):
        yield from _rounded_in(tp, getattr(instance, name), f"{path}.{name}" if path else name)


def _rounded_in(tp: Any, value: Any, path: str) -> Iterator[tuple[str, Decimal, Decimal]]:
    if value is None or tp is _JSON:
        return
    if isinstance(value, BaseModel):
        yield from rounded_decimals(value, path)
    elif (inner := _stored_item(tp)) is not None:
        for index, member in enumerate(value):
            yield from _rounded_in(inner, member, f"{path}[{index}]")
    elif isinstance(value, Decimal) and value.is_finite() and pa.types.is_decimal(_column(tp)):
        stored = _decimal(value)
        if stored != value:
            yield path, value, stored


def json_text(value: Any) -> str:
    """`value` as the JSON text of a JSON column: keys sorted, `, ` and `: ` between items, a
    Decimal as the number it is (as written, not as a string), a model as its fields."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, Mapping):
        pairs = sorted(((_key_text(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        inner = ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {json_text(v)}" for k, v in pairs)
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, set | frozenset):
        return "[" + ", ".join(sorted(json_text(v) for v in value)) + "]"
    return json.dumps(to_jsonable_python(value), ensure_ascii=False, sort_keys=True)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    plain = to_jsonable_python(key)
    return plain if isinstance(plain, str) else json.dumps(plain)


def _text(value: Any) -> str:
    """A value stored in a text column: bools as JSON writes them, everything else as str()."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _per_type(work: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`work` on an annotation, done once per annotation (it is asked for every value of every
    row); an annotation that cannot be hashed is worked out each time."""
    once = functools.cache(work)

    @functools.wraps(work)
    def lookup(tp: Any) -> Any:
        try:
            return once(tp)
        except TypeError:
            return work(tp)

    return lookup


@_per_type
def _column(tp: Any) -> pa.DataType:
    return _arrow_for(tp)


@_per_type
def _stored_item(tp: Any) -> Any | None:
    """The stored type of the items of a sequence type `tp`; None: not a sequence."""
    item = _list_item(tp)
    return None if item is None else _unwrap(item)[0]


def _utc_time(value: time) -> time:
    """A time of day with an offset as the UTC time it is, as aware datetimes are stored."""
    offset = value.utcoffset() or timedelta(0)
    return (datetime.combine(date(2000, 1, 2), value.replace(tzinfo=None)) - offset).time()


def _value_for(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if tp is _JSON or tp is Any or tp is object:
        return json_text(value)
    if _is_model(tp):
        return to_arrow_value(value)
    inner = _stored_item(tp)
    if inner is not None:
        return [_value_for(inner, v) for v in value]
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):  # the common kinds first: their columns are theirs
        return value
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, time) and value.tzinfo is not None:
        return _utc_time(value)
    if isinstance(value, date | time):
        return value
    if pa.types.is_string(_column(tp)):  # a number of a mixed Literal, a UUID, a URL, ...
        return _text(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValueOutOfRange(f"{value} does not fit int64")
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
        return json.loads(value, parse_float=Decimal)
    if _is_model(tp):
        return from_arrow_value(tp, value)
    inner = _stored_item(tp)
    if inner is not None:
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
