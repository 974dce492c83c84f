"""What a run may write into an OUT that already holds rows; checked before it writes any.

- A dry run (the null engine, whose answers are placeholders) and a model never write into
  one OUT: the placeholders would stand beside the model's rows as current rows, and no reader
  could tell them apart by rule. Rows read from e-invoice XML (model `einvoice`) or from a PDF
  page's text layer (engine `text_layer`) are neither, and go with both. Which engine wrote
  what comes from the ledger.
- A table takes only parts of one Arrow schema: a schema whose columns differ from those of
  the parts already in OUT/<name>/ (a custom `Invoice` beside the built-in `invoice`, a `.py`
  and a `.json` version of one schema with Decimal and float amounts, a custom schema changed
  since) gets an error that names both, so every reader can read every table folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from pipeline.errors import DocextractError
from pipeline.items import DRY_RUN_ENGINE, EINVOICE_MODEL, TEXT_LAYER_ENGINE
from pipeline.output.arrow import arrow_type_for
from pipeline.output.ledger import Ledger
from pipeline.output.sink import (
    SOURCE_KEY,
    TABLES,
    documents_schema,
    errors_schema,
    fields_schema,
    lines_schema,
    run_of,
)


class MixedRows(DocextractError):
    """A dry run and a model would write their rows into one output folder."""


class TableMismatch(DocextractError):
    """A run's schema has other columns than the parts already in its table folder."""


def check_run_kind(out: Path, ledger: Ledger, engine: str, model: str) -> None:
    """Raise MixedRows when `engine` is the dry-run engine and OUT holds a model's rows, or
    it is a model's engine and OUT holds dry-run rows."""
    dry = engine == DRY_RUN_ENGINE
    for schema, their_model, their_engine in sorted(ledger.writers(), key=_writer_order):
        if their_model == EINVOICE_MODEL or their_engine == TEXT_LAYER_ENGINE:
            continue
        if (their_engine == DRY_RUN_ENGINE) == dry:
            continue
        if dry:
            raise MixedRows(
                f"{out} holds the rows model {their_model} extracted (table {schema}); a dry run "
                "with the null engine would add placeholder rows beside them: give it "
                "another --out"
            )
        raise MixedRows(
            f"{out} holds placeholder rows of a dry run with the null engine (table {schema}); "
            f"the rows of model {model} would stand beside them: give this run another "
            "--out, or delete that folder first"
        )


def _writer_order(writer: tuple[str, str, str | None]) -> tuple[str, str, str]:
    schema, model, engine = writer
    return schema, model, engine or ""


def check_table_schema(out: Path, name: str, source: str, model: type[BaseModel]) -> None:
    """Raise TableMismatch when a part under OUT/<name>/ has other columns than a run of
    `model` (the schema `source`, as `SchemaSpec.source` names it) writes there."""
    wanted = {
        "documents": documents_schema(arrow_type_for(model), {}),
        "errors": errors_schema({}),
        "fields": fields_schema({}),
        "lines": lines_schema({}),
    }
    for table in TABLES:
        for part in _one_part_per_run(out / name / table):
            found = pq.read_schema(part)
            if found.equals(wanted[table]):
                continue
            theirs = (found.metadata or {}).get(SOURCE_KEY.encode(), b"").decode()
            raise TableMismatch(
                f"{part.parent} holds rows of schema {theirs or repr(name)} whose columns "
                f"differ from those of this run's schema {source} "
                f"({_difference(found, wanted[table])}); give this run another --out, or "
                "give its model or schema file another name (the table is named after it)"
            )


def _one_part_per_run(folder: Path) -> list[Path]:
    """A part of each run that wrote into `folder`: all the parts of a run share columns."""
    parts: dict[str, Path] = {}
    for part in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else ():
        parts.setdefault(run_of(part), part)
    return list(parts.values())


def _difference(theirs: pa.Schema, ours: pa.Schema) -> str:
    """The first column, by its path (`data.grand_total`), in which two schemas differ."""
    return _first_difference(list(theirs), list(ours), "") or "the order of the columns"


def _first_difference(theirs: Sequence[pa.Field], ours: Sequence[pa.Field], at: str) -> str:
    mine = {field.name: field for field in ours}
    for field in theirs:
        path = at + field.name
        other = mine.pop(field.name, None)
        if other is None:
            return f"{path} is in the table, not in this schema"
        if field.equals(other):
            continue
        inside = _nested_difference(field.type, other.type, path)
        return inside or f"{path} is {_typed(field)} in the table, {_typed(other)} in this schema"
    return f"{at}{next(iter(mine))} is in this schema, not in the table" if mine else ""


def _nested_difference(theirs: pa.DataType, ours: pa.DataType, path: str) -> str:
    if pa.types.is_struct(theirs) and pa.types.is_struct(ours):
        return _first_difference(list(theirs), list(ours), path + ".")
    if pa.types.is_list(theirs) and pa.types.is_list(ours):
        return _nested_difference(theirs.value_type, ours.value_type, path + "[]")
    return ""


def _typed(field: pa.Field) -> str:
    return f"{field.type}" + ("" if field.nullable else " not null")
