"""Numeric dates that read either way (03/04/2024): the document's locale evidence decides,
and with none the answer gets a `date.ambiguous` warning."""

from __future__ import annotations

import json
from datetime import date

import pytest

from pipeline.extract.validate import validate_answer
from schemas import BUILTIN_SCHEMAS
from schemas.dates import date_order_evidence
from schemas.types import parse_date


def _invoice(issue: str, currency: str = "CAD", due: str | None = None, **seller: str) -> str:
    return json.dumps({
        "invoice_number": "1", "kind": "invoice", "issue_date": issue, "due_date": due,
        "seller": {"name": "Seller", **seller}, "buyer": {"name": "Buyer"},
        "currency": currency, "line_items": [], "net_total": 0, "tax_total": 0, "grand_total": 0,
    })  # fmt: skip


def _read(answer: str, schema: str = "invoice"):
    result = validate_answer(answer, BUILTIN_SCHEMAS[schema])
    assert result.ok, result.message
    return result


def test_no_evidence_reads_day_first_and_warns():
    result = _read(_invoice("03/04/2024"))
    assert result.data["issue_date"] == date(2024, 4, 3)
    [finding] = result.warnings
    assert finding.code == "date.ambiguous" and finding.severity == "warning"
    assert "03/04/2024" in finding.message


@pytest.mark.parametrize(
    ("seller", "currency", "expected"),
    [
        ({}, "USD", date(2024, 3, 4)),
        ({}, "PHP", date(2024, 3, 4)),
        ({}, "EUR", date(2024, 4, 3)),
        ({}, "GBP", date(2024, 4, 3)),
        ({"address": "500 Market St, San Francisco, CA 94105"}, "CAD", date(2024, 3, 4)),
        ({"address": "Main Street 1, Springfield, USA"}, "EUR", date(2024, 3, 4)),
        ({"vat_id": "DE123456788"}, "USD", date(2024, 4, 3)),  # the issuer outranks currency
        ({"iban": "FR7630006000011234567890189"}, "CAD", date(2024, 4, 3)),
        ({"address": "12 rue de Rivoli, Paris, France"}, "USD", date(2024, 4, 3)),
    ],
)
def test_locale_evidence_decides_the_order(seller, currency, expected):
    result = _read(_invoice("03/04/2024", currency, **seller))
    assert result.data["issue_date"] == expected
    assert not [w for w in result.warnings if w.code == "date.ambiguous"]


def test_an_unambiguous_date_on_the_same_document_decides():
    month_first = _read(_invoice("03/04/2024", "EUR", due="04/13/2024"))
    assert month_first.data["issue_date"] == date(2024, 3, 4)
    day_first = _read(_invoice("03/04/2024", "USD", due="13/04/2024"))
    assert day_first.data["issue_date"] == date(2024, 4, 3)


def test_unambiguous_and_iso_dates_give_no_warning():
    for text, expected in [("2024-03-04", date(2024, 3, 4)), ("13/04/2024", date(2024, 4, 13)),
                           ("04/04/2024", date(2024, 4, 4)), ("4 March 2024", date(2024, 3, 4))]:
        result = _read(_invoice(text))
        assert result.data["issue_date"] == expected and not result.warnings


def test_conflicting_issuer_evidence_warns():
    order, why = date_order_evidence({"seller": {"vat_id": "DE1", "address": "Austin, TX 78701"}})
    assert order is None and "conflicts" in why


def test_receipts_use_the_merchant_and_currency_too():
    answer = {"merchant_name": "Diner", "merchant_address": "Austin, TX 78701",
              "date": "02/03/2024", "items": [], "total": 5}
    assert _read(json.dumps(answer), "receipt").data["date"] == date(2024, 2, 3)
    answer.update(merchant_address=None, currency="EUR")
    assert _read(json.dumps(answer), "receipt").data["date"] == date(2024, 3, 2)
    answer.update(currency=None)
    warned = _read(json.dumps(answer), "receipt")
    assert [w.code for w in warned.warnings] == ["date.ambiguous"]


def test_parse_date_alone_keeps_reading_day_first():
    assert parse_date("03/04/2024") == date(2024, 4, 3)
