"""Embedded e-invoice XML: the Factur-X/ZUGFeRD corpus, round trips, UBL, odd inputs."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pymupdf
import pytest

from pipeline.bench.docgen import build_cii_xml, embed_cii_xml, make_invoice
from pipeline.eval.evaluate import evaluate
from pipeline.inputs.einvoice import parse_invoice_xml, read_embedded_invoice
from schemas import Invoice
from tests.corpus import CORPUS


def _manifest_invoices() -> list[tuple[str, str]]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    rows = []
    for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 8 and cols[5] == "invoice" and "embedded" in cols[8]:
            rows.append((cols[0], cols[8].split("GT:", 1)[1]))
    return rows


@pytest.mark.corpus
@pytest.mark.skipif(not _manifest_invoices(), reason="shared corpus not present")
@pytest.mark.parametrize("file, note", _manifest_invoices())
def test_corpus_invoice_matches_manifest(file: str, note: str) -> None:
    got = read_embedded_invoice(CORPUS / file)
    assert got is not None
    want = re.search(
        r"invoice no (\S+); issued (\d{8}); TypeCode (\d+).*?grand total ([\d.]+) (\w+); "
        r"due ([\d.]+); tax total ([\d.]+) \w+; (\d+) line items",
        note,
    )
    assert want, note
    number, issued, type_code, grand, currency, due, tax, lines = want.groups()
    assert got["invoice_number"] == number
    assert got["issue_date"] == f"{issued[:4]}-{issued[4:6]}-{issued[6:]}"
    assert got["kind"] == ("credit_note" if type_code == "381" else "invoice")
    assert float(got["grand_total"]) == float(grand) and got["currency"] == currency
    assert float(got["amount_due"]) == float(due)
    assert float(got["tax_total"]) == float(tax)
    assert len(got["line_items"]) == int(lines)
    assert got["seller"]["name"] and got["buyer"]["name"]


def test_generated_hybrid_invoice_round_trips(tmp_path: Path) -> None:
    doc = make_invoice(random.Random(11), "rt", "de", "classic", lines=5, prepaid=True)
    path = tmp_path / "rt.pdf"
    path.write_bytes(embed_cii_xml(doc.content, build_cii_xml(doc.truth)))
    got = read_embedded_invoice(path)
    assert got is not None
    assert got["invoice_number"] == doc.truth["invoice_number"]
    assert got["seller"]["iban"] == doc.truth["seller"]["iban"]
    assert got["amount_due"] == doc.truth["amount_due"] != got["grand_total"]
    report = evaluate({"rt": got}, {"rt": doc.truth}, Invoice)
    assert report.total.f1 == 1.0 and report.total.slots > 40
    Invoice.model_validate(got)


def test_page_attachment_annotation_is_found(tmp_path: Path) -> None:
    doc = make_invoice(random.Random(12), "annot", "en", "band", lines=2)
    pdf = pymupdf.open(stream=doc.content, filetype="pdf")
    pdf[0].add_file_annot((20, 20), build_cii_xml(doc.truth), "invoice-data.xml")
    path = tmp_path / "annot.pdf"
    pdf.save(path)
    got = read_embedded_invoice(path)
    assert got is not None and got["grand_total"] == doc.truth["grand_total"]


UBL = """<?xml version="1.0"?>
<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:ID>CN-77</cbc:ID><cbc:IssueDate>2024-05-02</cbc:IssueDate>
 <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
 <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Seller BV</cbc:Name>
  </cac:PartyName><cac:PostalAddress><cbc:StreetName>Kade 1</cbc:StreetName>
  <cbc:CityName>Utrecht</cbc:CityName><cbc:PostalZone>3511</cbc:PostalZone></cac:PostalAddress>
  <cac:PartyTaxScheme><cbc:CompanyID>NL123456789B01</cbc:CompanyID>
  <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme></cac:Party>
 </cac:AccountingSupplierParty>
 <cac:AccountingCustomerParty><cac:Party><cac:PartyLegalEntity>
  <cbc:RegistrationName>Buyer GmbH</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party>
 </cac:AccountingCustomerParty>
 <cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
  <cac:PayeeFinancialAccount><cbc:ID>NL91 ABNA 0417 1643 00</cbc:ID></cac:PayeeFinancialAccount>
 </cac:PaymentMeans>
 <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount></cac:TaxTotal>
 <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount>
  <cbc:TaxInclusiveAmount currencyID="EUR">121.00</cbc:TaxInclusiveAmount>
  <cbc:PayableAmount currencyID="EUR">121.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
 <cac:CreditNoteLine><cbc:ID>1</cbc:ID><cbc:CreditedQuantity unitCode="C62">4</cbc:CreditedQuantity>
  <cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount>
  <cac:Item><cbc:Name>Returned widgets</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID>
  <cbc:Percent>21</cbc:Percent></cac:ClassifiedTaxCategory></cac:Item>
  <cac:Price><cbc:PriceAmount currencyID="EUR">25.00</cbc:PriceAmount></cac:Price>
 </cac:CreditNoteLine>
</CreditNote>"""


def test_ubl_credit_note() -> None:
    got = parse_invoice_xml(UBL)
    assert got is not None
    assert (got["invoice_number"], got["kind"], got["issue_date"]) == (
        "CN-77",
        "credit_note",
        "2024-05-02",
    )
    assert got["seller"]["vat_id"] == "NL123456789B01"
    assert got["seller"]["iban"] == "NL91ABNA0417164300"
    assert got["seller"]["address"] == "Kade 1, 3511 Utrecht"
    assert got["buyer"]["name"] == "Buyer GmbH"
    assert (got["net_total"], got["tax_total"], got["grand_total"]) == ("100.00", "21.00", "121.00")
    assert got["line_items"] == [
        {
            "description": "Returned widgets",
            "quantity": "4.00",
            "unit": "C62",
            "unit_price": "25.00",
            "line_total": "100.00",
            "tax_rate": "21.00",
        }
    ]
    assert not Invoice.model_validate(got).check_rules()


def test_files_without_invoice_xml_give_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_invoice(random.Random(1), "p").content)
    assert read_embedded_invoice(plain) is None
    other = tmp_path / "other.pdf"
    other.write_bytes(embed_cii_xml(plain.read_bytes(), b"<note>hi</note>", "notes.xml"))
    assert read_embedded_invoice(other) is None
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7 not really")
    assert read_embedded_invoice(junk) is None
    assert read_embedded_invoice(tmp_path / "absent.pdf") is None
    assert parse_invoice_xml(b"<unclosed") is None
