"""--model-boxes: a scan's values located on the model's own reading of the page.

The input is a generated invoice as a PNG (no text layer), beside the same invoice as a PDF.
The engine is the null engine answering as a perfect reader would: the invoice's truth for the
extraction, and for the page_text request the lines the PDF prints, on the 0-1000 grid. What
is real: the render, the requests docextract builds, the parsing of the lines answer, the
locator, the Parquet read back, and the generator's true boxes as the mark."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
from typer.testing import CliRunner

from pipeline.bench.docgen import make_invoice
from pipeline.bench.docgen.scan import encode_images, render_images
from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineFailure, EngineResult
from pipeline.engines.null import NullEngine
from pipeline.errors import ErrorCode
from pipeline.eval.grounding import iou
from pipeline.extract.model_lines import answer_lines, line_words
from pipeline.grounding.textlayer import text_lines
from pipeline.output.progress import PlainReporter
from pipeline.run import run_extraction
from schemas.page_text import on_grid


@pytest.fixture(scope="module")
def invoice(tmp_path_factory):  # type: ignore[no-untyped-def]
    """(inbox with scan.png and digital.pdf, the truth, the true boxes, the PDF's lines answer)."""
    document = make_invoice(random.Random(7), "boxes", "en", "band", lines=3)
    inbox = tmp_path_factory.mktemp("inbox")
    (inbox / "digital.pdf").write_bytes(document.content)
    (inbox / "scan.png").write_bytes(encode_images(render_images(document.content, 100), ".png"))
    with pymupdf.open(stream=document.content, filetype="pdf") as doc:
        page = doc[0]
        width, height = page.rect.width, page.rect.height
        lines = [
            {"text": ln.text, "bbox_2d": on_grid(
                (ln.x0 / width, ln.y0 / height, ln.x1 / width, ln.y1 / height))}
            for ln in text_lines(page)
        ]  # fmt: skip
    return inbox, document.truth, document.boxes, json.dumps({"lines": lines})


class PerfectReader(NullEngine):
    """Answers the extraction with the truth and a page_text request with `lines`; or, with
    `lines` None, fails every page_text request for good. Keeps every request it saw."""

    def __init__(self, truth: dict, lines: str | None) -> None:  # type: ignore[type-arg]
        super().__init__()
        self.truth, self.lines = json.dumps(truth), lines
        self.seen: list[str] = []

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        answered = []
        for request, outcome in zip(requests, outcomes, strict=True):
            self.seen.append(request.request_id)
            reads_lines = "lines" in request.json_schema.get("properties", {})
            if reads_lines and self.lines is None:
                outcome = EngineFailure(request.request_id, ErrorCode.ENGINE_ERROR, "no reader")
            elif isinstance(outcome, EngineResult):
                text = self.lines if reads_lines else self.truth
                outcome = dataclasses.replace(outcome, text=text)
            answered.append(outcome)
        return answered


def _run(inbox: Path, out: Path, engine: NullEngine, model_boxes: bool = True) -> dict:  # type: ignore[type-arg]
    render = {"dpi": 100, "workers": 1, "text_layer": True, "model_boxes": model_boxes}
    flags = {"inputs": [str(inbox)], "out": str(out), "retries": 0, "log_format": "plain",
             "render": render}  # fmt: skip
    report = run_extraction(load_config(flags, None, {}), engine=engine,
                            reporter=PlainReporter(io.StringIO()))  # fmt: skip
    fields: dict[str, dict[str, dict]] = {}  # type: ignore[type-arg]
    for row in pq.read_table(out / "invoice" / "fields").to_pylist():
        fields.setdefault(Path(row["source_path"]).name, {})[row["field"]] = row
    documents = {Path(r["source_path"]).name: r
                 for r in pq.read_table(out / "invoice" / "documents").to_pylist()}  # fmt: skip
    return {"report": report, "fields": fields, "documents": documents}


def _scores(fields: dict, boxes: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    """Share of the true boxes found on the right page, and their mean IoU (normalised)."""
    found, overlaps = 0, []
    for path, truth in boxes.items():
        row = fields.get(path)
        width, height = truth["page_size"]
        x0, y0, x1, y1 = truth["box"]
        true_box = (x0 / width, y0 / height, x1 / width, y1 / height)
        if row is None or row["on_page"] != truth["page"]:
            overlaps.append(0.0)
            continue
        found += 1
        overlaps.append(iou(true_box, tuple(row[k] for k in ("nx0", "ny0", "nx1", "ny1"))))
    return found / len(boxes), sum(overlaps) / len(overlaps)


def test_a_scans_values_are_boxed_where_the_models_reading_prints_them(invoice, tmp_path):
    inbox, truth, boxes, lines = invoice
    engine = PerfectReader(truth, lines)
    done = _run(inbox, tmp_path / "out", engine)
    assert sorted(i.split("#", 1)[1] for i in engine.seen) == ["0", "0", "lines1"]
    scan, digital = done["fields"]["scan.png"], done["fields"]["digital.pdf"]
    assert {r["source"] for r in scan.values()} <= {"model_box", "none"}
    assert {r["source"] for r in digital.values()} <= {"text_layer", "none"}
    found, mean_iou = _scores(scan, boxes)
    digital_found, digital_iou = _scores(digital, boxes)
    print(f"scan: {found:.3f} found, IoU {mean_iou:.3f}; "
          f"pdf: {digital_found:.3f} found, IoU {digital_iou:.3f}")
    assert found == 1.0 and mean_iou >= 0.9 and digital_found == 1.0 and digital_iou >= 0.99
    for row in scan.values():
        if row["source"] == "model_box":
            assert row["on_page"] == 1
            assert all(0 <= row[k] <= 1 for k in ("nx0", "ny0", "nx1", "ny1"))
            assert row["nx0"] < row["nx1"] and row["ny0"] < row["ny1"]
    # The same value found in both: the model's reading weighs 0.9 of the text layer's.
    both = [p for p, r in scan.items() if r["source"] == "model_box" and r["match"] == "exact"
            and digital[p]["match"] == "exact" and digital[p]["confidence"] == 1.0]  # fmt: skip
    assert both and all(scan[p]["confidence"] == 0.9 for p in both)
    assert done["documents"]["scan.png"]["warnings"] == []
    # The review page draws the scan's boxes over its image, as it does a PDF's.
    review = tmp_path / "review.html"
    shown = CliRunner().invoke(app, ["review", str(tmp_path / "out"), "--schema", "invoice",
                                     "-o", str(review)])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    html = review.read_text(encoding="utf-8")
    boxed = sum(r["source"] == "model_box" for r in scan.values())
    boxed += sum(r["x0"] is not None for r in digital.values())
    assert boxed > 40 and html.count('<div class="box ') == boxed


def test_without_model_boxes_a_scan_is_not_read_twice_and_its_values_have_no_box(
    invoice, tmp_path
):
    inbox, truth, _, lines = invoice
    engine = PerfectReader(truth, lines)
    done = _run(inbox, tmp_path / "out", engine, model_boxes=False)
    assert not any("#lines" in i for i in engine.seen)
    assert {r["source"] for r in done["fields"]["scan.png"].values()} == {"none"}


def test_a_page_the_model_cannot_read_as_lines_keeps_its_row_with_a_warning(invoice, tmp_path):
    inbox, truth, _, _ = invoice
    done = _run(inbox, tmp_path / "out", PerfectReader(truth, None))
    scan = done["documents"]["scan.png"]
    assert scan["status"] == "warning" and scan["data"]["invoice_number"] == truth["invoice_number"]
    (warning,) = scan["warnings"]
    assert warning["code"] == "lines_unread" and "page 1" in warning["message"]
    assert "no reader" in warning["message"]
    assert {r["source"] for r in done["fields"]["scan.png"].values()} == {"none"}
    assert done["report"].warnings_by_code == {"lines_unread": 1}
    assert done["documents"]["digital.pdf"]["status"] == "ok"


def test_answer_lines_keeps_the_valid_lines_of_an_answer():
    answer = json.dumps({"lines": [
        {"text": "Total 1,190.00", "bbox_2d": [100, 500, 400, 520]},
        {"text": "no area", "bbox_2d": [100, 500, 100, 520]},
        {"text": "off the grid", "bbox_2d": [100, 500, 1400, 520]},
        {"text": "swapped corners", "bbox_2d": [400, 520, 100, 500]},
        {"bbox_2d": [1, 2, 3, 4]},
    ]})  # fmt: skip
    assert [ln.text for ln in answer_lines(answer)] == ["Total 1,190.00", "swapped corners"]
    assert answer_lines('{"lines": [{"text": "cut') == [] and answer_lines("[]") == []
    cut = '{"lines": [{"text": "A", "bbox_2d": [1, 2, 30, 40]}, {"text": "B", "bbox_2d": [1, 4'
    assert [ln.text for ln in answer_lines(cut)] == ["A"]


def test_line_words_split_a_line_by_spaces_and_scripts_and_share_its_box_by_width():
    # 10 pt a narrow character, 20 pt a wide one (合, 计 and the full-width colon)
    words = line_words("合计：¥123.00 EUR", (0.0, 10.0, 170.0, 20.0), 3)
    assert [w.text for w in words] == ["合计：", "¥123.00", "EUR"]
    assert [(w.x0, w.x1) for w in words] == [(0.0, 60.0), (60.0, 140.0), (140.0, 170.0)]
    assert {(w.y0, w.y1, w.block, w.line) for w in words} == {(10.0, 20.0, 3, 3)}


def test_model_boxes_turn_grounding_on_and_refuse_no_grounding(tmp_path):
    flags = {"inputs": [str(tmp_path)], "render": {"model_boxes": True}}
    assert load_config(flags, None, {}).render.text_layer is True
    refused = CliRunner().invoke(
        app, ["run", str(tmp_path), "--out", str(tmp_path / "out"), "--model-boxes",
              "--no-grounding", "--engine", "null"],
    )  # fmt: skip
    assert refused.exit_code == 2 and "model_boxes" in refused.output
