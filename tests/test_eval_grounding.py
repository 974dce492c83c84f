"""`docextract eval` scores grounding: real runs over generated examples with the text layer
read, an engine answering each document's truth, and the fields table scored against the
generator's true boxes."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.bench.docgen import generate_examples
from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.output.progress import PlainReporter
from pipeline.run import run_extraction
from tests.run_helpers import AnswersByDocument


def truth_by_file(answers: dict[str, dict]) -> AnswersByDocument:
    """The null engine answering each document with its truth, by the document id."""
    return AnswersByDocument({doc_id: json.dumps(truth) for doc_id, truth in answers.items()})


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("examples")
    generate_examples(root)
    return root


def _run(examples: Path, schema: str, out: Path, grounding: bool) -> None:
    folder = examples / "documents" / schema
    answers = {
        hashlib.sha256(doc.read_bytes()).hexdigest(): json.loads(
            (examples / "truth" / schema / f"{doc.stem}.json").read_text(encoding="utf-8")
        )
        for doc in folder.iterdir()
    }
    render = {"dpi": 40, "workers": 1, "text_layer": grounding}
    flags = {"inputs": [str(folder)], "out": str(out), "retries": 0, "schema_ref": schema,
             "log_format": "plain", "render": render}  # fmt: skip
    config = load_config(flags, None, {})
    run_extraction(config, engine=truth_by_file(answers), reporter=PlainReporter(io.StringIO()))


def _eval(out: Path, examples: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["eval", str(out), "--truth", str(examples / "truth"), "--json", *extra]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)  # type: ignore[no-any-return]


@pytest.mark.parametrize("schema", ["invoice", "bank_statement", "receipt"])
def test_eval_scores_where_each_value_was_found(
    examples: Path, tmp_path: Path, schema: str
) -> None:
    _run(examples, schema, tmp_path / "out", grounding=True)
    report = _eval(tmp_path / "out", examples)
    assert report["total"]["f1"] == pytest.approx(1.0)  # the answers are the truth
    grounding = report["grounding"]
    assert grounding["measured"] is True
    total = grounding["total"]
    boxes = examples / "truth" / schema / "boxes"
    documents = sorted((examples / "documents" / schema).iterdir())
    scans = [p.name for p in documents if p.suffix != ".pdf"]
    assert grounding["without_text_layer"] == scans
    # the Factur-X invoice is read from its XML: no page is rendered, its values have no box
    xml = ["de_facturx_invoice.pdf"] if schema == "invoice" else []
    assert grounding["from_xml"] == xml
    expected = sum(
        len(json.loads((boxes / f"{doc.stem}.json").read_text()))
        for doc in documents
        if doc.name not in scans + xml
    )
    assert total["true_boxes"] == expected > 0
    assert total["found_share"] >= 0.95
    assert total["right_page_share"] == total["found_share"]
    assert total["mean_iou"] >= 0.9
    for kind, score in grounding["fields"].items():
        assert score["right_page"] <= score["found"] <= score["true_boxes"], kind


def test_a_wrong_answer_is_found_elsewhere_or_not_at_all(examples: Path, tmp_path: Path) -> None:
    """Grounding follows the answer: values the document does not print are not found, and
    the score says so."""
    schema, out = "bank_statement", tmp_path / "out"
    truth = examples / "truth" / schema / "monthly_statement.json"
    right = json.loads(truth.read_text(encoding="utf-8"))
    first = {**right["transactions"][0], "description": "Nothing printed like this"}
    rest = right["transactions"][1:]
    wrong = {**right, "account_number": "00000000", "transactions": [first, *rest]}
    pdf = examples / "documents" / schema / "monthly_statement.pdf"
    answers = {hashlib.sha256(pdf.read_bytes()).hexdigest(): wrong}
    render = {"dpi": 40, "workers": 1, "text_layer": True}
    flags = {"inputs": [str(pdf.parent)], "out": str(out), "retries": 0, "schema_ref": schema,
             "log_format": "plain", "render": render}  # fmt: skip
    run_extraction(load_config(flags, None, {}), engine=truth_by_file(answers),
                   reporter=PlainReporter(io.StringIO()))  # fmt: skip
    grounding = _eval(out, examples)["grounding"]
    assert grounding["fields"]["account_number"]["found"] == 0
    descriptions = grounding["fields"]["transactions[].description"]
    assert descriptions["found"] == descriptions["true_boxes"] - 1
    assert grounding["total"]["found"] == grounding["total"]["true_boxes"] - 2


def test_without_a_fields_table_grounding_is_not_measured(examples: Path, tmp_path: Path) -> None:
    _run(examples, "receipt", tmp_path / "out", grounding=False)
    grounding = _eval(tmp_path / "out", examples)["grounding"]
    assert grounding["measured"] is False and "--grounding" in grounding["reason"]
    assert "total" not in grounding  # no zeros that read as a measurement
    plain = CliRunner().invoke(app, ["eval", str(tmp_path / "out"), "--truth",
                                     str(examples / "truth")])  # fmt: skip
    assert plain.exit_code == 0, plain.output
    text = " ".join(plain.output.split())
    assert "grounding not measured:" in text and "run with --grounding" in text
    assert "# Grounding" not in plain.output


def test_the_human_report_has_a_grounding_table(examples: Path, tmp_path: Path) -> None:
    _run(examples, "cn_vat_invoice", tmp_path / "out", grounding=True)
    plain = CliRunner().invoke(app, ["eval", str(tmp_path / "out"), "--truth",
                                     str(examples / "truth")])  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert "# Grounding" in plain.output
    assert "field\ttrue boxes\tfound\tright page\tmean IoU" in plain.output
    assert "grounding: 27 of 27 true values found (100.0%), 27 on the right page" in " ".join(
        plain.output.split()
    )


def test_embedded_truth_has_no_boxes(examples: Path, tmp_path: Path) -> None:
    _run(examples, "invoice", tmp_path / "out", grounding=True)
    done = CliRunner().invoke(app, ["eval", str(tmp_path / "out"), "--truth", "embedded",
                                    "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    grounding = json.loads(done.output)["grounding"]
    reason = "the embedded e-invoice XML gives no true boxes"
    assert grounding == {"measured": False, "reason": reason}
