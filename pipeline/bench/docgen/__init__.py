"""Deterministic synthetic documents with ground truth, for examples, tests and benchmarks.

Each generator draws a realistic document with PyMuPDF (or renders it to an image) and returns a
`GeneratedDocument`: the bytes, the file suffix and the truth as a dict in the field names of the
matching built-in schema (amounts as strings like "1234.56", dates ISO). A seed fixes everything.
"""

from __future__ import annotations

from pipeline.bench.docgen.cii import build_cii_xml, embed_cii_xml
from pipeline.bench.docgen.common import GeneratedDocument
from pipeline.bench.docgen.invoice import make_invoice
from pipeline.bench.docgen.medical import make_medical_invoice
from pipeline.bench.docgen.others import make_bank_statement, make_cn_vat_invoice, make_receipt
from pipeline.bench.docgen.property import make_property_certificate
from pipeline.bench.docgen.scan import degrade_image, make_id_card, render_images, to_scan
from pipeline.bench.docgen.sets import (
    build_examples,
    generate_examples,
    generate_workload,
    iter_workload,
    write_document,
)

__all__ = [
    "GeneratedDocument",
    "build_cii_xml",
    "build_examples",
    "degrade_image",
    "embed_cii_xml",
    "generate_examples",
    "generate_workload",
    "iter_workload",
    "make_bank_statement",
    "make_cn_vat_invoice",
    "make_id_card",
    "make_invoice",
    "make_medical_invoice",
    "make_property_certificate",
    "make_receipt",
    "render_images",
    "to_scan",
    "write_document",
]
