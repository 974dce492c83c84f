"""The page_text schema: a born-digital page read from its text layer, a scan by the model, and
the lines table both write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineOutcome, EngineRequest, EngineResult
from pipeline.engines.null import NullEngine
from pipeline.run import run_extraction
from schemas.page_text import PageText, on_grid

runner = CliRunner()


class ScriptedEngine(NullEngine):
    """Answers every request with `answer` and keeps what it was asked."""

    def __init__(self, answer: dict) -> None:
        super().__init__()
        self.answer = json.dumps(answer)
        self.asked: list[EngineRequest] = []

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        self.asked.extend(requests)
        return [EngineResult(r.request_id, self.answer, "stop", 100, 20) for r in requests]


def _two_column_pdf(path: Path) -> Path:
    """Two pages: a heading, a paragraph that wraps, two columns and a CJK line; then a page
    with one line near its foot. Lines in several blocks, so the order is worth checking."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((56, 60), "Statement of account", fontsize=16)
    page.insert_textbox(pymupdf.Rect(56, 80, 300, 160), "The amounts below are due within "
                        "thirty days of the date of this statement, without deduction.",
                        fontsize=10)  # fmt: skip
    page.insert_text((56, 200), "Left column 1.234,56", fontsize=10)
    page.insert_text((320, 200), "Right column 99.00", fontsize=10)
    page.insert_font(fontname="china-s")
    page.insert_text((56, 240), "合计 人民币 壹仟元整", fontname="china-s", fontsize=11)
    page.insert_text((56, 260), "   ", fontsize=10)  # white space only: not a line
    second = doc.new_page(width=420, height=595)
    second.insert_text((200, 560), "Page two, last line", fontsize=9)
    doc.save(path)
    doc.close()
    return path


def _scan_png(path: Path, dpi: int) -> Path:
    """A page image with no text layer, stating its resolution."""
    doc = pymupdf.open()
    page = doc.new_page(width=200, height=100)
    page.insert_text((20, 50), "scanned", fontsize=20)
    page.get_pixmap(dpi=dpi).save(path)
    doc.close()
    return path


def _run(inbox: Path, out: Path, engine: NullEngine):  # type: ignore[no-untyped-def]
    config = load_config(
        {"inputs": [str(inbox)], "out": out, "schema_ref": "page_text", "log_format": "plain",
         "render": {"workers": 1}},
        env={},
    )  # fmt: skip
    return run_extraction(config, engine)


def _pymupdf_lines(pdf: Path) -> list[tuple[int, str, tuple[float, ...]]]:
    """(page, text, box) of every non-blank line, in PyMuPDF's sorted reading order."""
    found = []
    with pymupdf.open(pdf) as doc:
        for number, page in enumerate(doc, start=1):
            for block in page.get_text("dict", sort=True)["blocks"]:
                for line in block.get("lines", ()):
                    text = "".join(span["text"] for span in line["spans"])
                    if text.strip():
                        found.append((number, text, tuple(line["bbox"])))
    return found


def _lines_table(out: Path) -> list[dict]:
    rows = pq.read_table(out / "page_text" / "lines").to_pylist()
    return sorted(rows, key=lambda row: (row["page"], row["line"]))


def test_a_born_digital_pdf_gives_pymupdfs_lines_exactly_without_the_model(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    pdf = _two_column_pdf(inbox / "statement.pdf")
    engine = ScriptedEngine({"lines": []})
    report = _run(inbox, tmp_path / "out", engine)

    assert engine.asked == [] and report.extracted == 2 and report.failed == 0
    expected = _pymupdf_lines(pdf)
    assert len(expected) >= 7 and "合计 人民币 壹仟元整" in [text for _, text, _ in expected]
    rows = _lines_table(tmp_path / "out")
    assert [(r["page"], r["text"], (r["x0"], r["y0"], r["x1"], r["y1"])) for r in rows] == [
        (page, text, pytest.approx(box)) for page, text, box in expected
    ]
    sizes = {1: (595, 842), 2: (420, 595)}
    for row in rows:
        width, height = sizes[row["page"]]
        assert row["source"] == "text_layer" and row["engine"] == "text_layer"
        assert (row["nx0"], row["ny1"]) == pytest.approx((row["x0"] / width, row["y1"] / height))
    assert [r["line"] for r in rows if r["page"] == 1] == list(range(1, len(rows)))

    documents = pq.read_table(tmp_path / "out" / "page_text" / "documents").to_pylist()
    first = next(d for d in documents if d["page"] == 1)
    assert first["engine"] == "text_layer" and first["prompt_tokens"] == 0
    assert [line["text"] for line in first["data"]["lines"]] == [r["text"] for r in rows][:-1]
    x0, y0, x1, y1 = rows[0]["nx0"], rows[0]["ny0"], rows[0]["nx1"], rows[0]["ny1"]
    expected_grid = [round(x0 * 1000), round(y0 * 1000), round(x1 * 1000), round(y1 * 1000)]
    assert first["data"]["lines"][0]["bbox_2d"] == expected_grid


def test_a_rerun_skips_the_pages_it_read(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    _run(inbox, tmp_path / "out", ScriptedEngine({"lines": []}))
    again = _run(inbox, tmp_path / "out", ScriptedEngine({"lines": []}))
    assert again.extracted == 0 and again.skipped == 2


@pytest.mark.parametrize("dpi", [144, 0])
def test_a_scan_goes_to_the_model_and_its_grid_boxes_become_points(tmp_path, dpi):
    inbox = tmp_path / "in"
    inbox.mkdir()
    scan = _scan_png(inbox / "scan.png", 144)
    if not dpi:  # the same pixels, stating no resolution
        from PIL import Image

        with Image.open(scan) as image:
            image.load()
            stripped = image.copy()
        stripped.info.pop("dpi", None)
        stripped.save(scan)
    answer = {"lines": [{"text": "scanned", "bbox_2d": [600, 700, 100, 300]}]}
    engine = ScriptedEngine(answer)
    report = _run(inbox, tmp_path / "out", engine)

    assert len(engine.asked) == 1 and report.extracted == 1
    (row,) = _lines_table(tmp_path / "out")
    assert (row["text"], row["source"], row["line"], row["page"]) == ("scanned", "model", 1, 1)
    assert (row["nx0"], row["ny0"], row["nx1"], row["ny1"]) == pytest.approx((0.1, 0.3, 0.6, 0.7))
    # 400 x 200 pixels: 200 x 100 points at 144 dpi; the pixels themselves without a resolution
    width, height = (200, 100) if dpi else (400, 200)
    # (PNG keeps its resolution in whole pixels per metre: 144 dpi reads back as 143.99)
    assert (row["x0"], row["y0"], row["x1"], row["y1"]) == pytest.approx(
        (0.1 * width, 0.3 * height, 0.6 * width, 0.7 * height), rel=1e-3
    )
    (document,) = pq.read_table(tmp_path / "out" / "page_text" / "documents").to_pylist()
    assert document["data"]["lines"][0]["bbox_2d"] == [100, 300, 600, 700]
    assert document["engine"] == "null"


def test_without_an_engine_text_pages_are_written_and_scans_wait_for_a_model(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    _scan_png(inbox / "scan.png", 144)
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "run", str(inbox), "--schema", "page_text", "--out", str(out), "--engine", "transformers",
        "--model", str(tmp_path / "no-such-model"), "--log-format", "plain",
    ])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "2 pages read from the text layer; 1 still need a model" in result.output
    assert "scan.png" in result.output
    assert {r["page"] for r in _lines_table(out)} == {1, 2}


@pytest.fixture
def built(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The name of each engine the run builds, in order (the real `build_engine`, watched)."""
    import pipeline.engines

    names: list[str] = []
    real = pipeline.engines.build_engine

    def build_engine(config, **kwargs):  # type: ignore[no-untyped-def]
        names.append(config.name)
        return real(config, **kwargs)

    monkeypatch.setattr(pipeline.engines, "build_engine", build_engine)
    return names


def test_the_engine_starts_only_for_a_page_without_a_text_layer(tmp_path, built):
    """Born-digital PDFs alone need no model: the run never builds its engine. A scan among
    them does; once the scan is done, a re-run over the same inbox needs none again."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    config = load_config(
        {"inputs": [str(inbox)], "out": out, "schema_ref": "page_text", "log_format": "plain",
         "render": {"workers": 1}, "engine": {"name": "null"}},
        env={},
    )  # fmt: skip
    report = run_extraction(config)
    assert built == [] and report.extracted == 2 and not report.needs_model
    _scan_png(inbox / "scan.png", 144)
    report = run_extraction(config)
    assert built == ["null"] and report.extracted == 1  # the scan, by the model
    report = run_extraction(config)
    assert built == ["null"] and report.extracted == 0 and report.skipped == 3
    engines = sorted(row["engine"] for row in
                     pq.read_table(out / "page_text" / "documents").to_pylist())  # fmt: skip
    assert engines == ["null", "text_layer", "text_layer"]


def test_extract_reads_born_digital_pages_without_building_an_engine(tmp_path, built):
    """docextract.extract() takes the same look before it builds an engine."""
    import docextract
    pdf = _two_column_pdf(tmp_path / "statement.pdf")
    results = docextract.extract(pdf, schema="page_text", engine="null")
    assert built == [] and [r.page for r in results] == [1, 2]
    assert all(r.error is None and r.data.lines for r in results)
    scan = _scan_png(tmp_path / "scan.png", 144)
    assert [r.error for r in docextract.extract(scan, schema="page_text", engine="null")] == [None]
    assert built == ["null"]


def test_the_look_at_the_text_layers_is_logged_before_the_engine_starts(tmp_path):
    """A page_text run says, in its machine-readable log, that it reads the documents' text
    layers before deciding on the model; other schemas' runs take no such look."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    _scan_png(inbox / "scan.png", 144)

    def notes(schema: str, out: str) -> list[dict]:
        result = runner.invoke(app, ["run", str(inbox), "--schema", schema, "--out",
                                     str(tmp_path / out), "--engine", "null",
                                     "--log-format", "json"])  # fmt: skip
        events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
        return [e for e in events if e.get("event") == "note"]

    looked = [n for n in notes("page_text", "pt") if "text layers" in n["message"]]
    assert [n["documents"] for n in looked] == [2]
    assert not [n for n in notes("invoice", "inv") if "text layers" in n["message"]]


def test_a_page_the_look_ahead_missed_waits_for_a_model_with_exit_3(tmp_path, monkeypatch):
    """Should the look at the text layers before the run miss a page without one, the run that
    left its engine unstarted says so and exits 3, as when the engine cannot start; the pages
    with text are written."""
    import pipeline.run

    monkeypatch.setattr(pipeline.run, "needs_the_model", lambda *args: False)
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    _scan_png(inbox / "scan.png", 144)
    result = runner.invoke(app, ["run", str(inbox), "--schema", "page_text", "--out", str(out),
                                 "--engine", "null", "--log-format", "plain"])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "the engine was not started" in result.output
    assert "2 pages read from the text layer; 1 still need a model" in result.output
    assert {r["page"] for r in _lines_table(out)} == {1, 2}


def test_other_schemas_write_no_lines_table(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    config = load_config(
        {"inputs": [str(inbox)], "out": tmp_path / "out", "log_format": "plain",
         "render": {"workers": 1}},
        env={},
    )  # fmt: skip
    run_extraction(config, NullEngine())
    assert sorted(p.name for p in (tmp_path / "out" / "invoice").iterdir()) == [
        "documents", "errors", "fields",
    ]


def test_boxes_are_on_the_grid_with_their_corners_in_order():
    line = {"text": "x", "bbox_2d": [900, 40, 100, 20]}
    assert PageText.model_validate({"lines": [line]}).lines[0].bbox_2d == [100, 20, 900, 40]
    for bad in ([0, 0, 1001, 5], [0, 0, 5], [-1, 0, 5, 5]):
        with pytest.raises(ValidationError):
            PageText.model_validate({"lines": [{"text": "x", "bbox_2d": bad}]})
    with pytest.raises(ValidationError):
        PageText.model_validate({"lines": [{"text": "", "bbox_2d": [0, 0, 1, 1]}]})


def test_a_box_without_area_is_a_warning_naming_the_line():
    flat = {"text": "Total 12,00", "bbox_2d": [100, 500, 400, 500]}
    fine = {"text": "Date", "bbox_2d": [100, 520, 200, 540]}
    findings = PageText.model_validate({"lines": [fine, flat]}).check_rules()
    assert [(f.code, f.severity) for f in findings] == [("page_text.empty_box", "warning")]
    assert "line 2 'Total 12,00'" in findings[0].message
    assert PageText.model_validate({"lines": [fine]}).check_rules() == []


def test_the_tiny_model_reads_a_scan_into_lines_on_the_page(tmp_path, tiny_model_dir):
    """The real (tiny, random) Qwen3-VL through the transformers engine: its text is bounded to
    short words so random weights finish (tests/data/bounded_page_text.py); its boxes are
    page_text's, and every one lands on the page."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    _scan_png(inbox / "scan.png", 72)
    out = tmp_path / "out"
    schema = str(Path(__file__).parent / "data" / "bounded_page_text.py") + ":BoundedPageText"
    result = runner.invoke(app, [
        "run", str(inbox), "--schema", schema, "--out", str(out), "--engine", "transformers",
        "--model", str(tiny_model_dir), "--max-new-tokens", "200", "--dpi", "40",
        "--log-format", "plain",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = out / "bounded_page_text"
    (document,) = pq.read_table(folder / "documents").to_pylist()
    lines = pq.read_table(folder / "lines").to_pylist()
    assert document["engine"] == "transformers" and 1 <= len(document["data"]["lines"]) <= 3
    assert [row["text"] for row in lines] == [line["text"] for line in document["data"]["lines"]]
    for row, line in zip(lines, document["data"]["lines"], strict=True):
        x0, y0, x1, y1 = line["bbox_2d"]
        assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000 and row["source"] == "model"
        assert (row["nx0"], row["ny1"]) == pytest.approx((x0 / 1000, y1 / 1000))
        assert 0 <= row["x1"] <= 200.1 and 0 <= row["y1"] <= 100.1  # the page: 200 x 100 pt


def test_the_lines_view_holds_the_lines_of_the_pages_that_stand(tmp_path):
    import duckdb

    from pipeline.output.current import current_row_dicts, current_view_sql

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    _two_column_pdf(inbox / "statement.pdf")
    _run(inbox, out, ScriptedEngine({"lines": []}))
    config = load_config(
        {"inputs": [str(inbox)], "out": out, "schema_ref": "page_text", "log_format": "plain",
         "render": {"workers": 1}, "force": True},
        env={},
    )  # fmt: skip
    forced = run_extraction(config, ScriptedEngine({"lines": []}))
    every = pq.read_table(out / "page_text" / "lines").num_rows
    standing = current_row_dicts(out, "page_text", "lines")
    assert every == 2 * len(standing) and {r["run_id"] for r in standing} == {forced.run_id}
    db = duckdb.connect()
    db.execute(current_view_sql(out, "page_text"))
    by_sql = db.execute("SELECT item_id, line, text, run_id FROM lines").fetchall()
    by_rule = [(r["item_id"], r["line"], r["text"], r["run_id"]) for r in standing]
    assert sorted(by_sql) == sorted(by_rule)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_the_boxes_of_a_rotated_page_are_where_its_rendered_image_shows_the_text(
    tmp_path, rotation
):
    import numpy as np

    inbox = tmp_path / "in"
    inbox.mkdir()
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 100), "Rotated line here", fontsize=14)
    page.set_rotation(rotation)
    doc.save(inbox / "rotated.pdf")
    pix = doc[0].get_pixmap(dpi=72)  # the page as shown, as the model sees it
    doc.close()
    ink = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
    ys, xs = np.nonzero(ink[:, :, 0] < 128)
    _run(inbox, tmp_path / "out", ScriptedEngine({"lines": []}))

    (row,) = _lines_table(tmp_path / "out")
    assert row["text"] == "Rotated line here"
    assert row["x0"] <= xs.min() and xs.max() + 1 <= row["x1"] + 1
    assert row["y0"] <= ys.min() and ys.max() + 1 <= row["y1"] + 1
    assert row["nx1"] == pytest.approx(row["x1"] / pix.width)


def test_eval_scores_each_page_of_a_document_read_page_by_page(tmp_path):
    """A two-page document read page by page is scored page by page: its rows are keyed
    `<stem>.p<N>`, each against the truth of its own page."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    pdf = _two_column_pdf(inbox / "statement.pdf")
    _run(inbox, tmp_path / "out", ScriptedEngine({"lines": []}))
    truth = tmp_path / "truth" / "page_text"
    truth.mkdir(parents=True)
    with pymupdf.open(pdf) as doc:
        for number, page in enumerate(doc, start=1):
            width, height = page.rect.width, page.rect.height
            lines = [{"text": text, "bbox_2d": on_grid(
                        (box[0] / width, box[1] / height, box[2] / width, box[3] / height))}
                     for n, text, box in _pymupdf_lines(pdf) if n == number]  # fmt: skip
            (truth / f"statement.p{number}.json").write_text(json.dumps({"lines": lines}))
    args = ["eval", str(tmp_path / "out"), "--truth", str(tmp_path / "truth"),
            "--schema", "page_text", "--json"]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert [d["key"] for d in report["documents"]] == ["statement.p1", "statement.p2"]
    assert all(d["f1"] == 1.0 and not d["missing"] for d in report["documents"])
    assert report["unmatched_predictions"] == []
    (truth / "statement.p1.json").rename(truth / "swap.json")
    (truth / "statement.p2.json").rename(truth / "statement.p1.json")
    swapped = json.loads(CliRunner().invoke(app, args).output)["documents"]
    assert swapped[0]["key"] == "statement.p1" and swapped[0]["f1"] < 0.5
