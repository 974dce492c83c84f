"""Dry runs (the null engine) and a model's rows never share an output folder, rows read from
e-invoice XML go with either, and `export` and `review` choose rows by model. The model runs
are the real OpenAI-compatible engine against a real HTTP server on 127.0.0.1 that answers
every request with one invoice."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.eval.review_entries import review_entries
from pipeline.output.layout import ledger_path
from tests.einvoice_factory import InvoiceFacts, ubl_xml
from tests.run_helpers import exported_rows, make_unique_pdf, part_names, read_table
from tests.test_review import invoice_answer

runner = CliRunner()
FAST = ["--dpi", "40", "--workers", "1", "--log-format", "json", "--schema", "invoice"]


class ModelServer:
    """An OpenAI-compatible server that answers every chat completion with one invoice and
    counts the requests it was sent."""

    def __init__(self) -> None:
        self.asked = 0
        server = self
        answer = json.dumps({
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": invoice_answer("INV-7", "148.75", "148.75")}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50},
        }).encode()  # fmt: skip

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                self.rfile.read(int(self.headers["Content-Length"]))
                server.asked += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    served = ModelServer()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def _inbox(root: Path) -> Path:
    root.mkdir()
    make_unique_pdf(root / "a.pdf", 1, "DRY-A")
    make_unique_pdf(root / "b.pdf", 1, "DRY-B")
    return root


def _null_run(inbox: Path, out: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", str(inbox), "--out", str(out), "--engine", "null", *FAST])


def _model_run(inbox: Path, out: Path, server: ModelServer, model: str = "org/model-a"):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", str(inbox), "--out", str(out), "--engine", "openai",
                               "--base-url", server.base_url, "--model", model, *FAST])


def test_a_dry_run_refuses_an_out_that_holds_a_models_rows(tmp_path, model_server) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "out"
    assert _model_run(inbox, out, model_server).exit_code == 0
    written = part_names(out)
    refused = _null_run(inbox, out)
    assert refused.exit_code == 2, refused.output
    message = json.loads(refused.stderr.strip().splitlines()[-1])["message"]
    assert str(out) in message and "org/model-a" in message and "--out" in message
    assert "\n" not in message
    assert part_names(out) == written  # nothing was written
    rows = exported_rows(out)
    assert sorted(r["model"] for r in rows) == ["org/model-a", "org/model-a"]
    assert {r["data"]["invoice_number"] for r in rows} == {"INV-7"}


def test_a_model_run_refuses_an_out_that_holds_dry_run_rows(tmp_path, model_server) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "out"
    assert _null_run(inbox, out).exit_code == 0
    written = part_names(out)
    refused = _model_run(inbox, out, model_server)
    assert refused.exit_code == 2, refused.output
    message = json.loads(refused.stderr.strip().splitlines()[-1])["message"]
    assert str(out) in message and "null" in message and "--out" in message
    assert "\n" not in message
    assert (part_names(out), model_server.asked) == (written, 0)  # refused before the model ran
    assert {r["model"] for r in exported_rows(out)} == {"none"}
    elsewhere = _model_run(inbox, tmp_path / "out-model", model_server)
    assert elsewhere.exit_code == 0, elsewhere.output


def test_a_null_run_with_a_models_name_is_still_a_dry_run(tmp_path, model_server) -> None:
    """`--engine null --model NAME` writes placeholders under NAME: a run of the model NAME
    must not take them for its own rows and skip the documents."""
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "out"
    named = runner.invoke(app, ["run", str(inbox), "--out", str(out), "--engine", "null",
                                "--model", "org/model-a", *FAST])
    assert named.exit_code == 0, named.output
    refused = _model_run(inbox, out, model_server)
    assert refused.exit_code == 2 and model_server.asked == 0, refused.output


def test_a_ledger_from_before_engines_were_recorded_knows_dry_run_rows(
    tmp_path, model_server
) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "out"
    assert _null_run(inbox, out).exit_code == 0
    db = sqlite3.connect(ledger_path(out))
    db.execute("ALTER TABLE items DROP COLUMN engine")  # as an older docextract wrote it
    db.commit()
    db.close()
    refused = _model_run(inbox, out, model_server)
    assert refused.exit_code == 2 and model_server.asked == 0, refused.output


def test_rows_read_from_einvoice_xml_go_with_dry_runs_and_models_alike(
    tmp_path, model_server
) -> None:
    xml_only, with_pdf = tmp_path / "xml-only", tmp_path / "with-pdf"
    for inbox in (xml_only, with_pdf):
        inbox.mkdir()
        (inbox / "invoice.xml").write_bytes(ubl_xml(InvoiceFacts(number="RE-2025-0900")))
    make_unique_pdf(with_pdf / "a.pdf", 1, "XML-A")
    out, other = tmp_path / "out", tmp_path / "other"
    assert _null_run(xml_only, out).exit_code == 0  # the XML is read, no placeholder written
    done = _model_run(with_pdf, out, model_server)
    assert done.exit_code == 0, done.output
    assert sorted(r["model"] for r in exported_rows(out)) == ["einvoice", "org/model-a"]
    assert _model_run(xml_only, other, model_server).exit_code == 0
    done = _null_run(with_pdf, other)
    assert done.exit_code == 0, done.output
    assert sorted(r["model"] for r in exported_rows(other)) == ["einvoice", "none"]


def test_export_and_review_choose_rows_by_model(tmp_path, model_server) -> None:
    inbox, out = _inbox(tmp_path / "inbox"), tmp_path / "out"
    assert _model_run(inbox, out, model_server, "org/model-a").exit_code == 0
    assert _model_run(inbox, out, model_server, "org/model-b").exit_code == 0
    assert len(read_table(out, "invoice", "documents")) == 4  # both models' rows stand
    assert {r["model"] for r in exported_rows(out, "--model", "org/model-b")} == {"org/model-b"}
    assert len(exported_rows(out, "--model", "org/model-b")) == 2
    both = runner.invoke(app, ["export", str(out), "--model", "org/model-a",
                               "--model", "org/model-b", "--format", "csv"])
    assert both.exit_code == 0, both.output
    assert sorted(r["model"] for r in csv.DictReader(io.StringIO(both.stdout))) == [
        "org/model-a", "org/model-a", "org/model-b", "org/model-b"]
    unknown = runner.invoke(app, ["export", str(out), "--model", "org/model-c"])
    assert unknown.exit_code == 2 and "org/model-a" in unknown.output
    entries = review_entries(out, "invoice", models=("org/model-a",))
    assert [e.model for e in entries] == ["org/model-a", "org/model-a"]
    page = tmp_path / "review.html"
    done = runner.invoke(app, ["review", str(out), "--model", "org/model-a", "-o", str(page)])
    assert done.exit_code == 0, done.output
    html = page.read_text()
    assert "2 documents" in html and "org/model-b" not in html
