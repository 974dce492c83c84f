"""What `docextract eval` compares: a run's extracted records, and the truth to score them by
(truth JSON files, or the e-invoice XML embedded in each source PDF)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PredictionRow:
    """One row of a run's documents table, as far as evaluation needs it."""

    key: str
    source_path: str
    status: str | None
    data: dict[str, Any] | None


def load_prediction_rows(out_dir: str | Path, schema: str) -> list[PredictionRow]:
    """Read the current rows of OUT/<schema>/documents; the key is the file stem of `source_path`,
    and for a page of a document read page by page (--per-page, page_text) that has more than
    one page, `<stem>.p<N>`: the truth of page N is then `<stem>.p<N>.json`.

    Files named only in OUT/<schema>/errors/*.parquet (documents that failed) come back as rows
    without data, so they count as missed rather than being left out.
    """
    documents = _read_table(Path(out_dir), schema, "documents")
    errors = _read_table(Path(out_dir), schema, "errors")
    paged = {_source(r) for r in documents + errors if (r.get("page") or 0) > 1}

    def key(record: dict[str, Any]) -> str:
        source, page = _source(record), record.get("page")
        stem = Path(source).stem
        return f"{stem}.p{page}" if page and source in paged else stem

    rows = [
        PredictionRow(key(record), _source(record), record.get("status"), record.get("data"))
        for record in documents
        if _source(record)
    ]
    seen = {row.key for row in rows}
    for record in errors:
        if _source(record) and key(record) not in seen:
            seen.add(key(record))
            rows.append(PredictionRow(key(record), _source(record), "error", None))
    return rows


def _source(record: dict[str, Any]) -> str:
    return str(record.get("source_path") or "")


def _read_table(out: Path, schema: str, table: str) -> list[dict[str, Any]]:
    """The rows of `table` that stand now (an item done again counts once, as it is now)."""
    from pipeline.output.current import current_row_dicts

    return current_row_dicts(out, schema, table)


def predictions_from_rows(rows: list[PredictionRow]) -> dict[str, dict[str, Any] | None]:
    """Predicted records by key; None where the document has no data (it failed)."""
    out: dict[str, dict[str, Any] | None] = {}
    for row in rows:
        if row.data is not None or row.key not in out:
            out[row.key] = row.data
    return out


def load_predictions(out_dir: str | Path, schema: str) -> dict[str, dict[str, Any] | None]:
    """Predicted records by document key (file stem); None for documents that failed."""
    return predictions_from_rows(load_prediction_rows(out_dir, schema))


def load_truths(truth_dir: str | Path, schema: str) -> dict[str, dict[str, Any]]:
    """Truth JSON files by stem, from TRUTH/<schema>/*.json or else TRUTH/*.json."""
    root = Path(truth_dir)
    folder = root / schema if (root / schema).is_dir() else root
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


def load_embedded_truths(rows: list[PredictionRow]) -> dict[str, dict[str, Any]]:
    """Truth read from the e-invoice XML embedded in each source PDF, or from a source that is
    itself an XML invoice (where there is one)."""
    from pipeline.inputs.einvoice import parse_invoice_xml, read_embedded_invoice

    truths = {}
    for row in rows:
        name = row.source_path.lower()
        if row.key in truths:
            continue
        found = None
        if name.endswith(".pdf"):
            found = read_embedded_invoice(row.source_path)
        elif name.endswith(".xml") and Path(row.source_path).is_file():
            found = parse_invoice_xml(Path(row.source_path).read_bytes())
        if found is not None:
            truths[row.key] = found
    return truths
