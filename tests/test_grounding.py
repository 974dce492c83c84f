"""Per-field grounding: the locator on real PDFs, the fields table, and the figures on the
bundled examples."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest

from pipeline.bench.docgen import make_invoice, make_medical_invoice, write_document
from pipeline.bench.grounding import (
    found_in_corpus,
    iou,
    measure_by_schema,
    measure_documents,
    measure_examples,
)
from pipeline.config import load_config
from pipeline.engines.base import EngineResult
from pipeline.engines.null import NullEngine
from pipeline.grounding import MatchQuality, Source, locate_fields, read_text_layer
from pipeline.grounding.spans import PageIndex
from pipeline.grounding.textlayer import PageText, visual_order
from pipeline.output.current import current_row_dicts
from pipeline.output.progress import PlainReporter
from pipeline.run import run_extraction
from schemas import BUILTIN_SCHEMAS

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/corpus")


def _pdf(path: Path, lines: list[tuple[float, float, str]], cjk: bool = False) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for x, y, text in lines:
        page.insert_text((x, y), text, fontsize=10, fontname="china-s" if cjk else "helv")
    doc.save(path)
    return path


def _invoice(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "invoice_number": "RE-77", "kind": "invoice", "issue_date": "2024-06-17", "currency": "EUR",
        "seller": {"name": "Lindenhof Maschinenbau GmbH",
                   "address": "Hafenstraße 3, 12345 Musterstadt",
                   "iban": "DE89370400440532013000"},
        "buyer": {"name": "Sonnfeld Elektro GmbH"},
        "line_items": [], "net_total": "1000.00", "tax_total": "234.56", "grand_total": "1234.56",
    }  # fmt: skip
    data.update(overrides)
    return BUILTIN_SCHEMAS["invoice"].model_validate(data)


def _by_path(groundings):  # type: ignore[no-untyped-def]
    return {g.path: g for g in groundings}


def test_values_are_found_however_printed(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "a.pdf", [
        (50, 60, "Lindenhof Maschinenbau GmbH"),
        (50, 74, "Hafenstraße 3"), (50, 86, "12345 Musterstadt"),
        (350, 60, "Rechnungsnr. RE-77"), (350, 74, "Datum 17.06.2024"),
        (50, 200, "Sonnfeld Elektro GmbH"),
        (300, 400, "Nettobetrag"), (480, 400, "1 000,00"),
        (300, 414, "USt. 19 %"), (480, 414, "EUR 234,56"),
        (300, 428, "Gesamtbetrag"), (480, 428, "1.234,56 €"),
        (50, 500, "IBAN: DE89 3704 0044 0532 0130 00"),
    ])  # fmt: skip
    pages = read_text_layer(pdf)
    found = _by_path(locate_fields(_invoice(), pages))
    assert found["invoice_number"].quality is MatchQuality.exact
    for path in ("issue_date", "net_total", "tax_total", "grand_total", "seller.iban",
                 "seller.address", "seller.name", "buyer.name"):  # fmt: skip
        g = found[path]
        assert g.source is Source.text_layer and g.page == 1, path
        assert g.box is not None and g.box_norm is not None and 0 < g.confidence <= 1
    # the grand total's box is the "1.234,56 €" words on the Gesamtbetrag line, sign included
    x0, y0, x1, y1 = found["grand_total"].box  # type: ignore[misc]
    assert 470 < x0 < 485 and 415 < y1 < 432 and x1 > 512
    # the address box spans both lines; the IBAN box only the grouped IBAN, not its label
    assert found["seller.address"].box[3] - found["seller.address"].box[1] > 20  # type: ignore[index]
    assert found["seller.iban"].box[0] > 70  # type: ignore[index]
    assert found["currency"].box is not None and found["currency"].box[2] < 505  # "EUR" itself
    assert found["kind"].source is Source.none and found["kind"].box is None
    assert found["buyer.address"].value is None and found["buyer.address"].page is None


def test_a_value_not_printed_gets_no_box(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "b.pdf", [(50, 60, "Total 99,00"), (50, 80, "RE-78")])
    found = _by_path(locate_fields(_invoice(), read_text_layer(pdf)))
    for path in ("grand_total", "invoice_number", "issue_date", "seller.name"):
        assert found[path].source is Source.none and found[path].confidence == 0.0


def test_label_words_decide_between_equal_values(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "c.pdf", [
        (50, 60, "Nettobetrag"), (400, 60, "234,56"),
        (50, 300, "USt. 19 %"), (400, 300, "234,56"),
    ])  # fmt: skip
    found = _by_path(locate_fields(_invoice(net_total="234.56"), read_text_layer(pdf)))
    assert found["net_total"].box[1] < 100 and found["tax_total"].box[1] > 250  # type: ignore[index]
    assert found["tax_total"].confidence < 0.9  # a rival place exists


def test_cjk_and_month_first_dates(tmp_path: Path) -> None:
    pdf = _pdf(
        tmp_path / "d.pdf",
        [(50, 60, "示例科技有限公司"), (50, 90, "开票日期 2024年06月17日")],
        cjk=True,
    )
    invoice = _invoice(seller={"name": "示例科技有限公司"})
    found = _by_path(locate_fields(invoice, read_text_layer(pdf)))
    assert found["seller.name"].quality is MatchQuality.exact
    assert found["issue_date"].page == 1
    us = _pdf(tmp_path / "e.pdf", [(50, 60, "Date 06/17/2024")])
    assert _by_path(locate_fields(_invoice(), read_text_layer(us)))["issue_date"].page == 1


def test_a_time_of_day_is_found_with_or_without_its_zero_seconds(tmp_path: Path) -> None:
    receipt = BUILTIN_SCHEMAS["receipt"].model_validate(
        {"merchant_name": "Kiosk", "date": "2024-06-17", "time": "14:05:00", "total": "9.90"}
    )
    pdf = _pdf(tmp_path / "t.pdf", [(50, 60, "Kiosk"), (50, 80, "17.06.2024 Zeit 14:05")])
    found = _by_path(locate_fields(receipt, read_text_layer(pdf)))["time"]
    assert found.source is Source.text_layer and found.quality is MatchQuality.exact
    assert found.box is not None and found.box[0] > 120  # the time, not the date before it
    early = receipt.model_copy(update={"time": receipt.time.replace(hour=9)})  # type: ignore[union-attr]
    pdf = _pdf(tmp_path / "u.pdf", [(50, 60, "Kiosk"), (50, 80, "Zeit 9:05")])
    assert _by_path(locate_fields(early, read_text_layer(pdf)))["time"].page == 1
    pdf = _pdf(tmp_path / "p.pdf", [(50, 60, "Kiosk"), (50, 80, "Time 2:05 pm")])
    afternoon = _by_path(locate_fields(receipt, read_text_layer(pdf)))["time"]
    assert afternoon.quality is MatchQuality.normalised and afternoon.box[0] > 70  # type: ignore[index]
    pdf = _pdf(tmp_path / "v.pdf", [(50, 60, "Kiosk"), (50, 80, "Zeit 14:06")])
    assert _by_path(locate_fields(receipt, read_text_layer(pdf)))["time"].source is Source.none


def test_a_line_of_a_smaller_font_beside_a_taller_one_stays_whole() -> None:
    """Words as PyMuPDF gives them for a real ZUGFeRD invoice: "Muster GmbH" (one line of the
    file) sits 3.5 pt below the bottom of a taller "Rechnungsnummer:" beside it; a visual line
    that took "GmbH" in with the taller words would leave "Muster" on a line of its own."""
    raw = [
        (437.7, 179.0, 493.3, 192.75, "2015738820", 24, 0, 0),
        (330.2, 179.0, 420.2, 192.75, "Rechnungsnummer:", 24, 1, 0),
        (76.8, 184.2, 104.3, 196.49, "Muster", 23, 0, 0),
        (106.8, 183.9, 132.8, 196.25, "GmbH", 23, 0, 1),
        (76.8, 194.1, 83.8, 206.45, "z.", 23, 1, 0),
        (330.2, 190.9, 374.1, 204.67, "München,", 24, 2, 0),
    ]  # fmt: skip
    words = [w.text for w in visual_order(raw)]
    assert words.index("GmbH") == words.index("Muster") + 1
    assert words[:4] == ["Rechnungsnummer:", "2015738820", "Muster", "GmbH"]
    page = PageText(1, 595.0, 842.0, visual_order(raw))
    [span] = PageIndex(page).text_spans("Muster GmbH")
    assert span.box[0] < 77 and span.box[2] > 132


def test_thousands_printed_with_one_separator_and_addresses_without_their_country(
    tmp_path: Path,
) -> None:
    pdf = _pdf(tmp_path / "q.pdf", [
        (50, 60, "Lindenhof Maschinenbau GmbH"),
        (50, 74, "Hafenstraße 3"), (50, 86, "12345 Musterstadt"),
        (50, 300, "Strom 1.000 kWh"), (50, 320, "Summe 1.000,00"),
    ])  # fmt: skip
    [page] = read_text_layer(pdf)
    index = PageIndex(page)
    # "1.000" is a thousand (as German prints it) or one; "1.000,00" only a thousand
    thousand = {round(s.box[1]) for s in index.number_spans(Decimal("1000"))}
    assert len(thousand) == 2
    assert len(index.number_spans(Decimal("1"))) == 1
    seller = {"name": "Lindenhof Maschinenbau GmbH",
              "address": "Hafenstraße 3, 12345 Musterstadt, DE"}  # fmt: skip
    found = _by_path(locate_fields(_invoice(seller=seller), [page], from_xml=True))
    address = found["seller.address"]
    assert address.source is Source.text_layer and address.quality is MatchQuality.fuzzy
    assert address.box is not None and address.box[3] - address.box[1] > 20  # both lines
    elsewhere = {**seller, "address": "Hafenstraße 3, 99999 Anderswo, DE"}
    found = _by_path(locate_fields(_invoice(seller=elsewhere), [page], from_xml=True))
    assert found["seller.address"].box is None


def test_a_value_wrapped_onto_the_next_line_of_its_cell_is_found(tmp_path: Path) -> None:
    item = {"description": "Lebensgefährte/in zur Privathaftpflicht", "quantity": "1",
            "unit_price": "45.00", "line_total": "45.00"}  # fmt: skip
    pdf = _pdf(tmp_path / "w.pdf", [
        (60, 400, "2"), (90, 400, "Lebensgefährte/in zur"), (400, 400, "1,00"),
        (480, 400, "45,00"), (90, 412, "Privathaftpflicht"),
        (90, 500, "Privathaftpflicht"),  # the same word, too far below to continue the cell
    ])  # fmt: skip
    found = _by_path(locate_fields(_invoice(line_items=[item]), read_text_layer(pdf)))
    g = found["line_items[0].description"]
    assert g.quality is MatchQuality.fuzzy and g.page == 1 and g.box is not None
    x0, y0, x1, y1 = g.box
    assert 88 < x0 < 92 and 386 < y0 < 392 and 410 < y1 < 416 and x1 < 200  # both lines only
    for far in ([(90, 450, "Beginn")], []):  # the words apart, or next in reading order
        lines = [(90, 400, "Lebensgefährte/in zur"), *far, (90, 500, "Privathaftpflicht")]
        pdf = _pdf(tmp_path / f"x{len(far)}.pdf", lines)
        found = _by_path(locate_fields(_invoice(line_items=[item]), read_text_layer(pdf)))
        assert found["line_items[0].description"].box is None


def test_a_description_after_an_item_code_wraps_back_under_the_code(tmp_path: Path) -> None:
    item = {"description": "Standard Mounting Brackets", "quantity": "2",
            "unit_price": "45.00", "line_total": "90.00"}  # fmt: skip

    def description_box(wrap_x: float) -> tuple[float, ...] | None:
        doc = pymupdf.open()
        page = doc.new_page(width=595, height=842)
        page.insert_text((90, 400), "GG-BRKT-STD-05 Standard Mounting", fontsize=10)
        page.insert_text((400, 400), "90,00", fontsize=10)  # between the lines in reading order
        page.insert_text((wrap_x, 412), "Brackets", fontsize=10)
        doc.save(tmp_path / f"code{wrap_x}.pdf")
        pages = read_text_layer(tmp_path / f"code{wrap_x}.pdf")
        description = [w for w in pages[0].words if w.text != "90,00"]
        assert len({w.block for w in description}) == 1  # one block of the file, as printed
        return _by_path(locate_fields(_invoice(line_items=[item]), pages))[
            "line_items[0].description"].box  # fmt: skip

    box = description_box(90)  # under the code, 86 points left of "Standard"
    assert box is not None and 88 < box[0] < 92 and box[3] > 412  # both lines
    assert description_box(30) is None  # left of where the line starts: not the same cell


def test_an_image_has_no_text_layer(tmp_path: Path) -> None:
    image = tmp_path / "scan.png"
    pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 20, 20), False).save(image)
    assert read_text_layer(image) == []
    assert all(g.source is Source.none for g in locate_fields(_invoice(), []))


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


class TruthEngine(NullEngine):
    """The null engine answering with one fixed JSON text: the truth of the document."""

    def __init__(self, answer: dict) -> None:
        super().__init__()
        self.answer = json.dumps(answer)

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        return [
            dataclasses.replace(o, text=self.answer) if isinstance(o, EngineResult) else o
            for o in outcomes
        ]


@pytest.fixture(scope="module")
def invoice_doc(tmp_path_factory):  # type: ignore[no-untyped-def]
    doc = make_invoice(random.Random(5), "grounded", "de", "classic", lines=3)
    folder = tmp_path_factory.mktemp("in")
    write_document(doc, folder, None)
    return doc, folder


def test_extract_returns_fields_with_each_document(invoice_doc) -> None:  # type: ignore[no-untyped-def]
    import docextract

    doc, folder = invoice_doc
    [result] = docextract.extract(
        folder, engine=TruthEngine(doc.truth),
        render={"dpi": 40, "workers": 1, "text_layer": True},
    )  # fmt: skip
    fields = {f["field"]: f for f in result.fields}
    assert fields["invoice_number"]["source"] == "text_layer"
    for path, true in doc.boxes.items():
        assert fields[path]["on_page"] == true["page"], path
        assert iou(fields[path]["box"], true["box"]) > 0.8, path


def test_the_run_writes_a_fields_table(invoice_doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc, folder = invoice_doc
    render = {"dpi": 40, "workers": 1, "text_layer": True}
    flags = {"inputs": [str(folder)], "out": str(tmp_path / "out"), "retries": 0,
             "log_format": "plain", "render": render}  # fmt: skip
    config = load_config(flags, None, {})
    for _ in range(2):  # the second run does nothing: its rows are there
        run_extraction(config, engine=TruthEngine(doc.truth), reporter=PlainReporter(io.StringIO()))

    documents = current_row_dicts(tmp_path / "out", "invoice", "documents")
    fields = pq.read_table(tmp_path / "out" / "invoice" / "fields").to_pylist()
    assert len(documents) == 1 and len(fields) == len(
        current_row_dicts(tmp_path / "out", "invoice", "fields")
    )
    row = documents[0]
    assert {f["doc_id"] for f in fields} == {row["doc_id"]}
    assert {f["created_at"] for f in fields} == {row["created_at"]}
    by_field = {f["field"]: f for f in fields}
    assert by_field["grand_total"]["value"] == doc.truth["grand_total"]
    true = doc.boxes["grand_total"]["box"]
    found = [by_field["grand_total"][c] for c in ("x0", "y0", "x1", "y1")]
    assert iou(found, true) > 0.9 and 0 < by_field["grand_total"]["nx0"] < 1


def test_the_locator_meets_its_targets_on_the_examples() -> None:
    score = measure_examples(ROOT / "examples", ["invoice"]).overall()
    assert score.total >= 200
    assert score.found / score.total >= 0.95
    assert score.mean_iou >= 0.9
    assert score.right_page == score.found


# Schemas whose examples include a PDF, with the least number of true boxes they must hold.
MEASURED = {"receipt": 15, "cn_vat_invoice": 20, "bank_statement": 20, "property_certificate": 12}


@pytest.mark.parametrize("schema", sorted(MEASURED))
def test_the_locator_meets_its_targets_on_each_schema(schema: str) -> None:
    score = measure_examples(ROOT / "examples", [schema]).overall()
    assert score.total >= MEASURED[schema]
    assert score.found / score.total >= 0.95
    assert score.mean_iou >= 0.9
    assert score.right_page == score.found


def test_every_example_has_true_boxes_and_scans_are_counted_apart() -> None:
    scores = measure_by_schema(ROOT / "examples")
    assert set(scores) == {*MEASURED, "invoice", "medical_invoice", "id_card"}
    assert scores["id_card"].without_text == ["id_card_specimen.jpg"]
    assert scores["medical_invoice"].without_text == ["medical_invoice_scan.jpg"]
    assert scores["receipt"].without_text == ["scanned_receipt.tif"]


def test_the_locator_meets_its_targets_on_generated_medical_invoices() -> None:
    """The medical invoice example is a scan: the generator's PDFs measure it."""
    rng = random.Random(0)
    docs = [make_medical_invoice(rng, f"m{k}") for k in range(5)]
    score = measure_documents(docs)
    total = score.overall()
    assert not score.without_text and total.total >= 100
    assert total.found / total.total >= 0.95 and total.mean_iou >= 0.9
    assert total.right_page == total.found


@pytest.mark.skipif(not (CORPUS / "invoices").is_dir(), reason="no corpus here")
def test_corpus_e_invoices_values_are_mostly_found() -> None:
    found, total, _missing = found_in_corpus(CORPUS)
    assert total > 100 and found / total >= 0.8


def test_without_grounding_no_text_layer_is_read_and_no_field_is_located(invoice_doc) -> None:  # type: ignore[no-untyped-def]
    """Grounding is off by default: the render stage reads no words and no fields rows come."""
    import docextract

    doc, folder = invoice_doc
    [result] = docextract.extract(
        folder, engine=TruthEngine(doc.truth), render={"dpi": 40, "workers": 1}
    )
    assert result.data is not None and result.fields == ()


def test_an_encrypted_pdf_is_grounded_from_the_pages_its_password_opened(tmp_path: Path) -> None:
    """The words come from the render stage, which holds the document open with its password:
    nothing opens the file a second time."""
    import pymupdf

    import docextract

    inbox = tmp_path / "in"
    inbox.mkdir()
    pdf = pymupdf.open()
    pdf.new_page().insert_text((72, 100), "Invoice number INV-7731", fontsize=12)
    pdf.save(inbox / "locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256,
             user_pw="secret", owner_pw="owner")  # fmt: skip
    answer = {**_invoice().model_dump(mode="json"), "invoice_number": "INV-7731"}
    [result] = docextract.extract(
        inbox, engine=TruthEngine(answer),
        render={"workers": 1, "text_layer": True, "passwords": ["secret"]},
    )  # fmt: skip
    assert result.data is not None, result.error
    found = {f["field"]: f for f in result.fields}["invoice_number"]
    assert (found["source"], found["on_page"]) == ("text_layer", 1)
