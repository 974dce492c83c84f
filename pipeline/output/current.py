"""Which rows of a schema's tables stand now: the current-rows rule.

Part files are never rewritten, so an item committed again (--force, --retry-errors, a transient
failure tried again) leaves its older row in an older part. The rule that resolves them, over
both tables of one schema (documents and errors):

1. Of the rows of one item (`item_id`, `prompt_hash`, `model`), only the newest (`created_at`)
   stands, in whichever table it is.
2. An errors row of a whole document (`item_id = doc_id`) no longer stands once a documents
   row of one of its pages (`page` set) with the same prompt and model is newer (--per-page
   after `too_many_pages`).
3. An errors row with a transient code (engine_error, engine_timeout, engine_unavailable,
   changed), or of a file that had no content to read (`item_id` `path:...`: not found, empty,
   unreadable), no longer stands once a documents row, or an errors row with a code that is
   not transient, of the same `source_path`, prompt and model but another `item_id` is newer
   (the file's new content was extracted, or failed for good).

These are the ledger's own rules (`pipeline.policy`), read from the rows alone: the ledger is
not needed to read the tables. A fields or lines row stands with its documents row (the same
item and `created_at`); one whose documents row was never committed (a run killed between the
two parts) stands never. `current_table` applies them with pyarrow; `current_view_sql` gives the
same as DuckDB views.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.items import PATH_ITEM, is_page_item, is_path_item
from pipeline.output.sink import TABLES
from pipeline.policy import TRANSIENT_CODES

UNUNIFIABLE = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
"""What concatenating parts whose columns cannot be unified raises (a Decimal beside a float)."""

_RULE_COLUMNS = ("item_id", "doc_id", "source_path", "prompt_hash", "model", "created_at")


def part_files(out: Path, schema: str, table: str) -> list[Path]:
    """The committed-or-adoptable part files of one table (never temporary files)."""
    folder = Path(out) / schema / table
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def list_schemas(out: Path, *, with_parts: bool = False) -> list[str]:
    """Schemas with a table folder under OUT (hidden and underscore folders are not tables);
    `with_parts`: only those with at least one part file."""
    out = Path(out)
    if not out.is_dir():
        return []

    def holds(schema: str, table: str) -> bool:
        if with_parts:
            return bool(part_files(out, schema, table))
        return (out / schema / table).is_dir()

    return sorted(
        p.name
        for p in out.iterdir()
        if p.is_dir()
        and not p.name.startswith((".", "_"))
        and any(holds(p.name, table) for table in TABLES)
    )


def current_rows_by_part(
    out: Path, schema: str, table: str, models: Collection[str] = ()
) -> dict[Path, list[int]]:
    """For each part of `table`, the indexes of its rows that stand now (only those of
    `models`, when given)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    rows = {name: _rule_rows(out, schema, name) for name in TABLES}
    newest: dict[tuple[str, str, str], datetime] = {}
    for name in ("documents", "errors"):  # the rows the ledger counts
        for row in rows[name]:
            if _identified(row):
                key = (row["item_id"], row["prompt_hash"], row["model"])
                if key not in newest or row["created_at"] > newest[key]:
                    newest[key] = row["created_at"]
    retired = None
    if table == "errors":
        documents = [row for row in rows["documents"] if _identified(row)]
        failed_for_good = [
            row for row in rows["errors"]
            if _identified(row) and row.get("code") not in TRANSIENT_CODES
        ]  # fmt: skip
        retired = _Retirements(documents, failed_for_good)
    chosen: dict[Path, list[int]] = {part: [] for part in part_files(out, schema, table)}
    for row in rows[table]:
        if models and row["model"] not in models:
            continue
        if _identified(row):
            key = (row["item_id"], row["prompt_hash"], row["model"])
            if row["created_at"] != newest.get(key):  # a fields row without its document: none
                continue
            if retired is not None and retired.covers(row):
                continue
        chosen[row["_part"]].append(row["_index"])
    return chosen


def _identified(row: dict[str, Any]) -> bool:
    return row["item_id"] is not None and row["created_at"] is not None


def current_table(
    out: Path, schema: str, table: str = "documents", models: Collection[str] = ()
) -> pa.Table | None:
    """The rows of OUT/<schema>/<table> that stand now (of `models` only, when given), as one
    Arrow table (None when the table has no parts). Parts whose columns differ (written by an
    older docextract) are unified; use `current_row_dicts` where they cannot be."""
    pieces = current_parts(out, schema, table, models)
    if not pieces:
        return None
    try:
        return pa.concat_tables(pieces)
    except pa.ArrowInvalid:
        return pa.concat_tables(pieces, promote_options="permissive")


def current_parts(
    out: Path, schema: str, table: str = "documents", models: Collection[str] = ()
) -> list[pa.Table]:
    """The rows that stand now of each part (of `models` only, when given), part by part."""
    return [
        pq.read_table(part).take(pa.array(indexes, pa.int64()))
        for part, indexes in current_rows_by_part(out, schema, table, models).items()
    ]


def current_row_dicts(
    out: Path, schema: str, table: str = "documents", models: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The rows that stand now (of `models` only, when given) as Python dicts: with the
    parts' columns unified (a field a later part has reads as None in earlier ones) where they
    can be, else each part read on its own."""
    try:
        whole = current_table(out, schema, table, models)
        return [] if whole is None else whole.to_pylist()
    except UNUNIFIABLE:
        pass
    return [row for piece in current_parts(out, schema, table, models) for row in piece.to_pylist()]


def models_in(out: Path, schema: str) -> list[str]:
    """Every model that has a row in either table of OUT/<schema>, sorted."""
    found: set[str] = set()
    for table in TABLES:
        for part in part_files(out, schema, table):
            if "model" in pq.read_schema(part).names:
                found.update(pq.read_table(part, columns=["model"])["model"].to_pylist())
    return sorted(model for model in found if model is not None)


def missing_models(out: Path, schema: str, models: Collection[str]) -> str | None:
    """What to tell someone who asked for rows of `models` when some have no row in
    OUT/<schema>; None when each has."""
    present = models_in(out, schema) if models else []
    missing = [model for model in models if model not in present]
    if not missing:
        return None
    return (
        f"{out}: no rows of model {', '.join(missing)} for schema {schema!r} "
        f"(models here: {', '.join(present) or 'none'})"
    )


def current_view_sql(out: Path | str, schema: str) -> str:
    """DuckDB statements that create the views `documents` and `errors` of the rows that stand
    now, over `all_documents` and `all_errors` (every row), and, where OUT/<schema> holds fields
    or lines parts, the views `fields` and `lines` of the rows that stand with those documents.
    Both first tables need a part file, which every schema folder a run writes has
    (`PartWriter.complete_tables`)."""
    base = f"{Path(out).as_posix()}/{schema}".replace("'", "''")  # a quote in a SQL string
    companions = "".join(
        _companion_view(base, table)
        for table in ("fields", "lines")
        if part_files(Path(out), schema, table)
    )
    return _views_sql(base) + companions


def _companion_view(base: str, table: str) -> str:
    """The view of the `table` rows that stand with a documents row that stands."""
    return f"""\
CREATE OR REPLACE VIEW all_{table} AS
SELECT * FROM read_parquet('{base}/{table}/*.parquet', union_by_name = true);
CREATE OR REPLACE VIEW {table} AS
SELECT c.* FROM all_{table} c SEMI JOIN documents USING (item_id, prompt_hash, model, created_at);
"""


def _views_sql(base: str) -> str:
    transient = ", ".join(f"'{code}'" for code in sorted(TRANSIENT_CODES))
    return f"""\
CREATE OR REPLACE VIEW all_documents AS
SELECT * FROM read_parquet('{base}/documents/*.parquet', union_by_name = true);
CREATE OR REPLACE VIEW all_errors AS
SELECT * FROM read_parquet('{base}/errors/*.parquet', union_by_name = true);
CREATE OR REPLACE VIEW newest AS  -- rule 1: the newest row of each item, in either table
SELECT item_id, prompt_hash, model, max(created_at) AS created_at FROM (
  SELECT item_id, prompt_hash, model, created_at FROM all_documents
  UNION ALL SELECT item_id, prompt_hash, model, created_at FROM all_errors
) GROUP BY ALL;
CREATE OR REPLACE VIEW documents AS
SELECT d.* FROM all_documents d SEMI JOIN newest USING (item_id, prompt_hash, model, created_at);
CREATE OR REPLACE VIEW errors AS
SELECT e.* FROM all_errors e SEMI JOIN newest USING (item_id, prompt_hash, model, created_at)
ANTI JOIN all_documents d
  ON d.prompt_hash = e.prompt_hash AND d.model = e.model AND d.created_at > e.created_at
 AND ((e.item_id = e.doc_id AND d.doc_id = e.doc_id AND d.page IS NOT NULL)  -- rule 2
   OR ((e.code IN ({transient}) OR starts_with(e.item_id, '{PATH_ITEM}'))
       AND d.source_path = e.source_path AND d.item_id <> e.item_id))  -- rule 3
ANTI JOIN all_errors f  -- rule 3: the file's new content failed for good
  ON (e.code IN ({transient}) OR starts_with(e.item_id, '{PATH_ITEM}'))
 AND f.code NOT IN ({transient})
 AND f.prompt_hash = e.prompt_hash AND f.model = e.model AND f.created_at > e.created_at
 AND f.source_path = e.source_path AND f.item_id <> e.item_id;
"""


class _Retirements:
    """Rules 2 and 3: which errors rows newer settled rows retire (documents rows, and errors
    rows whose code is not transient)."""

    def __init__(
        self, documents: list[dict[str, Any]], failed_for_good: list[dict[str, Any]]
    ) -> None:
        self.pages: dict[tuple[str, str, str], datetime] = {}
        self.paths: dict[tuple[str, str, str], dict[str, datetime]] = {}
        for row in documents:  # rule 2
            if is_page_item(row["item_id"]):
                key = (row["doc_id"], row["prompt_hash"], row["model"])
                self.pages[key] = max(self.pages.get(key, row["created_at"]), row["created_at"])
        for row in documents + failed_for_good:  # rule 3
            by_item = self.paths.setdefault(
                (row["source_path"], row["prompt_hash"], row["model"]), {}
            )
            item = row["item_id"]
            by_item[item] = max(by_item.get(item, row["created_at"]), row["created_at"])

    def covers(self, error: dict[str, Any]) -> bool:
        when = error["created_at"]
        if error["item_id"] == error["doc_id"]:
            page = self.pages.get((error["doc_id"], error["prompt_hash"], error["model"]))
            if page is not None and page > when:
                return True
        if error.get("code") in TRANSIENT_CODES or is_path_item(error["item_id"]):
            others = self.paths.get((error["source_path"], error["prompt_hash"], error["model"]))
            return any(
                item != error["item_id"] and at > when for item, at in (others or {}).items()
            )
        return False


def _rule_rows(out: Path, schema: str, table: str) -> list[dict[str, Any]]:
    """The columns the rule reads, of every row; a part without them (not written by a run)
    gives rows without identity, which always stand."""
    wanted = [*_RULE_COLUMNS, "code"] if table == "errors" else list(_RULE_COLUMNS)
    rows: list[dict[str, Any]] = []
    for part in part_files(out, schema, table):
        present = pq.read_schema(part).names
        columns = [c for c in wanted if c in present]
        for index, row in enumerate(pq.read_table(part, columns=columns).to_pylist()):
            for column in wanted:
                row.setdefault(column, None)
            row["_part"], row["_index"] = part, index
            rows.append(row)
    return rows
