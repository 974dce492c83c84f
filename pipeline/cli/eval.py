"""`docextract eval`: score a run's output against truth JSON files or embedded e-invoice XML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeline.cli.common import ExitCode
from pipeline.cli.run_options import complete_schema

if TYPE_CHECKING:  # the command imports the evaluation and rich itself: `--help` stays light
    from rich.console import Console
    from rich.table import Table

    from pipeline.eval.evaluate import Counts, EvalReport
    from pipeline.eval.grounding import GroundingScore


def _row(name: str, counts: Counts) -> list[str]:
    return [
        name,
        str(counts.tp),
        str(counts.fp),
        str(counts.fn),
        # Precision with nothing predicted (or recall with nothing to find) is undefined.
        f"{counts.precision:.3f}" if counts.tp + counts.fp else "–",
        f"{counts.recall:.3f}" if counts.tp + counts.fn else "–",
        f"{counts.f1:.3f}",
        f"{counts.accuracy:.3f}",
    ]


def _table(title: str, first: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column(first)
    for name in ("TP", "FP", "FN", "precision", "recall", "F1", "accuracy"):
        table.add_column(name, justify="right")
    return table


def print_report(report: EvalReport, console: Console, rich: bool = True) -> None:
    """Tables: one row per document, one per field, and the total (Rich boxes at a terminal,
    tab-separated lines in a pipe or a log: field names are never cut)."""
    from pipeline.cli.common import print_table

    docs = _table("Documents", "document")
    for doc in report.documents:
        docs.add_row(*_row(doc.key + (" (missing)" if doc.missing else ""), doc.counts))
    print_table(docs, console, rich)
    fields = _table("Fields", "field")
    for name, counts in sorted(report.fields.items()):
        fields.add_row(*_row(name, counts))
    fields.add_section()
    fields.add_row(*_row("total (micro)", report.total))
    print_table(fields, console, rich)
    if report.unmatched_predictions:
        console.print(f"{len(report.unmatched_predictions)} predicted document(s) have no truth.")


def print_grounding(score: GroundingScore | str, console: Console, rich: bool = True) -> None:
    """Per field kind: true boxes, the share found, on the right page, the mean IoU; or why
    grounding was not measured."""
    from rich.table import Table

    from pipeline.cli.common import print_table

    if isinstance(score, str):
        console.print(f"grounding not measured: {score}")
        return
    table = Table(title="Grounding")
    for name in ("field", "true boxes", "found", "right page", "mean IoU"):
        table.add_column(name, justify="left" if name == "field" else "right")
    total = score.overall()
    for name, s in [*sorted(score.fields.items()), ("total", total)]:
        if name == "total":
            table.add_section()
        table.add_row(name, str(s.total), f"{s.found_share:.1%}", f"{s.right_page_share:.1%}",
                      f"{s.mean_iou:.3f}")  # fmt: skip
    print_table(table, console, rich)
    console.print(
        f"grounding: {total.found} of {total.total} true values found ({total.found_share:.1%}),"
        f" {total.right_page} on the right page ({total.right_page_share:.1%}),"
        f" mean IoU {total.mean_iou:.3f}"
    )
    if score.without_text:
        console.print(f"not counted, no text layer: {', '.join(score.without_text)}")
    if score.from_xml:
        console.print(f"not counted, read from their e-invoice XML: {', '.join(score.from_xml)}")


def _only_schema(out: Path, console: Console) -> str:
    """The schema to score when --schema is not given: the only one OUT holds, else exit 2."""
    from pipeline.output.current import list_schemas

    schemas = list_schemas(out)
    if len(schemas) == 1:
        return schemas[0]
    if not schemas:
        console.print(f"No documents table under {out}", style="red", soft_wrap=True)
    else:
        console.print(f"{out} holds several schemas ({', '.join(schemas)}): choose one "
                      "with --schema", style="red", soft_wrap=True)  # fmt: skip
    raise typer.Exit(int(ExitCode.USAGE))


def eval_command(
    out: Path = typer.Argument(..., help="Output folder of `docextract run`."),
    truth: str = typer.Option(
        ...,
        "--truth",
        help="Folder of truth JSON (TRUTH/<schema>/*.json or TRUTH/*.json), or "
        "'embedded' to read the e-invoice XML inside each source PDF.",
    ),
    schema: str = typer.Option(
        None, "--schema", help="Schema to score (needed when OUT holds several).",
        autocompletion=complete_schema,
    ),  # fmt: skip
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    min_f1: float | None = typer.Option(None, "--min-f1", help="Exit 1 if total F1 is below."),
) -> None:
    """Score extracted records against ground truth: precision, recall, F1 per field and file,
    and, where OUT has a fields table (--grounding) and the truth has boxes, where each value
    was found: the share found, on the right page, and the mean IoU with the true box."""
    from pipeline.cli.common import make_console, wants_rich
    from pipeline.eval.evaluate import evaluate
    from pipeline.eval.grounding import score_run_grounding
    from pipeline.eval.inputs import (
        load_embedded_truths,
        load_prediction_rows,
        load_truths,
        predictions_from_rows,
    )
    from schemas import BUILTIN_SCHEMAS

    rich = wants_rich()
    console = make_console(rich)
    schema = schema or _only_schema(out, console)
    rows = load_prediction_rows(out, schema)
    if not rows:
        documents = out / schema / "documents"
        console.print(f"No documents table under {documents}", style="red", soft_wrap=True)
        raise typer.Exit(int(ExitCode.USAGE))
    if truth == "embedded":
        truths = load_embedded_truths(rows)
    elif Path(truth).is_dir():
        truths = load_truths(truth, schema)
    else:
        console.print(
            f"--truth: {truth} is neither a folder nor 'embedded'", style="red", soft_wrap=True
        )
        raise typer.Exit(int(ExitCode.USAGE))
    if not truths:
        console.print("No truth found for any document.", style="red")
        raise typer.Exit(int(ExitCode.USAGE))
    report = evaluate(predictions_from_rows(rows), truths, BUILTIN_SCHEMAS.get(schema))
    sources = {Path(row.source_path).stem: row.source_path for row in rows}
    grounding = score_run_grounding(out, schema, truth, sources)
    source = "embedded e-invoice XML" if truth == "embedded" else truth
    if not as_json:
        console.print(f"schema {schema}: truth from {source} for {len(truths)} of {len(rows)} "
                      "extracted documents", soft_wrap=True)  # fmt: skip
    if as_json:
        measured = (
            {"measured": False, "reason": grounding}
            if isinstance(grounding, str)
            else grounding.to_dict()
        )
        typer.echo(
            json.dumps({"schema": schema, **report.to_dict(), "grounding": measured}, indent=2)
        )
    else:
        print_report(report, console, rich)
        print_grounding(grounding, console, rich)
    if min_f1 is not None and report.total.f1 < min_f1:
        if not as_json:
            console.print(f"F1 {report.total.f1:.3f} is below {min_f1}", style="red")
        raise typer.Exit(int(ExitCode.FAILURES))
