"""E-invoices are read in a process of their own: an attachment bomb, or a reading process
that dies, costs its document one `einvoice_invalid` row and docextract nothing else.

The runs are real `docextract run` processes (a crash in reading would take the test runner
with it otherwise), over real PDFs, and their tables are read back."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.einvoice_factory import (
    InvoiceFacts,
    cii_xml,
    pdf_with_attachment_bomb,
    pdf_with_xml,
    ubl_xml,
)
from tests.run_helpers import ROOT, read_table

LIMIT = 1 << 20  # einvoice_max_bytes of these runs
BOMB = 128 << 20  # what the bomb inflates to: 128 MiB from about 130 KB

# Runs `docextract run ARGS`, then writes its exit code and this process's own peak RSS to the
# file named first. The peak is VmHWM, that of this program alone: not of the reading process
# (a child), nor of the test runner before exec (which getrusage's ru_maxrss would include).
_MEASURED_RUN = """\
import json, re, sys
from pipeline.cli.app import main
record, sys.argv = sys.argv[1], ["docextract", "run", *sys.argv[2:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
with open("/proc/self/status") as status:
    peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) * 1024
with open(record, "w") as handle:
    json.dump({"exit_code": code, "peak_rss": peak}, handle)
"""


def _invoice_pdf(path: Path, number: str) -> Path:
    facts = InvoiceFacts(number=number)
    path.write_bytes(pdf_with_xml(cii_xml(facts, "en16931"), "factur-x.xml", facts))
    return path


def _docextract(inbox: Path, out: Path, *flags: str, env: dict[str, str] | None = None
                ) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:  # fmt: skip
    """`docextract run INBOX --out OUT --engine null --json FLAGS` in a process of its own,
    with einvoice_max_bytes LIMIT: its exit code and peak RSS, and the finished process."""
    record = out.parent / f"{out.name}.measured.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCEXTRACT_")}
    environment.update({"PYTHONPATH": str(ROOT), "DOCEXTRACT_EINVOICE_MAX_BYTES": str(LIMIT)})
    environment.update(env or {})
    args = [str(inbox), "--out", str(out), "--engine", "null", "--json", *flags]
    done = subprocess.run([sys.executable, "-c", _MEASURED_RUN, str(record), *args],
                          capture_output=True, text=True, timeout=180, cwd=out.parent,
                          env=environment)  # fmt: skip
    assert record.exists(), done.stdout + done.stderr
    return json.loads(record.read_text()), done


def _rows(out: Path, table: str) -> dict[str, dict[str, Any]]:
    return {Path(r["source_path"]).name: r for r in read_table(out, "invoice", table)}


def test_an_attachment_bomb_is_one_row_and_costs_the_run_no_memory(tmp_path: Path) -> None:
    """A PDF whose factur-x.xml states 40 bytes and stores 130 KB, but inflates to 128 MiB,
    beside a normal e-invoice PDF: the bomb is refused while it inflates (xml_too_large), in
    the reading process; the run's own peak RSS is that of the same run without the bomb,
    give or take 40 MB; the other invoice is read; exit 1 (one failure, the default
    --max-failure-rate 0). --dry-run gives the bomb the same fate, and writes no table."""
    clean, hostile = tmp_path / "clean", tmp_path / "hostile"
    clean.mkdir(), hostile.mkdir()
    _invoice_pdf(clean / "invoice.pdf", "RE-2025-0701")
    _invoice_pdf(hostile / "invoice.pdf", "RE-2025-0701")
    (hostile / "bomb.pdf").write_bytes(pdf_with_attachment_bomb(BOMB))

    baseline, done = _docextract(clean, tmp_path / "out-clean")
    assert baseline["exit_code"] == 0, done.stderr
    measured, done = _docextract(hostile, tmp_path / "out")
    assert measured["exit_code"] == 1, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["failed"], summary["from_xml"]) == (1, 1), summary

    errors = _rows(tmp_path / "out", "errors")
    assert list(errors) == ["bomb.pdf"]
    bomb = errors["bomb.pdf"]
    assert bomb["code"] == "einvoice_invalid" and "e-invoice XML xml_too_large" in bomb["message"]
    assert "factur-x.xml inflates to more than einvoice_max_bytes (1,048,576)" in bomb["message"]
    documents = _rows(tmp_path / "out", "documents")
    assert list(documents) == ["invoice.pdf"] and documents["invoice.pdf"]["model"] == "einvoice"
    assert documents["invoice.pdf"]["data"]["invoice_number"] == "RE-2025-0701"
    grown = measured["peak_rss"] - baseline["peak_rss"]
    assert grown < 40 << 20, f"the run grew {grown / 2**20:.0f} MiB over the run without the bomb"

    planned, done = _docextract(hostile, tmp_path / "out-dry", "--dry-run")
    plan = json.loads(done.stdout)
    fates = {Path(e["path"]).name: (e["fate"], e["code"]) for e in plan["planned"]}
    assert fates["bomb.pdf"] == ("fail", "einvoice_invalid"), fates
    (entry,) = [e for e in plan["planned"] if Path(e["path"]).name == "bomb.pdf"]
    assert "e-invoice XML xml_too_large" in entry["problem"], entry
    assert planned["exit_code"] == 0 and not (tmp_path / "out-dry" / "invoice").exists()


@pytest.mark.parametrize(
    ("fault", "how"),
    [("SIGKILL", "was killed by SIGKILL"), ("SIGSTOP", "took longer than 2 s to read this file")],
    ids=["killed", "hung"],
)
def test_a_reading_process_lost_mid_read_is_one_row_and_the_next_file_is_read(
    tmp_path: Path, fault: str, how: str
) -> None:
    """The reading process is SIGKILLed, or stops (SIGSTOP) and so runs past the 2 s time
    limit, at its second read (fault point einvoice-read), b.xml: b.xml is one einvoice_invalid
    row (read_failed) saying how the reading ended; a fresh process reads c.pdf, and a.pdf read
    before stands; the run exits 1, as one failure does. A --retry-errors run then reads b.xml."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    _invoice_pdf(inbox / "a.pdf", "RE-2025-0801")
    (inbox / "b.xml").write_bytes(ubl_xml(InvoiceFacts(number="RE-2025-0802")))
    _invoice_pdf(inbox / "c.pdf", "RE-2025-0803")
    lost = {"DOCEXTRACT_KILL_AT": f"einvoice-read:2:{fault}", "DOCEXTRACT_RENDER__TIMEOUT_S": "2"}

    measured, done = _docextract(inbox, tmp_path / "out", env=lost)
    assert measured["exit_code"] == 1, done.stderr
    errors = _rows(tmp_path / "out", "errors")
    assert list(errors) == ["b.xml"]
    assert errors["b.xml"]["code"] == "einvoice_invalid"
    assert f"e-invoice XML read_failed: the e-invoice reader {how}" in errors["b.xml"]["message"]
    documents = _rows(tmp_path / "out", "documents")
    assert sorted(documents) == ["a.pdf", "c.pdf"]
    assert documents["c.pdf"]["data"]["invoice_number"] == "RE-2025-0803"

    measured, done = _docextract(inbox, tmp_path / "out", "--retry-errors")
    assert measured["exit_code"] == 0, done.stderr
    assert _rows(tmp_path / "out", "documents")["b.xml"]["data"]["invoice_number"] == (
        "RE-2025-0802"
    )


def test_the_reading_process_starts_on_the_first_read_with_its_memory_limited(
    tmp_path: Path,
) -> None:
    """No process before a file is read; then one, whose address space is limited to
    memory_limit(max_bytes), reused for the next file."""
    from pipeline.inputs.einvoice_reader import EInvoiceReader, memory_limit

    invoice = _invoice_pdf(tmp_path / "invoice.pdf", "RE-2025-0901")
    with EInvoiceReader(max_bytes=LIMIT, timeout_s=60) as reader:
        assert reader.pid is None
        found = reader.read(invoice, standalone=False)
        assert found is not None and found[0].invoice.invoice_number == "RE-2025-0901"
        pid = reader.pid
        limits = Path(f"/proc/{pid}/limits").read_text()
        (line,) = [x for x in limits.splitlines() if x.startswith("Max address space")]
        assert line.split()[3] == str(memory_limit(LIMIT)) == str((1 << 30) + 32 * LIMIT)
        assert reader.read(invoice, standalone=False) is not None and reader.pid == pid
    assert reader.pid is None and not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("on_page", [False, True], ids=["embedded", "annotation"])
def test_an_attachment_is_refused_as_soon_as_it_inflates_past_the_limit(
    tmp_path: Path, on_page: bool
) -> None:
    """The bomb's stated (40 bytes) and stored (8 KB) sizes pass a 1 MiB limit that its 8 MiB of
    content breaks: it is refused while inflating, attached to the document or to a page."""
    from pipeline.inputs.einvoice import InvoiceXmlError, InvoiceXmlProblem, iter_embedded_xml

    path = tmp_path / "bomb.pdf"
    path.write_bytes(pdf_with_attachment_bomb(8 << 20, on_page=on_page))
    with pytest.raises(InvoiceXmlError) as refused:
        list(iter_embedded_xml(path, max_bytes=LIMIT))
    assert refused.value.problem is InvoiceXmlProblem.TOO_LARGE
    assert str(refused.value).startswith(
        "factur-x.xml inflates to more than einvoice_max_bytes (1,048,576) bytes of XML, though "
        "the PDF states 40 bytes, stored in "
    ) and str(refused.value).endswith("; refused while inflating")


def test_an_attachment_stated_over_the_limit_is_never_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attachment whose stated size is over the limit is refused before a byte of it is
    inflated (a run reads in another process, so this is checked here, in-process)."""
    import pipeline.inputs.einvoice_attachments as attachments
    from pipeline.inputs.einvoice import InvoiceXmlError, InvoiceXmlProblem, iter_embedded_xml

    xml = cii_xml(InvoiceFacts(number="RE-2025-0961"), "en16931")
    (tmp_path / "invoice.pdf").write_bytes(pdf_with_xml(xml, "factur-x.xml"))
    inflated: list[str] = []
    real = attachments.inflate

    def spy(pymupdf: Any, stream: Any, name: str, max_bytes: int) -> bytes:
        inflated.append(name)
        return real(pymupdf, stream, name, max_bytes)

    monkeypatch.setattr(attachments, "inflate", spy)
    with pytest.raises(InvoiceXmlError) as refused:
        list(iter_embedded_xml(tmp_path / "invoice.pdf", max_bytes=len(xml) - 1))
    assert refused.value.problem is InvoiceXmlProblem.TOO_LARGE and inflated == []
    assert f"factur-x.xml holds {len(xml):,} bytes of XML" in str(refused.value)
    assert [n for n, _ in iter_embedded_xml(tmp_path / "invoice.pdf")] == ["factur-x.xml"]
    assert inflated == ["factur-x.xml"]


def test_what_mupdf_says_while_the_reading_process_reads_is_logged_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged page tree makes MuPDF complain in the reading process; the message is logged
    in this one, as it was when files were read here, and the invoice is still read."""
    import re

    import pymupdf

    from pipeline.inputs.einvoice_reader import EInvoiceReader

    facts = InvoiceFacts(number="RE-2025-0951")
    whole = pymupdf.open(stream=pdf_with_xml(cii_xml(facts, "en16931"), "factur-x.xml", facts))
    damaged = re.sub(rb"/Kids\s*\[[^\]]*\]", b"/Kids [99 0 R]", whole.tobytes())
    (tmp_path / "damaged.pdf").write_bytes(damaged)
    caplog.set_level(logging.INFO, logger="pipeline.inputs.mupdf_messages")
    with EInvoiceReader(max_bytes=LIMIT, timeout_s=60) as reader:
        found = reader.read(tmp_path / "damaged.pdf", standalone=False)
    assert found is not None and found[0].invoice.invoice_number == "RE-2025-0951"
    said = [r.getMessage() for r in caplog.records if r.name == "pipeline.inputs.mupdf_messages"]
    assert any("damaged.pdf: MuPDF: format error: non-page object in page tree" in m for m in said)


def test_a_script_without_a_main_guard_reads_its_einvoices_in_its_own_process(
    tmp_path: Path,
) -> None:
    """A reading process would run the unguarded script again (and fail every read): the
    script's e-invoices are read in its own process instead, with a warning saying so."""
    _invoice_pdf(tmp_path / "invoice.pdf", "RE-2025-0971")
    (tmp_path / "plain.py").write_text(
        "import docextract\n"
        "results = docextract.extract(['invoice.pdf'], schema='invoice', engine='null')\n"
        "print('READ', [(r.status, r.data.invoice_number) for r in results])\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCEXTRACT_")}
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "plain.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180, env=environment)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "READ [('ok', 'RE-2025-0971')]" in done.stdout, done.stdout + done.stderr
    assert "reading e-invoices in this process" in done.stderr
