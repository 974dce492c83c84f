"""`docextract export`: the current rows of one table as JSON lines or CSV.

Only rows that stand now are exported (`pipeline.output.current`), so an item done again
appears once; `models` keeps the rows of those models only. JSON lines keep nested data as it
is (decimals as strings, so no digit is lost; dates and times in ISO 8601). CSV has one column
per leaf field, named by its path (`data.seller.name`), and lists as JSON text.

A table whose parts cannot be read as one (an older docextract let a schema with other columns
into it) is exported part by part: JSON lines as they are, CSV under the union of the parts'
columns.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TextIO

import pyarrow as pa

from pipeline.errors import DocextractError
from pipeline.output.current import (
    UNUNIFIABLE,
    current_parts,
    current_table,
    list_schemas,
    missing_models,
)
from pipeline.output.sink import TABLES

ExportFormat = Literal["jsonl", "csv"]
FORMATS: tuple[str, ...] = ("jsonl", "csv")


class ExportSourceMissing(DocextractError):
    """OUT has no table to export (or several schemas and none was chosen)."""


def export_table(
    out: Path,
    fmt: ExportFormat,
    stream: TextIO,
    schema: str | None = None,
    table: str = "documents",
    models: Collection[str] = (),
) -> int:
    """Write the current rows of OUT/<schema>/<table> (of `models` only, when given) to
    `stream` as `fmt`; return how many.

    Without `schema`, OUT must hold exactly one. Raises ExportSourceMissing when there is
    nothing to choose from or a model has no rows, and ValueError for an unknown format or
    table.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    schema = schema or _only_schema(out)
    if (missing := missing_models(out, schema, models)) is not None:
        raise ExportSourceMissing(missing)
    pieces = _current_pieces(out, schema, table, models)
    if pieces is None:
        found = ", ".join(list_schemas(out)) or "none"
        raise ExportSourceMissing(
            f"{out}: no {table} table for schema {schema!r} (schemas here: {found})"
        )
    if fmt == "jsonl":
        return _write_jsonl(pieces, stream)
    return _write_csv(pieces, stream)


def _current_pieces(
    out: Path, schema: str, table: str, models: Collection[str]
) -> list[pa.Table] | None:
    """The current rows as one table, or part by part where the parts' columns cannot be
    unified; None when the table has no parts."""
    try:
        whole = current_table(out, schema, table, models)
    except UNUNIFIABLE:
        return current_parts(out, schema, table, models)
    return None if whole is None else [whole]


def export_to_path(
    out: Path,
    fmt: ExportFormat,
    path: Path,
    schema: str | None = None,
    table: str = "documents",
    models: Collection[str] = (),
) -> int:
    """`export_table` into a file, written under a temporary name and renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            count = export_table(out, fmt, handle, schema, table, models)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _only_schema(out: Path) -> str:
    schemas = list_schemas(out)
    if len(schemas) == 1:
        return schemas[0]
    if not schemas:
        raise ExportSourceMissing(f"{out}: no tables here (is it the OUT of `docextract run`?)")
    raise ExportSourceMissing(
        f"{out}: holds several schemas ({', '.join(schemas)}); choose one with --schema"
    )


def _write_jsonl(pieces: Sequence[pa.Table], stream: TextIO) -> int:
    count = 0
    for rows in pieces:
        for row in _rows(rows):
            stream.write(json.dumps(row, ensure_ascii=False, default=_json_value) + "\n")
            count += 1
    return count


def _write_csv(pieces: Sequence[pa.Table], stream: TextIO) -> int:
    """One header for every piece: the union of their leaf columns, in order; a cell of a
    column that a piece lacks is empty."""
    flat = [_flatten(rows) for rows in pieces]
    header = list(dict.fromkeys(name for rows in flat for name in rows.column_names))
    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for rows in flat:
        for row in _rows(rows):
            writer.writerow([_csv_value(row.get(name)) for name in header])
            count += 1
    return count


def _flatten(rows: pa.Table) -> pa.Table:
    """Struct columns become one column per field, `parent.child`, down to the leaves."""
    while any(pa.types.is_struct(field.type) for field in rows.schema):
        rows = rows.flatten()
    return rows


def _rows(rows: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in rows.to_batches(max_chunksize=1024):
        yield from batch.to_pylist()


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot export a {type(value).__name__}")


def iso_duration(value: timedelta) -> str:
    """ISO 8601 duration text, days and clock time: `PT1H30M`, `P2DT0.5S`, `-PT5M`."""
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    exact = f"{seconds}.{value.microseconds:06d}".rstrip("0") if value.microseconds else seconds
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    clock += f"{exact}S" if seconds or value.microseconds else ""
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}T{clock}" if clock else f"{sign}P{days or '0D'}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula in a CSV cell (OWASP, CSV injection)."""


def _csv_value(value: Any) -> Any:
    """A cell: text that a spreadsheet would run as a formula gets a leading apostrophe, so
    it stays text (`=HYPERLINK(...)` in a seller's name); numbers and dates are never text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=_json_value)
    if isinstance(value, Decimal | datetime | date | time | timedelta | bytes):
        return _json_value(value)
    return value
