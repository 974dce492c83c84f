"""Arrow mapping: every schema written to Parquet, read back (pyarrow and DuckDB), re-validated."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from pipeline.extract.catalog import resolve_schema
from pipeline.output.arrow import (
    DecimalOutOfRange,
    arrow_schema_for,
    arrow_type_for,
    from_arrow_value,
    to_arrow_value,
)
from schemas import BUILTIN_SCHEMAS, Invoice
from tests.test_schemas import GOOD


def _round_trip(model: type[BaseModel], instances: list[BaseModel], path: Path) -> list[Any]:
    struct = arrow_type_for(model)
    table = pa.Table.from_pylist(
        [{"data": to_arrow_value(i)} for i in instances], schema=pa.schema([("data", struct)])
    )
    pq.write_table(table, path)
    back = pq.read_table(path)
    assert back.schema.field("data").type == struct
    return [model.model_validate(from_arrow_value(model, r["data"])) for r in back.to_pylist()]


@pytest.mark.parametrize("name", list(BUILTIN_SCHEMAS))
def test_builtin_schemas_round_trip_through_parquet(name: str, tmp_path: Path) -> None:
    model = BUILTIN_SCHEMAS[name]
    instance = model.model_validate(GOOD[name]())
    path = tmp_path / f"{name}.parquet"
    assert _round_trip(model, [instance], path) == [instance]
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0]
    assert count == (1,)


def test_invoice_types_and_duckdb_queries(tmp_path: Path) -> None:
    struct = arrow_type_for(Invoice)
    assert struct.field("grand_total").type == pa.decimal128(18, 4)
    assert struct.field("issue_date").type == pa.date32()
    assert struct.field("currency").type == pa.string()
    assert not struct.field("grand_total").nullable and struct.field("due_date").nullable
    lines = struct.field("line_items").type
    assert pa.types.is_list(lines) and pa.types.is_struct(lines.value_type)
    assert arrow_schema_for(Invoice).names == list(Invoice.model_fields)

    instance = Invoice.model_validate(GOOD["invoice"]())
    path = tmp_path / "invoice.parquet"
    _round_trip(Invoice, [instance], path)
    row = duckdb.sql(
        f"SELECT data.grand_total, data.currency, data.issue_date, len(data.line_items), "
        f"data.seller.vat_id FROM read_parquet('{path}')"
    ).fetchall()[0]
    assert row == (Decimal("1189.7600"), "EUR", date(2024, 3, 1), 2, "DE264831574")


def test_receipt_time_and_optional_nulls(tmp_path: Path) -> None:
    model = BUILTIN_SCHEMAS["receipt"]
    full = model.model_validate(GOOD["receipt"]())
    bare = model.model_validate({"merchant_name": "Kiosk", "date": "2024-03-01", "total": "1"})
    assert arrow_type_for(model).field("time").type == pa.time64("us")
    assert _round_trip(model, [full, bare], tmp_path / "r.parquet") == [full, bare]


def test_decimal_quantised_and_out_of_range() -> None:
    data = GOOD["invoice"]()
    data["line_items"][0]["unit_price"] = "0.123456"
    value = to_arrow_value(Invoice.model_validate(data))
    assert value["line_items"][0]["unit_price"] == Decimal("0.1235")
    data["net_total"] = data["grand_total"] = "100000000000000"
    with pytest.raises(DecimalOutOfRange):
        to_arrow_value(Invoice.model_validate(data))


class Level(IntEnum):
    low = 1
    high = 2


class Inner(BaseModel):
    label: str
    weights: list[float] = []


class Odd(BaseModel):
    flag: bool
    count: int
    ratio: float | None
    stamp: datetime
    level: Level
    mode: Literal["a", "b"]
    extra: dict[str, Any]
    anything: Any = None
    either: int | str
    pair: tuple[int, str]
    inners: list[Inner]
    maybe_inner: Inner | None = None
    blob: bytes = b""
    at: time | None = None


def test_arbitrary_model_round_trips(tmp_path: Path) -> None:
    struct = arrow_type_for(Odd)
    types = {struct.field(i).name: struct.field(i).type for i in range(struct.num_fields)}
    assert types["flag"] == pa.bool_() and types["count"] == pa.int64()
    assert types["level"] == pa.int64() and types["mode"] == pa.string()
    assert types["extra"] == types["anything"] == types["either"] == types["pair"] == pa.string()
    assert types["stamp"] == pa.timestamp("us")
    odd = Odd(
        flag=True, count=3, ratio=None, stamp=datetime(2024, 3, 1, 9, 30), level=Level.high,
        mode="b", extra={"k": [1, 2]}, anything={"x": None}, either="seven", pair=(1, "x"),
        inners=[Inner(label="i", weights=[0.5])], blob=b"\x00\x01", at=time(8, 15),
    )  # fmt: skip
    assert _round_trip(Odd, [odd], tmp_path / "odd.parquet") == [odd]


def test_aware_datetimes_are_stored_in_utc() -> None:
    from datetime import timedelta, timezone

    stamp = datetime(2024, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    odd = Odd(
        flag=False, count=0, ratio=1.5, stamp=stamp, level=Level.low, mode="a", extra={},
        either=1, pair=(0, ""), inners=[],
    )  # fmt: skip
    assert to_arrow_value(odd)["stamp"] == datetime(2024, 3, 1, 9, 0)
    table = pa.Table.from_pylist([to_arrow_value(odd)], schema=arrow_schema_for(Odd))
    assert table.column("stamp")[0].as_py() == datetime(2024, 3, 1, 9, 0)


def test_json_schema_model_round_trips(tmp_path: Path) -> None:
    model = resolve_schema("tests/data/custom_schema.json").model
    note = model.model_validate({
        "note_number": "DN-0001", "delivered_on": "2024-03-01", "carrier": "ups",
        "weight_kg": 3.25, "value": "10.50", "packages": 1, "signed": False,
        "receiver": {"name": "R", "city": "C"}, "items": [{"name": "Box", "count": 2}],
    })  # fmt: skip
    struct = arrow_type_for(model)
    assert struct.field("value").type == pa.decimal128(18, 4)
    assert struct.field("weight_kg").type == pa.float64()
    assert pa.types.is_struct(struct.field("receiver").type)
    assert _round_trip(model, [note], tmp_path / "dn.parquet") == [note]
