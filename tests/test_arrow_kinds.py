"""Field types beyond the built-in schemas' (UUIDs, URLs, number enums, mixed Literals, times
with an offset, numbers inside JSON columns) are stored, written by the real Parquet writer
and read back; an answer that no column can hold fails alone, and the rest of its run lands."""

from __future__ import annotations

import hashlib
import json
import textwrap
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AwareDatetime, BaseModel, HttpUrl

from pipeline.config import load_config
from pipeline.errors import ErrorCode
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.validate import validate_answer
from pipeline.output.arrow import arrow_schema_for, json_text, rounded_decimals, to_arrow_value
from pipeline.run import run_extraction
from tests.run_helpers import AnswersByDocument, make_unique_pdf, read_table


class Rate(float, Enum):
    reduced = 0.07
    standard = 0.19


class Mixed(Enum):
    one = 1
    two = "two"


class Kinds(BaseModel):
    id: uuid.UUID
    site: HttpUrl
    host: IPv4Address
    folder: Path
    seen: AwareDatetime
    opens: time
    rate: Rate
    mixed: Mixed
    choice: Literal["a", 1]
    answer: Literal[True, "maybe"]
    status: Literal[None, "paid", "open"]
    nothing: None = None
    extra: dict[str, Any]


def _kinds() -> Kinds:
    return Kinds.model_validate_json(json.dumps({
        "id": "12345678-1234-5678-1234-567812345678", "site": "https://example.com/x?q=1",
        "host": "10.0.0.1", "folder": "in/a.pdf", "seen": "2024-03-01T10:00:00+02:00",
        "opens": "01:30:00+02:00", "rate": 0.19, "mixed": "two", "choice": 1,
        "answer": True, "status": None, "extra": {"count": 7, "rate": 0.19},
    }))  # fmt: skip


def test_every_kind_is_written_by_parquet_and_read_back(tmp_path: Path) -> None:
    schema = arrow_schema_for(Kinds)
    assert schema.field("rate").type == pa.float64() and schema.field("mixed").type == pa.string()
    assert schema.field("seen").type == pa.timestamp("us")
    assert schema.field("status").nullable and schema.field("nothing").nullable
    pq.write_table(pa.Table.from_pylist([to_arrow_value(_kinds())], schema=schema), tmp_path / "k")
    (row,) = pq.read_table(tmp_path / "k").to_pylist()
    assert row == {
        "id": "12345678-1234-5678-1234-567812345678", "site": "https://example.com/x?q=1",
        "host": "10.0.0.1", "folder": "in/a.pdf", "seen": datetime(2024, 3, 1, 8, 0),
        "opens": time(23, 30), "rate": 0.19, "mixed": "two", "choice": "1", "answer": "true",
        "status": None, "nothing": None, "extra": '{"count": 7, "rate": 0.19}',
    }  # fmt: skip


def test_json_columns_keep_numbers_as_the_model_wrote_them() -> None:
    text = json_text({"b": Decimal("1E+20"), "a": [Decimal("1.234567"), 2, None, "x"]})
    assert text == '{"a": [1.234567, 2, null, "x"], "b": 1E+20}'
    assert json.loads(text) == {"a": [1.234567, 2, None, "x"], "b": 1e20}
    assert json_text({"s": {3, 1, 2}, 1: date(2024, 1, 2)}) == '{"1": "2024-01-02", "s": [1, 2, 3]}'

    class Reading(BaseModel):
        extra: dict[str, Any]
        price: Decimal

    reading = validate_answer('{"extra": {"v": 1e20, "p": 1.234567}, "price": 1.23456}', Reading)
    assert reading.error_code is None, reading.message
    assert reading.instance is not None
    assert list(rounded_decimals(reading.instance)) == [
        ("price", Decimal("1.23456"), Decimal("1.2346"))
    ]  # the JSON column is not rounded and has no limit


def test_a_number_enum_of_a_json_schema_takes_the_exact_answer(tmp_path: Path) -> None:
    path = tmp_path / "rate.json"
    path.write_text(json.dumps({"type": "object", "required": ["vat_rate", "kind"], "properties": {
        "vat_rate": {"type": "number", "enum": [0.07, 0.19]}, "kind": {"const": 1.5}}}))
    model = resolve_schema(str(path)).model
    ok = validate_answer('{"vat_rate": 0.07, "kind": 1.5}', model)
    assert ok.error_code is None, ok.message
    assert to_arrow_value(ok.instance) == {"vat_rate": 0.07, "kind": 1.5}  # type: ignore[arg-type]
    wrong = validate_answer('{"vat_rate": 0.070001, "kind": 1.5}', model)
    assert wrong.error_code is ErrorCode.SCHEMA_VIOLATION


def test_a_time_with_an_offset_is_stored_in_utc_as_datetimes_are() -> None:
    class Opening(BaseModel):
        at: time

    east = Opening(at=time(10, 0, tzinfo=timezone(timedelta(hours=2))))
    assert to_arrow_value(east) == {"at": time(8, 0)}
    assert to_arrow_value(Opening(at=time(10, 0, tzinfo=UTC))) == {"at": time(10, 0)}


_SCHEMA = '''
from pydantic import BaseModel


class Reading(BaseModel):
    meter: str
    note: str = None  # a default that is not of the field's type: no column can hold it
'''


def test_an_answer_no_column_can_hold_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "reading.py").write_text(textwrap.dedent(_SCHEMA))
    inbox = tmp_path / "in"
    inbox.mkdir()
    answers = {}
    for name in ("a", "b", "c"):
        make_unique_pdf(inbox / f"{name}.pdf", 1, name.upper())
        answer = {"meter": name} if name == "b" else {"meter": name, "note": "read"}
        answers[hashlib.sha256((inbox / f"{name}.pdf").read_bytes()).hexdigest()] = json.dumps(
            answer
        )
    flags = {"inputs": [str(inbox)], "out": str(tmp_path / "out"), "retries": 0,
             "schema_ref": f"{tmp_path / 'reading.py'}:Reading", "log_format": "plain",
             "render": {"workers": 1}}  # fmt: skip
    report = run_extraction(load_config(flags, env={}), engine=AnswersByDocument(answers))
    assert (report.extracted, report.failed) == (2, 1)
    rows = read_table(tmp_path / "out", "reading", "documents")
    assert sorted(r["data"]["meter"] for r in rows) == ["a", "c"]
    (error,) = read_table(tmp_path / "out", "reading", "errors")
    assert error["code"] == "schema_violation" and "note" in error["message"]
    assert error["source_path"] == str(inbox / "b.pdf")


def test_durations_export_as_iso_8601() -> None:
    from pipeline.output.export import _csv_value, _json_value, iso_duration

    assert [iso_duration(v) for v in (timedelta(hours=1, minutes=30), timedelta(0),
            timedelta(days=2, microseconds=500000), -timedelta(minutes=5))] == [
        "PT1H30M", "P0D", "P2DT0.5S", "-PT5M"]  # fmt: skip
    assert json.dumps({"d": timedelta(seconds=7)}, default=_json_value) == '{"d": "PT7S"}'
    assert _csv_value(timedelta(days=1)) == "P1D"


def test_the_fields_table_shows_numbers_in_plain_notation() -> None:
    from pipeline.grounding.locate import value_text

    assert [value_text(v) for v in (Decimal("2.5E-7"), Decimal("1.5E+3"), 1e-07, Rate.reduced)] == [
        "0.00000025", "1500", "0.0000001", "0.07"]  # fmt: skip
