"""Scoring: hand-computed P/R/F1, oracle and noise predictions, Parquet loading, the eval CLI."""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.bench.docgen import build_cii_xml, embed_cii_xml, make_invoice
from pipeline.cli.app import app
from pipeline.eval.evaluate import evaluate
from pipeline.eval.inputs import load_prediction_rows, load_predictions
from schemas import Invoice

TRUTH = {
    "invoice_number": "A-1",
    "issue_date": "2024-03-01",
    "net_total": "30.00",
    "line_items": [
        {"description": "Apple", "quantity": "1", "line_total": "10.00"},
        {"description": "Banana", "quantity": "2", "line_total": "10.00"},
        {"description": "Cherry", "quantity": "1", "line_total": "10.00"},
    ],
}


def test_hand_computed_scores() -> None:
    pred = {
        "invoice_number": "a-1",  # right (case-insensitive)
        "issue_date": "02.03.2024",  # wrong date: one FP and one FN
        "net_total": None,  # missed: FN
        "currency": "EUR",  # not in truth: FP
        "line_items": [
            {"description": "Banana", "quantity": "2", "line_total": "12.00"},  # wrong total
            {"description": "apple", "quantity": 1, "line_total": 10},  # fully right
        ],
    }
    report = evaluate({"d": pred}, {"d": TRUTH})
    total = report.total
    # TP: number 1 + apple 3 + banana description/quantity 2 = 6
    # FP: date, currency, banana total = 3; FN: date, net, banana total, cherry x3 = 6
    assert (total.tp, total.fp, total.fn, total.slots) == (6, 3, 6, 13)
    assert total.precision == pytest.approx(6 / 9)
    assert total.recall == pytest.approx(6 / 12)
    assert total.f1 == pytest.approx(4 / 7)
    assert total.accuracy == pytest.approx(6 / 13)
    line_total = report.fields["line_items[].line_total"]
    assert (line_total.tp, line_total.fp, line_total.fn) == (1, 1, 2)
    assert line_total.precision == pytest.approx(0.5)
    assert line_total.recall == pytest.approx(1 / 3)
    assert report.fields["issue_date"].f1 == 0.0
    assert report.fields["invoice_number"].f1 == 1.0


def test_numbers_within_tolerance_and_not_beyond() -> None:
    truth = {"a": "100.00", "b": "1000000.00"}
    near = evaluate({"d": {"a": "100.01", "b": "1000000.50"}}, {"d": truth}).total
    far = evaluate({"d": {"a": "100.02", "b": "1000002.00"}}, {"d": truth}).total
    assert near.tp == 2
    assert far.tp == 0 and far.fn == 2


def _german(value: str) -> str:
    text = f"{Decimal(value):,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


@pytest.fixture(scope="module")
def invoice_truth() -> dict:
    return make_invoice(random.Random(5), "x", "de", "band", lines=6, prepaid=True).truth


@pytest.mark.parametrize("with_model", [True, False])
def test_oracle_scores_one_even_reformatted(invoice_truth: dict, with_model: bool) -> None:
    model = Invoice if with_model else None
    assert evaluate({"d": invoice_truth}, {"d": invoice_truth}, model).total.f1 == 1.0
    pred = copy.deepcopy(invoice_truth)
    year, month, day = pred["issue_date"].split("-")
    pred["issue_date"] = f"{day}.{month}.{year}"
    for key in ("net_total", "tax_total", "grand_total", "amount_due"):
        pred[key] = _german(pred[key])
    pred["line_items"].reverse()
    for item in pred["line_items"]:
        item["line_total"] = _german(item["line_total"])
        item["description"] = "  " + item["description"].upper() + "."
    pred["seller"]["name"] = pred["seller"]["name"].lower()
    report = evaluate({"d": pred}, {"d": invoice_truth}, model)
    assert report.total.f1 == 1.0, {k: c.to_dict() for k, c in report.fields.items() if c.fp}
    assert report.total.tp == report.total.slots > 40


def test_noise_scores_near_zero(invoice_truth: dict) -> None:
    rng = random.Random(0)

    def noise(value: object) -> object:
        if isinstance(value, dict):
            return {k: noise(v) for k, v in value.items()}
        if isinstance(value, list):
            return [noise(v) for v in value]
        return None if value is None else "".join(rng.choice("qwxz0189") for _ in range(7))

    report = evaluate({"d": noise(invoice_truth)}, {"d": invoice_truth}, Invoice)
    assert report.total.f1 < 0.05


def test_missing_prediction_counts_every_truth_field_as_missed() -> None:
    report = evaluate({"d": None}, {"d": TRUTH, "e": TRUTH})
    assert all(doc.missing for doc in report.documents)
    assert report.total.fn == 2 * 12 and report.total.tp == 0 and report.total.f1 == 0.0


def _write_run(out: Path, rows: list[dict]) -> None:
    folder = out / "invoice" / "documents"
    folder.mkdir(parents=True)
    data_type = pa.struct(
        [
            ("invoice_number", pa.string()),
            ("grand_total", pa.decimal128(18, 4)),
            ("issue_date", pa.date32()),
        ]
    )
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("doc_id", pa.string()),
                ("source_path", pa.string()),
                ("status", pa.string()),
                ("data", data_type),
            ]
        ),
    )
    pq.write_table(table, folder / "part-00000.parquet")


@pytest.fixture
def run_out(tmp_path: Path) -> Path:
    import datetime as dt

    out = tmp_path / "out"
    _write_run(
        out,
        [
            {
                "doc_id": "1",
                "source_path": "/in/alpha.pdf",
                "status": "ok",
                "data": {
                    "invoice_number": "A-1",
                    "grand_total": Decimal("119.0000"),
                    "issue_date": dt.date(2024, 3, 1),
                },
            },
            {"doc_id": "2", "source_path": "/in/beta.pdf", "status": "error", "data": None},
        ],
    )
    truth = tmp_path / "truth" / "invoice"
    truth.mkdir(parents=True)
    for stem, number in (("alpha", "A-1"), ("beta", "B-2")):
        doc = {"invoice_number": number, "grand_total": "119.00", "issue_date": "2024-03-01"}
        (truth / f"{stem}.json").write_text(json.dumps(doc))
    return out


def test_load_predictions_reads_the_documents_table(run_out: Path) -> None:
    preds = load_predictions(run_out, "invoice")
    assert set(preds) == {"alpha", "beta"}
    assert preds["beta"] is None
    assert preds["alpha"]["grand_total"] == Decimal("119.0000")


def test_eval_cli_json_and_threshold(run_out: Path) -> None:
    runner = CliRunner()
    truth = str(run_out.parent / "truth")
    result = runner.invoke(app, ["eval", str(run_out), "--truth", truth, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"]["tp"] == 3 and report["total"]["fn"] == 3
    assert report["total"]["f1"] == pytest.approx(2 / 3)
    assert [d["missing"] for d in report["documents"]] == [False, True]
    table = runner.invoke(app, ["eval", str(run_out), "--truth", truth, "--min-f1", "0.9"])
    assert table.exit_code == 1
    assert "alpha" in table.output and "grand_total" in table.output
    missing = runner.invoke(app, ["eval", str(run_out / "nope"), "--truth", truth])
    assert missing.exit_code == 2


def test_eval_cli_embedded_truth(tmp_path: Path) -> None:
    doc = make_invoice(random.Random(9), "hybrid", "fr", "classic", lines=3)
    pdf = tmp_path / "hybrid.pdf"
    pdf.write_bytes(embed_cii_xml(doc.content, build_cii_xml(doc.truth)))
    out = tmp_path / "out"
    _write_run(
        out,
        [
            {
                "doc_id": "1",
                "source_path": str(pdf),
                "status": "ok",
                "data": {
                    "invoice_number": doc.truth["invoice_number"],
                    "grand_total": Decimal(doc.truth["grand_total"]),
                    "issue_date": None,
                },
            }
        ],
    )
    result = CliRunner().invoke(app, ["eval", str(out), "--truth", "embedded", "--json"])
    assert result.exit_code == 0, result.output
    fields = json.loads(result.output)["fields"]
    assert fields["invoice_number"]["tp"] == 1 and fields["grand_total"]["tp"] == 1
    assert fields["issue_date"]["fn"] == 1


def test_documents_only_in_the_errors_table_count_as_missed(run_out: Path) -> None:
    errors = run_out / "invoice" / "errors"
    errors.mkdir()
    table = pa.table({"source_path": ["/in/gamma.pdf"], "code": ["corrupt"]})
    pq.write_table(table, errors / "part-00000.parquet")
    preds = load_predictions(run_out, "invoice")
    assert "gamma" in preds and preds["gamma"] is None


def test_parts_from_before_a_schema_gained_a_field_read_together(tmp_path: Path) -> None:
    """An OUT holding parts written before the invoice schema gained allowance_total (their
    data struct lacks it) and parts written after: the later values are not dropped."""
    folder = tmp_path / "out" / "invoice" / "documents"
    folder.mkdir(parents=True)
    money = pa.decimal128(18, 4)
    old = pa.struct([("net_total", money)])
    new = pa.struct([("net_total", money), ("allowance_total", money)])
    for name, data_type, data in (
        ("part-a.parquet", old, {"net_total": Decimal("10")}),
        ("part-b.parquet", new, {"net_total": Decimal("20"), "allowance_total": Decimal("2")}),
    ):
        schema = pa.schema([("source_path", pa.string()), ("status", pa.string()),
                            ("data", data_type)])  # fmt: skip
        row = {"source_path": f"/in/{name}.pdf", "status": "ok", "data": data}
        pq.write_table(pa.Table.from_pylist([row], schema=schema), folder / name)
    rows = {r.key: r.data for r in load_prediction_rows(tmp_path / "out", "invoice")}
    assert rows["part-a.parquet"] == {"net_total": Decimal("10"), "allowance_total": None}
    assert rows["part-b.parquet"] == {"net_total": Decimal("20"), "allowance_total": Decimal("2")}


def test_eval_without_schema_scores_the_one_schema_of_out_and_asks_among_several(
    tmp_path: Path,
) -> None:
    """Without --schema, eval scores the schema OUT holds (and says which), and stops with
    exit 2 naming them when OUT holds several, instead of scoring `invoice` unasked."""
    from tests.run_helpers import ROOT

    runner, out = CliRunner(), tmp_path / "out"
    examples, truth = ROOT / "examples" / "documents", str(ROOT / "examples" / "truth")

    def run(schema: str) -> None:
        done = runner.invoke(app, ["run", str(examples / schema), "--schema", schema, "--out",
                                   str(out), "--engine", "null", "-q"])  # fmt: skip
        assert done.exit_code == 0, done.output

    run("receipt")
    scored = runner.invoke(app, ["eval", str(out), "--truth", truth, "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output)
    assert report["schema"] == "receipt" and len(report["documents"]) == 2
    plain = runner.invoke(app, ["eval", str(out), "--truth", truth])
    assert plain.exit_code == 0 and "schema receipt: truth from" in plain.output
    run("id_card")
    several = runner.invoke(app, ["eval", str(out), "--truth", truth])
    assert several.exit_code == 2
    assert "holds several schemas (id_card, receipt): choose one with --schema" in " ".join(
        several.output.split()
    )
    chosen = runner.invoke(app, ["eval", str(out), "--truth", truth, "--schema", "id_card"])
    assert chosen.exit_code == 0, chosen.output
