"""The XML is read as XML states values, never as printed text is guessed at: a number that is
no xs:decimal, a date outside its format, a currency that is no ISO code fail the invoice
under the field they were read for; identifiers keep their inner spaces; every rounding of a
stated amount is reported; attachments listed in a name tree with /Kids are found; and eval's
readers never raise."""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf
import pytest

from pipeline.extract.einvoice_rows import xml_findings
from pipeline.inputs.einvoice import (
    InvoiceXmlError,
    InvoiceXmlProblem,
    parse_invoice_xml,
    read_einvoice,
    read_embedded_einvoice,
    read_embedded_invoice,
)
from tests.einvoice_factory import InvoiceFacts, cii_xml, ubl_xml


def _replaced(xml: bytes, tag: str, value: str) -> bytes:
    changed, found = re.subn(
        rb"(<" + tag.encode() + rb"[^>]*>)[^<]*<", rb"\g<1>" + value.encode() + b"<", xml, count=1
    )
    assert found, tag
    return changed


@pytest.mark.parametrize(("tag", "value", "field"), [
    ("ram:BilledQuantity", "1,500", "line_items.0.quantity"),
    ("ram:BilledQuantity", "1 000", "line_items.0.quantity"),
    ("ram:GrandTotalAmount", "1_119.00", "grand_total"),
    ("ram:GrandTotalAmount", "１１９.００", "grand_total"),
    ("ram:LineTotalAmount", "(100.00)", "line_items.0.line_total"),
    ("ram:LineTotalAmount", "100.00-", "line_items.0.line_total"),
    ("udt:DateTimeString", "14.03.2025", "issue_date"),
    ("udt:DateTimeString", "03/14/2025", "issue_date"),
    ("ram:InvoiceCurrencyCode", "$", "currency"),
])  # fmt: skip
def test_cii_values_xml_does_not_write_fail_their_field(tag: str, value: str, field: str) -> None:
    with pytest.raises(InvoiceXmlError) as caught:
        read_einvoice(_replaced(cii_xml(InvoiceFacts(), "en16931"), tag, value))
    assert caught.value.problem is InvoiceXmlProblem.INCOMPLETE
    assert str(caught.value).startswith(f"{field}: ") and repr(value) in str(caught.value)


@pytest.mark.parametrize(("tag", "value", "field"), [
    ("cbc:PayableAmount", "1.119,00", "amount_due"),
    ("cbc:IssueDate", "14.03.2025", "issue_date"),
    ("cbc:DocumentCurrencyCode", "Euro", "currency"),
])  # fmt: skip
def test_ubl_values_xml_does_not_write_fail_their_field(tag: str, value: str, field: str) -> None:
    with pytest.raises(InvoiceXmlError, match=f"^{field}: ") as caught:
        read_einvoice(_replaced(ubl_xml(InvoiceFacts()), tag, value))
    assert caught.value.problem is InvoiceXmlProblem.INCOMPLETE


def test_xml_numbers_and_dates_in_their_own_forms_are_read() -> None:
    xml = _replaced(cii_xml(InvoiceFacts(), "en16931"), "ram:BilledQuantity", "+.5E1")
    assert read_einvoice(xml).invoice.line_items[0].quantity == 5
    ubl = _replaced(ubl_xml(InvoiceFacts()), "cbc:IssueDate", "2025-03-14+01:00")
    assert str(read_einvoice(ubl).invoice.issue_date) == "2025-03-14"


def test_the_invoice_number_keeps_its_inner_spaces() -> None:
    xml = cii_xml(InvoiceFacts(number="RE  2025\t/ 001"), "en16931")
    assert read_einvoice(xml).invoice.invoice_number == "RE  2025\t/ 001"


def test_a_stated_amount_with_many_digits_reports_its_rounding() -> None:
    third = "0.3333333333333333333333333333"  # 28 digits, as many as the decimal context keeps
    xml = _replaced(cii_xml(InvoiceFacts(), "en16931"), "ram:BilledQuantity", third)
    codes = [(w.code, w.message) for w in xml_findings(read_einvoice(xml))]
    assert ("einvoice.rounded", f"line_items[0].quantity: {third} in the XML is stored as "
            "0.3333") in codes  # fmt: skip


def _pdf_with_kids(path: Path, xml: bytes) -> Path:
    """A PDF whose EmbeddedFiles name tree holds its entry in a kid, not in its root."""
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Invoice")
    doc.embfile_add("factur-x.xml", xml, filename="factur-x.xml")
    catalog = doc.pdf_catalog()
    kind, names = doc.xref_get_key(catalog, "Names/EmbeddedFiles/Names")
    assert kind == "array"
    kid = doc.get_new_xref()
    doc.update_object(kid, f"<< /Limits [(factur-x.xml) (factur-x.xml)] /Names {names} >>")
    doc.xref_set_key(catalog, "Names/EmbeddedFiles", f"<< /Kids [{kid} 0 R] >>")
    assert doc.embfile_names() == []  # PyMuPDF's own listing reads the root's /Names only
    doc.save(path)
    return path


def test_an_attachment_in_a_name_tree_with_kids_is_found(tmp_path: Path) -> None:
    pdf = _pdf_with_kids(tmp_path / "kids.pdf", cii_xml(InvoiceFacts(number="KIDS-1"), "en16931"))
    found = read_embedded_einvoice(pdf)
    assert found is not None and found.invoice.invoice_number == "KIDS-1"


def test_eval_readers_never_raise(tmp_path: Path) -> None:
    overflow = _replaced(cii_xml(InvoiceFacts(), "en16931"), "ram:BasisQuantity", "1E-999999999")
    assert parse_invoice_xml(overflow) is None
    assert parse_invoice_xml(_replaced(cii_xml(InvoiceFacts(), "en16931"),
                                       "ram:GrandTotalAmount", "1,119.00")) is None  # fmt: skip
    doc = pymupdf.open()
    doc.new_page()
    doc.embfile_add("factur-x.xml", b"<x>" + b" " * (40 << 20) + b"</x>", filename="factur-x.xml")
    doc.save(tmp_path / "bomb.pdf", deflate=True)
    assert read_embedded_invoice(tmp_path / "bomb.pdf") is None
    assert read_embedded_invoice(tmp_path / "missing.pdf") is None
