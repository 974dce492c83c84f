"""`docextract pages` over the shared corpus of real-world PDFs and images (skips if absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.corpus import CORPUS

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.slow,
    pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(), reason="no shared corpus here"),
]
FAST = [
    "--dpi",
    "50",
    "--max-pixels",
    str(64 * 1024),
    "--min-pixels",
    str(4 * 1024),
    "--timeout",
    "60",
    "--workers",
    "2",
]
EXPECTED_PAGES = {
    "malformed/qpdf_rotated.pdf": 20,
    "malformed/qpdf_merge-implicit-ranges.pdf": 51,
    "malformed/qpdf_issue-202.pdf": 10,
    "malformed/pdfjs_issue12963.pdf": 8,
    "malformed/pdfjs_bug1795263.pdf": 1,
    "malformed/pdfjs_bug900822.pdf": 1,
    "images/pillow_total-pages-zero.tif": 3,
    "invoices/ferd23_EXTENDED_Kostenrechnung.pdf": 3,
    "invoices/fxkit_PDF_DESIGN_EN_MultiPage.pdf": 2,
}


def manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def run_pages(out: Path, *extra: str) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    result = CliRunner().invoke(app, ["pages", str(CORPUS), "--out", str(out), *FAST, *extra])
    assert result.exit_code == 0, result.output
    pages: dict[str, list[dict]] = {}
    for row in pq.read_table(out / "pages.parquet").to_pylist():
        pages.setdefault(Path(row["path"]).relative_to(CORPUS).as_posix(), []).append(row)
    errors = {
        Path(row["path"]).relative_to(CORPUS).as_posix(): row
        for row in pq.read_table(out / "errors.parquet").to_pylist()
    }
    return pages, errors


@pytest.mark.timeout(240)
def test_corpus_with_passwords(tmp_path: Path) -> None:
    rows = manifest()
    passwords = sorted({row["password"] for row in rows if row["password"] not in ("", "-")})
    assert "test" in passwords
    extra = [arg for password in passwords for arg in ("--password", password)]
    pages, errors = run_pages(tmp_path / "out", *extra)
    for row in rows:
        name = row["file"]
        assert (name in pages) != (name in errors), name  # accounted for exactly once
    for name, count in EXPECTED_PAGES.items():
        assert len(pages[name]) == count, name
    assert errors["malformed/qpdf_empty.pdf"]["code"] == "zero_pages"
    for row in rows:
        if row["password"] not in ("", "-"):
            assert len(pages[row["file"]]) == 1, row["file"]  # encrypted ones now render
    listed = {row["file"] for row in rows}
    others = {name: err["code"] for name, err in errors.items() if name not in listed}
    # MANIFEST and README are no documents; the ground-truth XML files are e-invoices, which
    # have no pages to render
    assert {code for name, code in others.items() if not name.endswith(".xml")} == {
        "not_a_document"
    }
    assert {code for name, code in others.items() if name.endswith(".xml")} == {
        "nothing_to_render"
    }
    for rendered in pages.values():
        for page in rendered:
            assert page["visual_tokens"] <= 64 and page["width"] % 32 == 0


@pytest.mark.timeout(240)
def test_corpus_without_passwords(tmp_path: Path) -> None:
    pages, errors = run_pages(tmp_path / "out")
    encrypted = [row["file"] for row in manifest() if row["password"] not in ("", "-")]
    assert encrypted
    for name in encrypted:
        assert errors[name]["code"] == "encrypted" and name not in pages
    assert len(pages["malformed/pdfjs_bug900822.pdf"]) == 1  # empty user password opens it


def test_repaired_corpus_files_carry_a_warning() -> None:
    from pipeline.config import RenderConfig
    from pipeline.inputs.discover import discover_sources
    from pipeline.inputs.render import render_document

    config = RenderConfig(dpi=50, max_pixels=64 * 1024, min_pixels=4 * 1024)
    source = discover_sources([CORPUS / "malformed" / "qpdf_issue-202.pdf"]).sources[0]
    result = render_document(source, config)
    assert result.error is None and result.page_count == 10
    assert [w.code for w in result.warnings] == ["repaired"]
