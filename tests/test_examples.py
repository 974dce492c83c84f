"""The committed examples: exactly what the generator draws, truth that passes validation with no
finding at all, and the Chinese medical invoice and property certificate extracted and scored."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from pipeline.bench.docgen import build_examples, degrade_image, render_images
from pipeline.cli.app import app
from pipeline.eval.evaluate import score_document
from pipeline.extract.validate import validate_answer
from schemas import BUILTIN_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS, TRUTH = ROOT / "examples" / "documents", ROOT / "examples" / "truth"
NEW = ("medical_invoice", "property_certificate")


@pytest.fixture(scope="module")
def examples() -> list:
    return build_examples(seed=0)


def test_the_committed_examples_are_what_the_generator_draws(examples: list) -> None:
    """`python -m examples.generate examples` reproduces every committed file byte for byte, and
    the folders hold nothing else."""
    expected: dict[Path, bytes] = {}
    for doc in examples:
        expected[DOCUMENTS / doc.schema / f"{doc.name}{doc.suffix}"] = doc.content
        text = json.dumps(doc.truth, ensure_ascii=False, indent=2) + "\n"
        expected[TRUTH / doc.schema / f"{doc.name}.json"] = text.encode()
        if doc.boxes:
            boxes = json.dumps(doc.boxes, ensure_ascii=False, indent=1) + "\n"
            expected[TRUTH / doc.schema / "boxes" / f"{doc.name}.json"] = boxes.encode()
    committed = {p for root in (DOCUMENTS, TRUTH) for p in root.rglob("*") if p.is_file()}
    assert committed == set(expected)
    changed = [str(p.relative_to(ROOT)) for p, data in expected.items() if p.read_bytes() != data]
    assert not changed, "regenerate with: python -m examples.generate examples"


@pytest.mark.parametrize("path", sorted(TRUTH.glob("*/*.json")), ids=lambda p: p.stem)
def test_every_truth_passes_validation_with_no_finding(path: Path) -> None:
    """The truth, as a model's answer, validates and breaks no rule, not even as a warning."""
    result = validate_answer(path.read_text(encoding="utf-8"), BUILTIN_SCHEMAS[path.parent.name])
    assert result.ok, result.message
    assert result.warnings == ()


def _paper(content: bytes) -> float:
    """The brightness of the paper: the 90th percentile of the grey levels."""
    histogram = Image.open(io.BytesIO(content)).convert("L").histogram()
    seen, target = 0, 0.9 * sum(histogram)
    for level, count in enumerate(histogram):
        seen += count
        if seen >= target:
            return level
    return 255


def test_the_medical_invoice_is_a_scan_taken_in_poor_light(examples: list) -> None:
    [doc] = [d for d in examples if d.schema == "medical_invoice"]
    [other_scan] = [d for d in examples if d.name == "en_scanned_invoice"]
    assert doc.suffix == ".jpg" and _paper(doc.content) < 190 < 220 < _paper(other_scan.content)


def test_poor_light_dims_the_page_and_more_towards_one_side() -> None:
    white = Image.new("RGB", (300, 200), (255, 255, 255))
    plain = degrade_image(white, random.Random(0)).convert("L")
    dim = degrade_image(white, random.Random(0), light=0.6).convert("L")
    assert ImageStat.Stat(dim).mean[0] < 0.65 * ImageStat.Stat(plain).mean[0]
    left, right = (ImageStat.Stat(dim.crop((x, 20, x + 20, 180))).mean[0] for x in (20, 260))
    assert right < 0.85 * left


def test_the_property_certificate_has_its_rights_on_page_two(examples: list) -> None:
    [doc] = [d for d in examples if d.schema == "property_certificate"]
    with pymupdf.open(stream=doc.content, filetype="pdf") as pdf:
        assert pdf.page_count == doc.page_count == 2
        first, second = pdf[0].get_text(), pdf[1].get_text()
    assert doc.truth["registration_authority"] in first
    assert doc.truth["unit_number"] in second and doc.truth["unit_number"] not in first
    assert "不动产权第" in second and "不动产单元号" in second and "不动产单元号" not in first
    assert len(render_images(doc.content, 40)) == 2


@pytest.mark.parametrize("schema", NEW)
def test_the_truth_scores_itself_perfectly_and_a_changed_value_less(schema: str) -> None:
    [path] = (TRUTH / schema).glob("*.json")
    truth = json.loads(path.read_text(encoding="utf-8"))
    model = BUILTIN_SCHEMAS[schema]
    assert score_document(truth, truth, model).counts.f1 == 1.0
    wrong = {**truth, "issue_date": "1999-01-01"}
    assert score_document(truth, wrong, model).counts.f1 < 1.0


@pytest.mark.parametrize("schema", NEW)
def test_a_dry_run_is_scored_on_every_field(schema: str, tmp_path: Path) -> None:
    runner, out = CliRunner(), tmp_path / "out"
    done = runner.invoke(app, ["run", str(DOCUMENTS / schema), "--schema", schema, "--out",
                               str(out), "--engine", "null", "-q"])  # fmt: skip
    assert done.exit_code == 0, done.output
    scored = runner.invoke(app, ["eval", str(out), "--truth", str(TRUTH), "--schema", schema,
                                 "--json"])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output)
    scored_fields = {name.split("[")[0] for name in report["fields"]}
    assert scored_fields == set(BUILTIN_SCHEMAS[schema].model_fields)
    assert 0 < report["total"]["recall"] < 1  # the null answer carries no information
