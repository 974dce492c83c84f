"""ZUGFeRD 1.0 e-invoices read exactly: BASIC, COMFORT and EXTENDED, credit notes, a missing total,
the `ZUGFeRD-invoice.xml` attachment of a PDF, discovery, and rows of a real `docextract run`."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.inputs import einvoice
from pipeline.inputs.discover import detect_kind
from pipeline.inputs.einvoice import Profile, Syntax, parse_invoice_xml, read_einvoice
from pipeline.inputs.einvoice_xml import InvoiceXmlError, InvoiceXmlProblem
from pipeline.records import FileKind
from schemas import Invoice, InvoiceKind
from tests.einvoice_factory import InvoiceFacts, LineFacts, pdf_with_xml
from tests.einvoice_factory_ferd1 import FERD1_GUIDELINES, expected_ferd1, ferd1_xml
from tests.run_helpers import read_table

ATTACHMENT = "ZUGFeRD-invoice.xml"
# Two lines (the first priced per basis quantity 1, as FeRD's samples write it), an allowance,
# shipping as a charge and a prepayment: 310.20 - 15.51 + 9.80 = 304.49 taxable, 19 % is 57.85.
COMFORT = InvoiceFacts(
    number="RE-2014-0815",
    issued="2014-11-03",
    due="2014-12-03",
    lines=(
        LineFacts("Kugellager 6204-2RS", "12.0000", "H87", "4.8500", "58.20", basis="1.0000"),
        LineFacts("Wartung Hydraulikpresse", "3.5", "HUR", "72.00", "252.00"),
    ),
    net="310.20",
    allowance="15.51",
    charge="9.80",
    tax="57.85",
    grand="362.34",
    prepaid="100.00",
    payable="262.34",
)
CREDIT_NOTE = InvoiceFacts(number="GS-2014-0031", type_code="381")
runner = CliRunner()


def _without(xml: bytes, element: str) -> bytes:
    pattern = rf"<ram:{element}\b[^>]*>.*?</ram:{element}>".encode()
    trimmed, count = re.subn(pattern, b"", xml, flags=re.S)
    assert count == 1
    return trimmed


def test_comfort_reads_every_field_exactly() -> None:
    xml = ferd1_xml(COMFORT, "comfort")
    assert b"<rsm:CrossIndustryDocument " in xml and b"ApplicablePercent>" in xml
    assert b":100" not in xml  # ZUGFeRD 1.0 namespaces only, none of CII D16B
    assert xml.count(b"<ram:IncludedSupplyChainTradeLineItem>") == 3  # a text line, two billed
    got = read_einvoice(xml)
    assert (got.syntax, got.profile, got.profile_name) == (Syntax.FERD1, Profile.EN16931, "comfort")
    assert got.specification_id == "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort"
    invoice = got.invoice
    assert (invoice.invoice_number, invoice.kind) == ("RE-2014-0815", InvoiceKind.invoice)
    assert (invoice.issue_date, invoice.due_date) == (date(2014, 11, 3), date(2014, 12, 3))
    assert invoice.currency == "EUR"
    assert invoice.seller.model_dump() == {
        "name": "Kranich Feinmechanik GmbH", "address": "Werftstraße 12, 24148 Kiel, DE",
        "vat_id": "DE264831574", "tax_id": "19/815/08154", "iban": "DE40700202700012345678",
    }  # fmt: skip
    assert invoice.buyer.model_dump() == {
        "name": "Atelier Pivert SARL", "address": "3 rue des Tanneurs, 67000 Strasbourg, FR",
        "vat_id": "FR69417263852", "tax_id": None, "iban": None,
    }  # fmt: skip
    assert [line.model_dump() for line in invoice.line_items] == [
        {"description": "Kugellager 6204-2RS", "quantity": Decimal("12.0000"), "unit": "H87",
         "unit_price": Decimal("4.8500"), "line_total": Decimal("58.20"),
         "tax_rate": Decimal("19")},
        {"description": "Wartung Hydraulikpresse", "quantity": Decimal("3.5"), "unit": "HUR",
         "unit_price": Decimal("72.00"), "line_total": Decimal("252.00"),
         "tax_rate": Decimal("19")},
    ]  # fmt: skip
    totals = (invoice.net_total, invoice.allowance_total, invoice.charge_total, invoice.tax_total)
    assert totals == (Decimal("310.20"), Decimal("15.51"), Decimal("9.80"), Decimal("57.85"))
    assert (invoice.grand_total, invoice.amount_due) == (Decimal("362.34"), Decimal("262.34"))
    assert invoice.payment_terms == "Zahlbar innerhalb von 30 Tagen ohne Abzug"
    assert invoice.check_rules() == []
    assert invoice == Invoice.model_validate(expected_ferd1(COMFORT, "comfort"))


@pytest.mark.parametrize(
    "profile, rung", [("basic", Profile.BASIC), ("comfort", Profile.EN16931),
                      ("extended", Profile.EXTENDED)],
)  # fmt: skip
def test_every_profile_reads_exactly(profile: str, rung: Profile) -> None:
    facts = InvoiceFacts()
    got = read_einvoice(ferd1_xml(facts, profile))
    assert (got.syntax, got.profile, got.profile_name) == (Syntax.FERD1, rung, profile)
    assert got.specification_id == FERD1_GUIDELINES[profile]
    assert got.invoice == Invoice.model_validate(expected_ferd1(facts, profile))
    assert got.invoice.check_rules() == []


def test_basic_lines_state_quantity_and_amount_but_no_price() -> None:
    xml = ferd1_xml(InvoiceFacts(), "basic")
    assert b"NetPriceProductTradePrice" not in xml
    lines = read_einvoice(xml).invoice.line_items
    assert [(x.quantity, x.unit, x.line_total) for x in lines] == [
        (Decimal("4"), "H87", Decimal("250.00")),
        (Decimal("2.5"), "HUR", Decimal("210.00")),
        (Decimal("200"), "H87", Decimal("6.40")),
    ]
    assert {(x.unit_price, x.tax_rate) for x in lines} == {(None, None)}


def test_credit_note_keeps_its_positive_amounts() -> None:
    got = read_einvoice(ferd1_xml(CREDIT_NOTE, "comfort")).invoice
    assert got.kind is InvoiceKind.credit_note
    assert (got.net_total, got.tax_total, got.grand_total) == (
        Decimal("466.40"), Decimal("88.62"), Decimal("555.02"),
    )  # fmt: skip
    assert got == Invoice.model_validate(expected_ferd1(CREDIT_NOTE, "comfort"))
    assert got.check_rules() == []


def test_missing_grand_total_is_incomplete(tmp_path: Path) -> None:
    xml = _without(ferd1_xml(COMFORT, "comfort"), "GrandTotalAmount")
    with pytest.raises(InvoiceXmlError) as caught:
        read_einvoice(xml)
    assert caught.value.problem is InvoiceXmlProblem.INCOMPLETE
    assert "grand_total: Field required" in str(caught.value)
    fields = parse_invoice_xml(xml)  # the eval truth: what the XML states, unvalidated
    assert fields is not None and fields["grand_total"] is None
    assert fields["net_total"] == "310.20"
    path = tmp_path / "incomplete.pdf"
    path.write_bytes(pdf_with_xml(xml, ATTACHMENT, COMFORT))
    with pytest.raises(InvoiceXmlError, match=r"^ZUGFeRD-invoice\.xml: .*grand_total"):
        einvoice.read_embedded_einvoice(path)


@pytest.mark.parametrize("name", [ATTACHMENT, "zugferd-invoice.xml"])
def test_embedded_zugferd_invoice_xml_is_read(tmp_path: Path, name: str) -> None:
    xml = ferd1_xml(COMFORT, "comfort")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf_with_xml(xml, name, COMFORT))
    assert [found for found, _ in einvoice.iter_embedded_xml(path)] == [name]
    assert einvoice.read_embedded_einvoice(path) == read_einvoice(xml)
    fields = einvoice.read_embedded_invoice(path)
    assert fields is not None
    assert (fields["invoice_number"], fields["grand_total"]) == ("RE-2014-0815", "362.34")


def test_discovery_accepts_zugferd1_xml_only_in_its_namespace() -> None:
    xml = ferd1_xml(COMFORT, "basic")
    assert detect_kind(xml[:4096]) is FileKind.XML
    foreign = xml.replace(b"urn:ferd:CrossIndustryDocument:invoice:1p0", b"urn:example:other")
    assert detect_kind(foreign[:4096]) is None


def test_run_reads_zugferd1_rows_from_xml(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "comfort.pdf").write_bytes(
        pdf_with_xml(ferd1_xml(COMFORT, "comfort"), ATTACHMENT, COMFORT)
    )
    prolog, body = ferd1_xml(CREDIT_NOTE, "basic").split(b"?>", 1)
    licence = b"<!-- " + b"Nutzungsrechte ZUGFeRD Datenformat. " * 100 + b"-->\n"
    (inbox / "basic.xml").write_bytes(prolog + b"?>\n" + licence + body)
    incomplete = _without(ferd1_xml(COMFORT, "extended"), "GrandTotalAmount")
    (inbox / "incomplete.pdf").write_bytes(pdf_with_xml(incomplete, ATTACHMENT, COMFORT))
    run = ["run", str(inbox), "--out", str(out), "--schema", "invoice", "--engine", "null"]
    result = runner.invoke(app, [*run, "--max-failure-rate", "1", "--log-format", "plain"])
    assert result.exit_code == 0, result.output
    rows = {Path(r["source_path"]).name: r for r in read_table(out, "invoice", "documents")}
    assert sorted(rows) == ["basic.xml", "comfort.pdf"]
    comfort, basic = rows["comfort.pdf"], rows["basic.xml"]
    assert (comfort["model"], comfort["engine"]) == ("einvoice", "einvoice ZUGFeRD 1.0 comfort")
    assert (basic["model"], basic["engine"]) == ("einvoice", "einvoice ZUGFeRD 1.0 basic")
    data = comfort["data"]
    assert (data["invoice_number"], data["grand_total"]) == ("RE-2014-0815", Decimal("362.34"))
    assert (data["allowance_total"], data["charge_total"]) == (Decimal("15.51"), Decimal("9.80"))
    assert [x["line_total"] for x in data["line_items"]] == [Decimal("58.20"), Decimal("252.00")]
    assert (comfort["status"], comfort["warnings"], comfort["prompt_tokens"]) == ("ok", [], 0)
    assert (basic["data"]["kind"], basic["page_count"]) == ("credit_note", 0)
    errors = {Path(r["source_path"]).name: r for r in read_table(out, "invoice", "errors")}
    assert sorted(errors) == ["incomplete.pdf"]
    error = errors["incomplete.pdf"]
    assert error["code"] == "einvoice_invalid"
    assert "e-invoice XML incomplete_invoice: ZUGFeRD-invoice.xml: " in error["message"]
    assert "grand_total: Field required" in error["message"]
