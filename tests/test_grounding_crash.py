"""A kill between a flush's parts never leaves a document without its fields rows: the fields
part is committed before the documents part, and the document redone by the next run
supersedes any fields rows the killed run left."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.run_helpers import make_unique_pdf, null_run_args, read_table, run_cli


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
    again = run_cli(args)
    assert again.returncode == 0, again.stderr[-2000:]

    documents = read_table(out, "invoice", "documents")
    fields = Counter((f["item_id"], f["created_at"]) for f in read_table(out, "invoice", "fields"))
    assert len(documents) == 4
    for row in documents:  # each leaf of the invoice schema, from the same extraction
        assert fields[(row["item_id"], row["created_at"])] > 10, row["source_path"]
    assert sum(fields.values()) == len(documents) * max(fields.values())
