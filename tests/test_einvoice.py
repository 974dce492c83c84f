"""E-invoice XML read exactly: every CII profile, UBL invoices and credit notes, standalone and
embedded in PDFs, hostile and broken XML, and the Factur-X/ZUGFeRD corpus."""

from __future__ import annotations

import random
import re
import time
from decimal import Decimal
from pathlib import Path

import pymupdf
import pytest

from pipeline.bench.docgen import build_cii_xml, embed_cii_xml, make_invoice
from pipeline.eval.evaluate import evaluate
from pipeline.inputs.einvoice import (
    InvoiceXmlError,
    InvoiceXmlProblem,
    Profile,
    Syntax,
    iter_embedded_xml,
    parse_invoice_xml,
    read_einvoice,
    read_embedded_einvoice,
    read_embedded_invoice,
)
from schemas import Invoice, InvoiceKind
from tests.corpus import CORPUS
from tests.einvoice_factory import (
    ATTACHMENT_NAMES,
    CII_PROFILES,
    GUIDELINES,
    InvoiceFacts,
    LineFacts,
    cii_xml,
    expected_invoice,
    pdf_with_xml,
    ubl_xml,
)

PROFILES = {
    "minimum": Profile.MINIMUM,
    "basic_wl": Profile.BASIC_WL,
    "basic": Profile.BASIC,
    "en16931": Profile.EN16931,
    "extended": Profile.EXTENDED,
    "xrechnung": Profile.XRECHNUNG,
    "peppol": Profile.PEPPOL,
}
CREDIT_NOTE = InvoiceFacts(number="GS-2025-0031", type_code="381")
NEGATIVE = InvoiceFacts(
    number="RE-2025-0420",
    lines=(
        LineFacts("Rücknahme Präzisionswelle", "-2", "H87", "62.50", "-125.00"),
        LineFacts("Nacharbeit", "1", "HUR", "84.00", "84.00"),
    ),
    net="-41.00",
    tax="-7.79",
    grand="-48.79",
    payable="-48.79",
)
DIRECT_DEBIT = InvoiceFacts(number="RE-2025-0433", buyer_iban="FR7630006000011234567890189")
ADJUSTED = InvoiceFacts(
    number="RE-2025-0451", allowance="46.64", charge="12.00", tax="82.03", grand="513.79",
    payable="513.79",
)  # 466.40 + 12.00 - 46.64 = 431.76 taxable, 19 % tax 82.03
TWO_CURRENCIES = InvoiceFacts(currency="USD", tax_currency="EUR", tax_in_tax_currency="81.53")


def _assert_reads_as(got: Invoice, expected: dict) -> None:
    assert got.model_dump() == Invoice.model_validate(expected).model_dump()


# --- CII profiles and UBL, standalone -----------------------------------------------------------


@pytest.mark.parametrize("profile", CII_PROFILES)
def test_cii_profile_reads_exactly(profile: str) -> None:
    facts = InvoiceFacts()
    got = read_einvoice(cii_xml(facts, profile))
    assert got.syntax is Syntax.CII
    assert (got.profile, got.specification_id) == (PROFILES[profile], GUIDELINES[profile])
    _assert_reads_as(got.invoice, expected_invoice(facts, profile))
    assert got.invoice.check_rules() == []


def test_profiles_without_lines_give_none_and_extended_keeps_top_level_lines() -> None:
    facts = InvoiceFacts()
    counts = {p: len(read_einvoice(cii_xml(facts, p)).invoice.line_items) for p in CII_PROFILES}
    assert counts == {p: 0 if p in ("minimum", "basic_wl") else 3 for p in CII_PROFILES}
    extended = cii_xml(facts, "extended")
    assert extended.count(b"IncludedSupplyChainTradeLineItem>") == 2 * 6  # 3 lines, 2 sub, 1 note
    names = [line.description for line in read_einvoice(extended).invoice.line_items]
    assert names == [line.name for line in facts.lines]


@pytest.mark.parametrize("profile", ["peppol", "xrechnung"])
def test_ubl_invoice_reads_exactly(profile: str) -> None:
    facts = InvoiceFacts()
    got = read_einvoice(ubl_xml(facts, profile))
    assert got.syntax is Syntax.UBL
    assert (got.profile, got.specification_id) == (PROFILES[profile], GUIDELINES[profile])
    _assert_reads_as(got.invoice, expected_invoice(facts, profile))
    assert got.invoice.check_rules() == []


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_credit_note_keeps_its_positive_amounts(syntax: str) -> None:
    xml = cii_xml(CREDIT_NOTE, "en16931") if syntax == "cii" else ubl_xml(CREDIT_NOTE)
    assert (b"<CreditNote " in xml) == (syntax == "ubl")
    got = read_einvoice(xml).invoice
    assert got.kind is InvoiceKind.credit_note
    assert (got.net_total, got.grand_total) == (Decimal("466.40"), Decimal("555.02"))
    _assert_reads_as(got, expected_invoice(CREDIT_NOTE, "en16931"))
    assert got.check_rules() == []
    if syntax == "ubl":  # the CreditNote root says it, whatever its type code
        untyped, count = re.subn(rb"<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>", b"", xml)
        assert count == 1
        assert read_einvoice(untyped).invoice.kind is InvoiceKind.credit_note


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_negative_amounts_stay_negative(syntax: str) -> None:
    xml = cii_xml(NEGATIVE, "en16931") if syntax == "cii" else ubl_xml(NEGATIVE)
    got = read_einvoice(xml).invoice
    assert got.kind is InvoiceKind.invoice
    assert [line.line_total for line in got.line_items] == [Decimal("-125.00"), Decimal("84")]
    assert (got.net_total, got.tax_total, got.grand_total) == (
        Decimal("-41.00"), Decimal("-7.79"), Decimal("-48.79"),
    )  # fmt: skip
    _assert_reads_as(got, expected_invoice(NEGATIVE, "en16931"))
    assert got.check_rules() == []


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_tax_total_in_two_currencies_takes_the_invoice_currency(syntax: str) -> None:
    facts = TWO_CURRENCIES
    xml = cii_xml(facts, "en16931") if syntax == "cii" else ubl_xml(facts)
    # the tax currency's amount comes first
    assert xml.index(b'currencyID="EUR">81.53<') < xml.index(b'currencyID="USD">88.62<')
    got = read_einvoice(xml).invoice
    assert (got.currency, got.tax_total) == ("USD", Decimal("88.62"))
    _assert_reads_as(got, expected_invoice(facts, "en16931"))


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_direct_debit_account_is_the_buyers_iban(syntax: str) -> None:
    xml = cii_xml(DIRECT_DEBIT, "en16931") if syntax == "cii" else ubl_xml(DIRECT_DEBIT)
    got = read_einvoice(xml).invoice
    assert (got.seller.iban, got.buyer.iban) == (
        "DE40700202700012345678", "FR7630006000011234567890189",
    )  # fmt: skip
    _assert_reads_as(got, expected_invoice(DIRECT_DEBIT, "en16931"))


def test_minimum_without_a_tax_total_takes_grand_minus_basis() -> None:
    xml = cii_xml(InvoiceFacts(), "minimum")
    xml, removed = re.subn(rb"<ram:TaxTotalAmount [^>]*>[^<]*</ram:TaxTotalAmount>", b"", xml)
    assert removed == 1
    assert read_einvoice(xml).invoice.tax_total == Decimal("88.62")


@pytest.mark.parametrize(
    "xml",
    [
        *(cii_xml(InvoiceFacts(), p) for p in CII_PROFILES),
        ubl_xml(InvoiceFacts()),
        ubl_xml(CREDIT_NOTE),
    ],
)
def test_eval_fields_agree_with_the_invoice(xml: bytes) -> None:
    fields = parse_invoice_xml(xml)
    assert fields is not None and isinstance(fields["grand_total"], str)
    assert Invoice.model_validate(fields) == read_einvoice(xml).invoice


# --- embedded in PDFs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ATTACHMENT_NAMES)
@pytest.mark.parametrize("profile", CII_PROFILES)
def test_cii_embedded_under_each_name(tmp_path: Path, profile: str, name: str) -> None:
    facts = InvoiceFacts(number=f"PDF-{profile}")
    path = tmp_path / "hybrid.pdf"
    path.write_bytes(pdf_with_xml(cii_xml(facts, profile), name, facts))
    assert [found for found, _ in iter_embedded_xml(path)] == [name]
    got = read_embedded_einvoice(path)
    assert got is not None and (got.syntax, got.profile) == (Syntax.CII, PROFILES[profile])
    _assert_reads_as(got.invoice, expected_invoice(facts, profile))


@pytest.mark.parametrize("name", ATTACHMENT_NAMES)
@pytest.mark.parametrize("facts", [InvoiceFacts(), CREDIT_NOTE], ids=["invoice", "credit_note"])
def test_ubl_embedded_under_each_name(tmp_path: Path, facts: InvoiceFacts, name: str) -> None:
    path = tmp_path / "hybrid.pdf"
    path.write_bytes(pdf_with_xml(ubl_xml(facts, "xrechnung"), name, facts))
    got = read_embedded_einvoice(path)
    assert got is not None and (got.syntax, got.profile) == (Syntax.UBL, Profile.XRECHNUNG)
    _assert_reads_as(got.invoice, expected_invoice(facts, "xrechnung"))
    fields = read_embedded_invoice(path)
    assert fields is not None and fields["invoice_number"] == facts.number


def test_page_attachment_annotation_is_found(tmp_path: Path) -> None:
    facts = InvoiceFacts(number="ANNOT-7")
    pdf = pymupdf.open(stream=pdf_with_xml(b"<other/>", "notes.xml"), filetype="pdf")
    pdf[0].add_file_annot((20, 20), cii_xml(facts, "basic"), "invoice-data.xml")
    path = tmp_path / "annot.pdf"
    pdf.save(path)
    got = read_embedded_einvoice(path)
    assert got is not None
    _assert_reads_as(got.invoice, expected_invoice(facts, "basic"))


def test_files_without_invoice_xml_give_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_invoice(random.Random(1), "p").content)
    other = tmp_path / "other.pdf"
    other.write_bytes(pdf_with_xml(b"<note>hi</note>", "notes.xml"))
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7 not really")
    for path in (plain, other, junk, tmp_path / "absent.pdf"):
        assert read_embedded_einvoice(path) is None, path
        assert read_embedded_invoice(path) is None, path


def test_a_standard_attachment_that_is_no_invoice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "order.pdf"
    path.write_bytes(pdf_with_xml(b"<Order><ID>7</ID></Order>", "factur-x.xml"))
    with pytest.raises(InvoiceXmlError, match=r"factur-x\.xml: .*<Order>") as caught:
        read_embedded_einvoice(path)
    assert caught.value.problem is InvoiceXmlProblem.NOT_AN_INVOICE
    assert read_embedded_invoice(path) is None


def test_generated_hybrid_invoice_round_trips_for_eval(tmp_path: Path) -> None:
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


# --- hostile and broken XML ---------------------------------------------------------------------


def _with_doctype(internal_subset: str, reference: str) -> bytes:
    """An otherwise valid EN 16931 invoice whose number is the entity `reference`."""
    body = cii_xml(InvoiceFacts(number="PLACEHOLDER"), "en16931").decode()
    body = body.split("?>", 1)[1].replace(">PLACEHOLDER<", f">&{reference};<")
    doctype = f"<!DOCTYPE rsm:CrossIndustryInvoice [{internal_subset}]>"
    return f'<?xml version="1.0"?>\n{doctype}{body}'.encode()


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    xml = _with_doctype(f'<!ENTITY leak SYSTEM "{secret.as_uri()}">', "leak")
    with pytest.raises(InvoiceXmlError) as caught:
        read_einvoice(xml)
    assert caught.value.problem is InvoiceXmlProblem.UNSAFE
    assert f"external entity 'leak' ({secret.as_uri()})" in str(caught.value)
    assert "TOP-SECRET" not in str(caught.value)
    assert parse_invoice_xml(xml) is None
    path = tmp_path / "leak.pdf"
    path.write_bytes(pdf_with_xml(xml, "factur-x.xml"))
    with pytest.raises(InvoiceXmlError, match=r"^factur-x\.xml: .*external entity 'leak'"):
        read_embedded_einvoice(path)
    assert read_embedded_invoice(path) is None


def test_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    laughs = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    xml = _with_doctype(laughs, "lol9")
    started = time.monotonic()
    with pytest.raises(InvoiceXmlError) as caught:
        read_einvoice(xml)
    assert time.monotonic() - started < 1
    assert caught.value.problem is InvoiceXmlProblem.UNSAFE
    assert "entity 'lol0'" in str(caught.value) and "expansion" in str(caught.value)
    assert parse_invoice_xml(xml) is None
    path = tmp_path / "bomb.pdf"
    path.write_bytes(pdf_with_xml(xml, "zugferd-invoice.xml"))
    with pytest.raises(InvoiceXmlError, match=r"^zugferd-invoice\.xml: .*entity 'lol0'"):
        read_embedded_einvoice(path)


def _without(xml: bytes, element: str) -> bytes:
    trimmed, count = re.subn(rf"<ram:{element}>.*?</ram:{element}>".encode(), b"", xml, flags=re.S)
    assert count == 1
    return trimmed


@pytest.mark.parametrize(
    "data, problem, words",
    [
        (b"", InvoiceXmlProblem.MALFORMED, "not well-formed XML: no element found"),
        (b"<rsm:CrossIndustryInvoice>", InvoiceXmlProblem.MALFORMED, "unbound prefix"),
        (b"<a><b></a>", InvoiceXmlProblem.MALFORMED, "mismatched tag: line 1, column 8"),
        (b"<note><to>Tove</to></note>", InvoiceXmlProblem.NOT_AN_INVOICE, "root element <note>"),
        (b"<Invoice><ID>1</ID></Invoice>", InvoiceXmlProblem.NOT_AN_INVOICE, "<Invoice> in no"),
        (  # ZUGFeRD 1.0's root is read: this one is empty
            b'<CrossIndustryDocument xmlns="urn:ferd:CrossIndustryDocument:invoice:1p0"/>',
            InvoiceXmlProblem.INCOMPLETE,
            "invoice_number: Field required",
        ),
        (
            b'<CrossIndustryDocument xmlns="urn:example:orders"/>',
            InvoiceXmlProblem.NOT_AN_INVOICE,
            "root element <CrossIndustryDocument> in namespace urn:example:orders: not a CII",
        ),
        (
            _without(cii_xml(InvoiceFacts(), "en16931"), "IssueDateTime"),
            InvoiceXmlProblem.INCOMPLETE,
            "issue_date: Field required",
        ),
        (
            _without(cii_xml(InvoiceFacts(), "en16931"), "GrandTotalAmount"),
            InvoiceXmlProblem.INCOMPLETE,
            "grand_total: Field required",
        ),
        (
            cii_xml(InvoiceFacts(issued="2025-02-30"), "en16931"),
            InvoiceXmlProblem.INCOMPLETE,
            "issue_date",
        ),
    ],
    ids=["empty", "unbound", "mismatched", "note", "no_namespace", "zugferd1_empty",
         "foreign_document", "no_date", "no_total", "bad_date"],
)  # fmt: skip
def test_broken_xml_names_what_is_wrong(
    data: bytes, problem: InvoiceXmlProblem, words: str
) -> None:
    with pytest.raises(InvoiceXmlError) as caught:
        read_einvoice(data)
    assert caught.value.problem is problem
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)
    if problem is not InvoiceXmlProblem.INCOMPLETE:
        assert parse_invoice_xml(data) is None


@pytest.mark.parametrize("syntax", ["cii", "ubl"])
def test_document_allowances_and_charges_keep_the_totals_rule(syntax: str) -> None:
    xml = cii_xml(ADJUSTED, "en16931") if syntax == "cii" else ubl_xml(ADJUSTED)
    invoice = read_einvoice(xml).invoice
    assert (invoice.allowance_total, invoice.charge_total) == (Decimal("46.64"), Decimal("12.00"))
    assert invoice.net_total == Decimal("466.40")  # still the sum of the lines
    assert [f for f in invoice.check_rules() if f.severity == "error"] == []
    # Without them the same totals do not add up: the rule reads the adjustments.
    bare = invoice.model_copy(update={"allowance_total": None, "charge_total": None})
    assert "invoice.total_mismatch" in [f.code for f in bare.check_rules()]


def test_minimum_profile_has_its_adjustments_inside_the_tax_basis() -> None:
    invoice = read_einvoice(cii_xml(ADJUSTED, "minimum")).invoice
    assert invoice.net_total == Decimal("431.76")
    assert (invoice.allowance_total, invoice.charge_total) == (None, None)
    assert [f for f in invoice.check_rules() if f.severity == "error"] == []


# --- the shared corpus --------------------------------------------------------------------------


def _manifest_invoices() -> list[tuple[str, str, str]]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    rows = []
    for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 8 and cols[5] == "invoice" and "embedded" in cols[8]:
            rows.append((cols[0], cols[6], cols[8].split("GT:", 1)[1]))
    return rows


FACTS = re.compile(
    r"invoice no (\S+); issued (\d{8}); TypeCode (\d+).*?grand total ([\d.]+) (\w+); "
    r"due ([\d.]+); tax total ([\d.]+) \w+; (\d+) line items; .*embedded (\S+); profile (\S+)"
)


@pytest.mark.corpus
@pytest.mark.skipif(not _manifest_invoices(), reason="shared corpus not present")
@pytest.mark.parametrize("file, truth, note", _manifest_invoices())
def test_corpus_einvoice_matches_manifest(file: str, truth: str, note: str) -> None:
    want = FACTS.search(note)
    assert want, note
    number, issued, type_code, grand, currency, due, tax, lines, name, profile = want.groups()
    assert name in [found for found, _ in iter_embedded_xml(CORPUS / file)]
    got = read_embedded_einvoice(CORPUS / file)
    assert got is not None
    assert (got.syntax, got.specification_id) == (Syntax.CII, profile)
    invoice = got.invoice
    assert invoice.invoice_number == number  # as printed: the key accounting matches on
    assert invoice.issue_date.strftime("%Y%m%d") == issued
    assert invoice.kind is (InvoiceKind.credit_note if type_code == "381" else InvoiceKind.invoice)
    assert (invoice.grand_total, invoice.currency) == (Decimal(grand), currency)
    assert (invoice.amount_due, invoice.tax_total) == (Decimal(due), Decimal(tax))
    assert len(invoice.line_items) == int(lines)
    assert invoice.seller.name and invoice.buyer.name
    assert read_einvoice((CORPUS / truth).read_bytes()) == got
    fields = read_embedded_invoice(CORPUS / file)
    assert fields is not None and fields["invoice_number"] == number
    assert Invoice.model_validate(fields) == invoice
    assert [f.code for f in invoice.check_rules() if f.severity == "error"] == []


def test_amounts_that_overflow_the_arithmetic_are_an_invoice_problem_not_a_crash() -> None:
    import re

    xml = cii_xml(InvoiceFacts(), "en16931")
    xml = re.sub(rb"(<ram:ChargeAmount>)[^<]*", rb"\g<1>9E999999", xml)
    xml = re.sub(rb"(<ram:BasisQuantity[^>]*>)[^<]*", rb"\g<1>1E-999999", xml)
    with pytest.raises(InvoiceXmlError, match="an amount is out of range") as caught:
        read_einvoice(xml)
    assert caught.value.problem is InvoiceXmlProblem.OUT_OF_RANGE
