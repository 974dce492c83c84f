"""The synthetic documents: valid truth, consistent sums, readable files, determinism."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from pipeline.bench.docgen import (
    build_examples,
    generate_examples,
    generate_workload,
    iter_workload,
    make_invoice,
)
from schemas import BUILTIN_SCHEMAS


@pytest.fixture(scope="module")
def examples() -> list:
    return build_examples(seed=0)


def test_examples_cover_every_schema(examples: list) -> None:
    schemas = [doc.schema for doc in examples]
    assert set(schemas) == set(BUILTIN_SCHEMAS)
    assert 4 <= schemas.count("invoice") <= 6 and schemas.count("receipt") == 2
    assert {doc.suffix for doc in examples} >= {".pdf", ".jpg", ".tif"}


def test_every_truth_validates_and_passes_the_rules(examples: list) -> None:
    for doc in examples:
        instance = BUILTIN_SCHEMAS[doc.schema].model_validate(doc.truth)
        errors = [f for f in instance.check_rules() if f.severity == "error"]
        assert not errors, (doc.name, errors)
        bad_ids = [f.code for f in instance.check_rules() if f.code.endswith(("_id_invalid",
                                                                             "iban_invalid"))]
        assert not bad_ids, (doc.name, bad_ids)


def test_pdfs_open_with_expected_pages_and_carry_the_number(examples: list) -> None:
    for doc in examples:
        if doc.suffix != ".pdf":
            continue
        with pymupdf.open(stream=doc.content, filetype="pdf") as pdf:
            assert pdf.page_count == doc.page_count, doc.name
            text = "".join(page.get_text() for page in pdf)
        number = doc.truth.get("invoice_number")
        if number:
            assert number in text, doc.name
    multipage = next(d for d in examples if d.name == "de_multipage_invoice")
    assert multipage.page_count == 2


def test_images_decode(examples: list) -> None:
    for doc in examples:
        if doc.suffix == ".pdf":
            continue
        image = Image.open(io.BytesIO(doc.content))
        image.load()
        assert min(image.size) > 200, doc.name
        assert getattr(image, "n_frames", 1) == doc.page_count


def test_multi_page_invoice_continues_line_items_on_page_two() -> None:
    doc = make_invoice(random.Random(1), "long", "en", "classic", lines=30)
    with pymupdf.open(stream=doc.content, filetype="pdf") as pdf:
        assert pdf.page_count == 2
        second = pdf[1].get_text()
    last = doc.truth["line_items"][-1]["description"]
    assert last in second and doc.truth["grand_total"] not in pdf_text_first(doc.content)


def pdf_text_first(content: bytes) -> str:
    with pymupdf.open(stream=content, filetype="pdf") as pdf:
        return pdf[0].get_text()


def test_same_seed_same_documents_other_seed_other_documents() -> None:
    first, again, other = build_examples(3), build_examples(3), build_examples(4)
    assert [d.truth for d in first] == [d.truth for d in again]
    assert [d.truth for d in first] != [d.truth for d in other]
    assert [d.content for d in first] == [d.content for d in again]  # reproducible bytes


def test_generate_examples_layout(tmp_path: Path) -> None:
    paths = generate_examples(tmp_path, seed=0)
    for path in paths:
        schema = path.parent.name
        assert path.parent.parent == tmp_path / "documents"
        assert (tmp_path / "truth" / schema / f"{path.stem}.json").is_file()
    assert sum(p.stat().st_size for p in paths) < 3_000_000


def test_workload_mixes_page_counts_and_scans(tmp_path: Path) -> None:
    paths = generate_workload(tmp_path / "in", docs=12, seed=2, truth_dir=tmp_path / "truth")
    assert len(paths) == 12 and all(p.parent == tmp_path / "in" for p in paths)
    assert len(list((tmp_path / "truth").glob("*.json"))) == 12
    pages = set()
    for path in paths:
        if path.suffix == ".pdf":
            with pymupdf.open(path) as pdf:
                pages.add(pdf.page_count)
    assert {1, 2} <= pages or {1, 3} <= pages
    assert any(p.suffix != ".pdf" for p in paths)


def test_workload_draws_medical_invoices_and_property_certificates_that_pass_their_rules() -> None:
    docs = list(iter_workload(6, seed=5, schemas=("medical_invoice", "property_certificate")))
    assert [d.schema for d in docs] == ["medical_invoice", "property_certificate"] * 3
    assert len({d.truth["unit_number"] for d in docs if d.schema == "property_certificate"}) == 3
    for doc in docs:
        instance = BUILTIN_SCHEMAS[doc.schema].model_validate(doc.truth)
        assert instance.check_rules() == [], doc.name
