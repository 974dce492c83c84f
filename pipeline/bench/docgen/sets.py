"""Document sets: the small committed examples and the benchmark workload.

Layout of an examples folder (`generate_examples`):

    <out>/documents/<schema>/<name>.<pdf|jpg|png|tif>
    <out>/truth/<schema>/<name>.json      (name = file stem of the document)
    <out>/truth/<schema>/boxes/<name>.json  where each field is drawn: {path: {page, box,
                                            page_size}}, box (x0, y0, x1, y1) in PDF points
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.bench.docgen.cii import build_cii_xml, embed_cii_xml
from pipeline.bench.docgen.common import GeneratedDocument
from pipeline.bench.docgen.invoice import LANGUAGES, LAYOUTS, make_invoice
from pipeline.bench.docgen.medical import make_medical_invoice
from pipeline.bench.docgen.others import make_bank_statement, make_cn_vat_invoice, make_receipt
from pipeline.bench.docgen.page_text import make_mixed_language_page
from pipeline.bench.docgen.property import make_property_certificate
from pipeline.bench.docgen.scan import make_id_card, to_scan


def build_examples(seed: int = 0) -> list[GeneratedDocument]:
    """The examples set, in memory: invoices, receipts, a Chinese VAT invoice, an ID card, a bank
    statement, a Chinese medical invoice (a dim, blurred, tilted phone scan), a two-page
    property certificate and a page of text in six scripts (page_text), in several languages,
    layouts and file formats. Documents are drawn in this order from one seeded generator: new
    ones go last, so the others stay as they are."""
    rng = random.Random(seed)
    docs = [
        make_invoice(rng, "en_classic_invoice", "en", "classic", lines=4),
        make_invoice(rng, "de_multipage_invoice", "de", "band", lines=20, prepaid=True),
        make_invoice(rng, "fr_credit_note", "fr", "compact", lines=3, credit_note=True),
        make_invoice(rng, "zh_invoice", "zh", "classic", lines=3),
        to_scan(make_invoice(rng, "en_scanned_invoice", "en", "band", lines=5), rng, ".jpg"),
    ]
    facturx = make_invoice(rng, "de_facturx_invoice", "de", "classic", lines=3)
    content = embed_cii_xml(facturx.content, build_cii_xml(facturx.truth))
    docs.append(
        GeneratedDocument(facturx.name, "invoice", content, ".pdf", facturx.truth, 1, facturx.boxes)
    )
    docs += [
        make_receipt(rng, "cafe_receipt"),
        to_scan(make_receipt(rng, "scanned_receipt"), rng, ".tif", dpi=130, strength=0.5),
        make_cn_vat_invoice(rng, "vat_invoice"),
        make_id_card(rng, "id_card_specimen", ".jpg", degrade=True),
        make_bank_statement(rng, "monthly_statement"),
    ]
    scan = make_medical_invoice(rng, "medical_invoice_scan")
    docs.append(to_scan(scan, rng, ".jpg", dpi=150, strength=1.6, light=0.7))
    docs.append(make_property_certificate(rng, "property_certificate_specimen"))
    docs.append(make_mixed_language_page(rng, "mixed_language_page"))
    return docs


def write_document(doc: GeneratedDocument, documents_dir: Path, truth_dir: Path | None) -> Path:
    """Write a document (and, if `truth_dir` is given, its truth JSON); return the document path."""
    documents_dir.mkdir(parents=True, exist_ok=True)
    path = documents_dir / f"{doc.name}{doc.suffix}"
    path.write_bytes(doc.content)
    if truth_dir is not None:
        truth_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(doc.truth, ensure_ascii=False, indent=2) + "\n"
        (truth_dir / f"{doc.name}.json").write_text(text, encoding="utf-8")
        if doc.boxes:
            (truth_dir / "boxes").mkdir(exist_ok=True)
            text = json.dumps(doc.boxes, ensure_ascii=False, indent=1) + "\n"
            (truth_dir / "boxes" / f"{doc.name}.json").write_text(text, encoding="utf-8")
    return path


def generate_examples(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Write the examples set under `out_dir/documents` and `out_dir/truth`; return the paths."""
    out = Path(out_dir)
    return [
        write_document(doc, out / "documents" / doc.schema, out / "truth" / doc.schema)
        for doc in build_examples(seed)
    ]


def iter_workload(
    docs: int, seed: int = 0, schemas: Sequence[str] = ("invoice",)
) -> Iterator[GeneratedDocument]:
    """`docs` documents for load tests: invoices of 1-3 pages in every language and layout
    (about a quarter as degraded scans), plus receipts, statements, Chinese VAT and medical
    invoices and property certificates when asked for."""
    rng = random.Random(seed)
    for index in range(docs):
        schema = schemas[index % len(schemas)]
        name = f"doc{index:05d}"
        if schema == "receipt":
            doc = make_receipt(rng, name)
        elif schema == "bank_statement":
            doc = make_bank_statement(rng, name)
        elif schema == "cn_vat_invoice":
            doc = make_cn_vat_invoice(rng, name)
        elif schema == "medical_invoice":
            doc = make_medical_invoice(rng, name)
        elif schema == "property_certificate":
            doc = make_property_certificate(rng, name)
        else:
            pages = rng.choice((1, 1, 2, 3))
            lines = {1: rng.randrange(2, 12), 2: rng.randrange(18, 45), 3: rng.randrange(52, 70)}
            doc = make_invoice(
                rng,
                name,
                rng.choice(LANGUAGES),
                rng.choice(LAYOUTS),
                lines=lines[pages],
                credit_note=rng.random() < 0.1,
                prepaid=rng.random() < 0.2,
            )
        if rng.random() < 0.25:
            suffix = ".tif" if doc.page_count > 1 else rng.choice((".jpg", ".jpg", ".png"))
            doc = to_scan(doc, rng, suffix, dpi=100)
        yield doc


def generate_workload(
    out_dir: str | Path,
    docs: int,
    seed: int = 0,
    *,
    truth_dir: str | Path | None = None,
    schemas: Sequence[str] = ("invoice",),
) -> list[Path]:
    """Write `docs` workload documents flat into `out_dir` (truth JSON into `truth_dir` if given,
    kept apart so the input folder holds documents only); return the document paths."""
    truth = Path(truth_dir) if truth_dir is not None else None
    return [write_document(doc, Path(out_dir), truth) for doc in iter_workload(docs, seed, schemas)]
