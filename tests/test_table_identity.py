"""A table holds parts of one Arrow schema: a custom schema named like another (a custom
`Invoice` beside the built-in `invoice`, a `.py` and a `.json` version of one schema) never
writes into its table, and every table folder a run writes reads as one, with Polars, pandas,
`export` and `review`. Real schema files written here, real runs, real Parquet read back."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import polars as pl
from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.run_helpers import exported_rows, make_unique_pdf, part_names

runner = CliRunner()
FAST = ["--engine", "null", "--dpi", "40", "--workers", "1", "--log-format", "json"]

CUSTOM_INVOICE = '''\
from pydantic import BaseModel


class Invoice(BaseModel):
    """An invoice as one team reads it: its number and its total."""

    invoice_number: str
    grand_total: float
'''

TOTALS_PY = '''\
from decimal import Decimal

from pydantic import BaseModel


class Totals(BaseModel):
    """A document's number and total."""

    number: str
    total: Decimal
'''


def _totals_json(total: dict) -> str:
    return json.dumps({
        "title": "Totals", "type": "object", "required": ["number", "total"],
        "properties": {"number": {"type": "string"}, "total": total},
    })  # fmt: skip


def _inbox(root: Path) -> Path:
    root.mkdir()
    make_unique_pdf(root / "a.pdf", 1, "TABLE-A")
    make_unique_pdf(root / "b.pdf", 1, "TABLE-B")
    return root


def _run(inbox: Path, out: Path, schema: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", str(inbox), "--out", str(out), "--schema", schema, *FAST])


def _fatal(result) -> str:  # type: ignore[no-untyped-def]
    return json.loads(result.stderr.strip().splitlines()[-1])["message"]


def test_a_custom_invoice_never_writes_into_the_builtin_invoice_table(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path / "inbox")
    custom = tmp_path / "custom.py"
    custom.write_text(CUSTOM_INVOICE)
    theirs, ours = "builtin:invoice", f"file:{custom.resolve()}:Invoice"
    out = tmp_path / "out"
    assert _run(inbox, out, "invoice").exit_code == 0
    written = part_names(out)
    refused = _run(inbox, out, str(custom))
    assert refused.exit_code == 2, refused.output
    message = _fatal(refused)
    assert theirs in message and ours in message and "--out" in message
    assert "data." in message and "\n" not in message  # names the first column that differs
    assert part_names(out) == written
    folder = out / "invoice" / "documents"
    assert pl.read_parquet(folder).height == len(pd.read_parquet(folder)) == 2
    assert len(exported_rows(out)) == 2

    other = tmp_path / "other"
    assert _run(inbox, other, str(custom)).exit_code == 0
    refused = _run(inbox, other, "invoice")
    assert refused.exit_code == 2, refused.output
    assert theirs in _fatal(refused) and ours in _fatal(refused)
    assert pl.read_parquet(other / "invoice" / "documents").columns == pl.read_parquet(
        folder).columns  # the same columns around `data`
    assert {r["data"]["grand_total"] for r in exported_rows(other)} == {0.0}


def test_a_py_and_a_json_version_of_one_schema_share_a_table_only_if_its_columns_agree(
    tmp_path: Path,
) -> None:
    inbox = _inbox(tmp_path / "inbox")
    py, as_float, as_decimal = (tmp_path / "py" / "totals.py", tmp_path / "float" / "totals.json",
                                tmp_path / "decimal" / "totals.json")  # fmt: skip
    for path, text in ((py, TOTALS_PY), (as_float, _totals_json({"type": "number"})),
                       (as_decimal, _totals_json({"type": "number", "format": "decimal"}))):
        path.parent.mkdir()
        path.write_text(text)
    out = tmp_path / "out"
    assert _run(inbox, out, str(py)).exit_code == 0
    refused = _run(inbox, out, str(as_float))
    assert refused.exit_code == 2, refused.output
    message = _fatal(refused)
    assert f"file:{py.resolve()}:Totals" in message and f"json:{as_float.resolve()}" in message
    assert ("data.total is decimal128(18, 4) not null in the table, double not null in this "
            "schema") in message
    agreeing = _run(inbox, out, str(as_decimal))
    assert agreeing.exit_code == 0, agreeing.output
    folder = out / "totals" / "documents"
    assert len(list(folder.glob("*.parquet"))) == 2
    assert pl.read_parquet(folder).schema["data"] == pl.Struct(
        {"number": pl.String, "total": pl.Decimal(18, 4)})
    assert len(exported_rows(out)) == 4  # two prompts: both versions' rows stand


def test_export_and_review_read_a_table_an_older_docextract_mixed(tmp_path: Path) -> None:
    """Before tables had one schema, a custom Invoice could write into OUT/invoice: export
    and review still read such a folder, part by part."""
    inbox = _inbox(tmp_path / "inbox")
    custom = tmp_path / "custom.py"
    custom.write_text(CUSTOM_INVOICE)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert _run(inbox, out, "invoice").exit_code == 0
    assert _run(inbox, elsewhere, str(custom)).exit_code == 0
    for part in (elsewhere / "invoice" / "documents").glob("part-*.parquet"):
        shutil.copy(part, out / "invoice" / "documents" / part.name)
    rows = exported_rows(out)
    assert len(rows) == 4
    assert sorted("kind" in row["data"] for row in rows) == [False, False, True, True]
    done = runner.invoke(app, ["export", str(out), "--format", "csv"])
    assert done.exit_code == 0, done.output
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(table) == 4 and {"data.kind", "data.grand_total"} <= set(table[0])
    page = tmp_path / "review.html"
    done = runner.invoke(app, ["review", str(out), "-o", str(page)])
    assert done.exit_code == 0, done.output
    assert "4 documents" in page.read_text()


def test_a_schema_named_like_a_hidden_folder_gets_a_table_readers_see(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path / "inbox")
    schema = tmp_path / "_notes.json"
    schema.write_text(_totals_json({"type": "number"}))
    out = tmp_path / "out"
    done = _run(inbox, out, str(schema))
    assert done.exit_code == 0, done.output
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["notes"]
    assert len(exported_rows(out)) == 2
    assert len(pd.read_parquet(out / "notes" / "documents")) == 2
