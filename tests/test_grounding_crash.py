"""A kill between a flush's parts never leaves a document without its fields rows: the fields
part is committed before the documents part, and the document redone by the next run
supersedes any fields rows the killed run left."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.run_helpers import make_unique_pdf, null_run_args, read_all_rows, read_table, run_cli


@pytest.mark.slow
def test_a_kill_after_the_first_part_of_a_flush_leaves_no_document_without_fields(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for number in range(4):
        make_unique_pdf(inbox / f"doc{number}.pdf", 1, f"FIELDS{number}")
    args = ["run", str(inbox), "--out", str(out), "--grounding", *null_run_args(1)]

    killed = run_cli(args, env={"DOCEXTRACT_KILL_AT": "after-ledger-commit:1"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    orphans = len(read_all_rows(out, "invoice", "fields"))
    assert orphans > 40  # the fields part, committed alone
    assert read_table(out, "invoice", "fields") == []  # ... and stands with no document
    again = run_cli(args)
    assert again.returncode == 0, again.stderr[-2000:]

    documents = read_table(out, "invoice", "documents")
    fields = Counter((f["item_id"], f["created_at"]) for f in read_table(out, "invoice", "fields"))
    assert len(documents) == 4
    for row in documents:  # each leaf of the invoice schema, from the same extraction
        assert fields[(row["item_id"], row["created_at"])] > 10, row["source_path"]
    assert sum(fields.values()) == len(documents) * max(fields.values())
    by_rule, by_sql = _standing_fields(out)
    assert by_rule == by_sql and len(by_rule) == sum(fields.values())
    assert len(read_all_rows(out, "invoice", "fields")) == len(by_rule) + orphans


def _standing_fields(out: Path) -> tuple[list, list]:
    """(item_id, field, created_at) of the fields rows that stand, by `current_row_dicts` and
    by the DuckDB views of `current_view_sql`."""
    import duckdb

    from pipeline.output.current import current_row_dicts, current_view_sql

    by_rule = sorted(
        (r["item_id"], r["field"], r["created_at"])
        for r in current_row_dicts(out, "invoice", "fields")
    )
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(current_view_sql(out, "invoice"))
    by_sql = sorted(db.execute("SELECT item_id, field, created_at FROM fields").fetchall())
    return by_rule, by_sql
