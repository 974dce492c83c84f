"""What a run may write into an OUT that already holds rows; checked before it writes any.

- A dry run (the null engine, whose answers are placeholders) and a model never write into
  one OUT: the placeholders would stand beside the model's rows as current rows, and no reader
  could tell them apart by rule. Rows read from e-invoice XML (model `einvoice`) are neither,
  and go with both. Which engine wrote what comes from the ledger.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import DocextractError
from pipeline.items import DRY_RUN_ENGINE, EINVOICE_MODEL
from pipeline.output.ledger import Ledger


class MixedRows(DocextractError):
    """A dry run and a model would write their rows into one output folder."""


def check_run_kind(out: Path, ledger: Ledger, engine: str, model: str) -> None:
    """Raise MixedRows when `engine` is the dry-run engine and OUT holds a model's rows, or
    it is a model's engine and OUT holds dry-run rows."""
    dry = engine == DRY_RUN_ENGINE
    for schema, their_model, their_engine in sorted(ledger.writers(), key=_writer_order):
        if their_model == EINVOICE_MODEL or (their_engine == DRY_RUN_ENGINE) == dry:
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
