"""How well the text-layer locator finds values: the truth as the answer, its boxes as the mark.

For each document with truth, the truth is validated with the schema (as an engine's answer
would be), `locate_fields` places each leaf on the document's text layer, and each field with
a true box (truth/<schema>/boxes/<name>.json, written by the document generator) is scored:
found at all, on the right page, and the IoU of the found box with the true one. Documents
without a text layer (scans, images) are counted apart: nothing can be found there. The scoring
itself is `pipeline.eval.grounding`'s, the same `docextract eval` applies to a run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.eval.grounding import FieldScore, GroundingScore, field_kind, iou
from pipeline.grounding import locate_fields, read_text_layer

if TYPE_CHECKING:
    from pipeline.bench.docgen import GeneratedDocument

__all__ = [
    "FieldScore",
    "GroundingScore",
    "field_kind",
    "found_in_corpus",
    "iou",
    "measure_by_schema",
    "measure_documents",
    "measure_examples",
]


def measure_examples(examples: str | Path, schemas: Iterable[str] | None = None) -> GroundingScore:
    """Score the locator on every document of `examples` (documents/<schema>/, truth/<schema>/)
    that has true boxes, the truth standing in for the model's answer."""
    from schemas import BUILTIN_SCHEMAS

    root = Path(examples)
    result = GroundingScore()
    for box_file in sorted((root / "truth").glob("*/boxes/*.json")):
        schema, name = box_file.parent.parent.name, box_file.stem
        if schemas is not None and schema not in schemas:
            continue
        truth = json.loads((box_file.parent.parent / f"{name}.json").read_text(encoding="utf-8"))
        instance = BUILTIN_SCHEMAS[schema].model_validate(truth)
        document = next((root / "documents" / schema).glob(f"{name}.*"))
        pages = read_text_layer(document)
        result.documents += 1
        if not any(page.words for page in pages):
            result.without_text.append(document.name)
            continue
        boxes = json.loads(box_file.read_text(encoding="utf-8"))
        result.score(locate_fields(instance, pages), boxes)
    return result


def measure_by_schema(examples: str | Path) -> dict[str, GroundingScore]:
    """`measure_examples` for each schema of `examples` that has true boxes, by schema name."""
    root = Path(examples)
    schemas = sorted({p.parent.parent.name for p in (root / "truth").glob("*/boxes/*.json")})
    return {schema: measure_examples(root, [schema]) for schema in schemas}


def measure_documents(docs: Iterable[GeneratedDocument]) -> GroundingScore:
    """The same score on generated documents held in memory (a schema whose examples are all
    scans is measured on fresh PDFs of its generator)."""
    import tempfile

    from pipeline.bench.docgen import write_document
    from schemas import BUILTIN_SCHEMAS

    result = GroundingScore()
    with tempfile.TemporaryDirectory() as folder:
        for doc in docs:
            pages = read_text_layer(write_document(doc, Path(folder), None))
            result.documents += 1
            if not any(page.words for page in pages):
                result.without_text.append(f"{doc.name}{doc.suffix}")
                continue
            instance = BUILTIN_SCHEMAS[doc.schema].model_validate(doc.truth)
            result.score(locate_fields(instance, pages), doc.boxes)
    return result


def found_in_corpus(corpus: str | Path) -> tuple[int, int, list[str]]:
    """(found, total, missing paths) of the leaf values of the corpus's born-digital e-invoices,
    their embedded XML standing in for the answer. There are no true boxes: this says only
    whether each present value was found somewhere on the pages."""
    from pipeline.inputs.einvoice import read_embedded_invoice
    from schemas import BUILTIN_SCHEMAS

    found = total = 0
    missing: list[str] = []
    for pdf in sorted((Path(corpus) / "invoices").glob("*.pdf")):
        data = read_embedded_invoice(str(pdf))
        if data is None:
            continue
        instance = BUILTIN_SCHEMAS["invoice"].model_validate(data)
        for grounding in locate_fields(instance, read_text_layer(pdf), from_xml=True):
            if grounding.value is None:
                continue
            total += 1
            if grounding.box is not None:
                found += 1
            else:
                missing.append(f"{pdf.stem}:{grounding.path}={grounding.value}")
    return found, total, missing
