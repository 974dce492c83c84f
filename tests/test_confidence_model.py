"""The model's own certainty reaches the fields' confidence: a real (tiny, random) Qwen3-VL
through the transformers engine, asked for log-probabilities because grounding is on.

The schema (tests/data/choice_schema.py) allows only values the page prints, each once, so every
field is found exactly and alone: its confidence is the model's probability of its value, below
1 wherever the grammar left the model more than one choice. The null engine, certain by
construction, gives 1 for the same fields.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.data.choice_schema import CHOICES

runner = CliRunner()
SCHEMA = str(Path(__file__).parent / "data" / "choice_schema.py") + ":Choice"


def choices_pdf(path: Path) -> Path:
    """One page printing every value a Choice can hold, once each, apart."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for index, word in enumerate(CHOICES):
        page.insert_text((72 + 90 * index, 100 + 60 * index), word, fontsize=14)
    doc.save(path)
    doc.close()
    return path


def _fields(out: Path) -> list[dict]:
    return pq.read_table(out / "choice" / "fields").to_pylist()


@pytest.mark.parametrize("engine", ["transformers", "null"])
def test_every_field_weighs_the_models_probability_of_its_value(tmp_path, tiny_model_dir, engine):
    inbox = tmp_path / "in"
    inbox.mkdir()
    choices_pdf(inbox / "choices.pdf")
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "run", str(inbox), "--schema", SCHEMA, "--out", str(out), "--engine", engine,
        "--model", str(tiny_model_dir), "--grounding", "--dpi", "40", "--log-format", "plain",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    fields = _fields(out)
    assert sorted(f["field"] for f in fields) == ["colour", "size"]
    for field in fields:
        assert field["value"] in CHOICES
        assert (field["source"], field["match"]) == ("text_layer", "exact")
        if engine == "null":
            assert field["confidence"] == 1.0
        else:
            assert 0.0 < field["confidence"] < 1.0, field


def test_a_real_models_reading_of_a_scan_boxes_every_value_on_the_page(
    tmp_path, tiny_model_dir, monkeypatch
):
    """--model-boxes through the tiny random model: its reading of the scan, bounded to the
    page's own words (tests/data/choice_lines.py stands in for page_text), is parsed, placed on
    the page and searched, so each value gets the box the model drew for its line."""
    from pipeline.extract.catalog import BUILTIN_SCHEMAS
    from tests.data.choice_lines import ChoiceLines

    monkeypatch.setitem(BUILTIN_SCHEMAS, "page_text", ChoiceLines)
    inbox = tmp_path / "in"
    inbox.mkdir()
    with pymupdf.open(choices_pdf(tmp_path / "choices.pdf")) as doc:
        doc[0].get_pixmap(dpi=40).save(inbox / "scan.png")
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "run", str(inbox), "--schema", SCHEMA, "--out", str(out), "--engine", "transformers",
        "--model", str(tiny_model_dir), "--model-boxes", "--dpi", "40", "--log-format", "plain",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (document,) = pq.read_table(out / "choice" / "documents").to_pylist()
    assert document["warnings"] == []
    fields = _fields(out)
    assert sorted(f["field"] for f in fields) == ["colour", "size"]
    for field in fields:
        assert (field["source"], field["match"], field["on_page"]) == ("model_box", "exact", 1)
        # the grammar put each line's top-left corner in [0, 499] and its bottom-right one in
        # [500, 1000] of the grid: the value's box is its line's, from the grid to the page
        assert 0 <= field["nx0"] < 0.5 <= field["nx1"] <= 1, field
        assert 0 <= field["ny0"] < 0.5 <= field["ny1"] <= 1, field
        assert 0.0 < field["confidence"] < 1.0, field
    corners = ("nx0", "ny0", "nx1", "ny1")
    boxes = [(f["field"], f["value"], *(f[k] for k in corners)) for f in fields]
    print(f"boxes: {boxes}")
