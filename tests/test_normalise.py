"""Normalisation of printed values before validation: amounts, dates, times, enums, currencies."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from schemas import Currency, Invoice, PaymentMethod, Receipt, Sex
from schemas.types import (
    CurrencyCode,
    DocDate,
    DocTime,
    Money,
    OptMoney,
    OptText,
    Text,
    parse_date,
    parse_money,
    parse_time,
)


class _Probe(BaseModel):
    amount: Money
    maybe: OptMoney = None
    day: DocDate
    at: DocTime
    currency: CurrencyCode
    text: Text
    note: OptText = None


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("¥1,234.56", "1234.56"),
        ("€ 12,50", "12.50"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56 €", "1234.56"),
        ("1'234.56", "1234.56"),
        ("(12.00)", "-12.00"),
        ("12.00-", "-12.00"),
        ("-€12", "-12"),
        ("− 3,20", "-3.20"),
        ("EUR 1.234.567,89", "1234567.89"),
        ("USD 5", "5"),
        ("12,-", "12"),
        ("0,125", "0.125"),
        ("1.234", "1.234"),  # a lone dot is a decimal point
        ("1,234", "1234"),  # a lone comma before three digits groups thousands
        ("１２３４.５０", "1234.50"),
        (1234.56, "1234.56"),
        (7, "7"),
    ],
)
def test_amounts_in_local_formats_become_decimals(printed: object, expected: str) -> None:
    assert parse_money(printed) == Decimal(expected)
    assert _Probe.model_validate(_probe(amount=printed)).amount == Decimal(expected)


@pytest.mark.parametrize("junk", ["abc", "1.2.3", "12 EUR 13", "", "1,2,3", True])
def test_junk_amounts_are_rejected(junk: object) -> None:
    with pytest.raises(ValidationError):
        _Probe.model_validate(_probe(amount=junk))


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("01.03.2024", date(2024, 3, 1)),
        ("01/03/2024", date(2024, 3, 1)),  # ambiguous: day first
        ("03/13/2024", date(2024, 3, 13)),  # 13 cannot be a month: month first
        ("13/03/2024", date(2024, 3, 13)),
        ("1.3.24", date(2024, 3, 1)),
        ("1 March 2024", date(2024, 3, 1)),
        ("March 1, 2024", date(2024, 3, 1)),
        ("Mar 1st, 2024", date(2024, 3, 1)),
        ("01-Mar-2024", date(2024, 3, 1)),
        ("1. März 2024", date(2024, 3, 1)),
        ("1 mars 2024", date(2024, 3, 1)),
        ("2024年3月1日", date(2024, 3, 1)),
        ("2024 年 03 月 01 日", date(2024, 3, 1)),
        ("20240301", date(2024, 3, 1)),
        ("2024-03-01T09:30:00", date(2024, 3, 1)),
    ],
)
def test_dates_in_local_formats(printed: str, expected: date) -> None:
    assert parse_date(printed) == expected
    assert _Probe.model_validate(_probe(day=printed)).day == expected


@pytest.mark.parametrize("junk", ["31.02.2024", "2024-13-01", "yesterday", "13/13/2024", "2024"])
def test_impossible_dates_are_rejected(junk: str) -> None:
    with pytest.raises(ValidationError):
        _Probe.model_validate(_probe(day=junk))


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("14:30", time(14, 30)),
        ("14:30:05", time(14, 30, 5)),
        ("2:30 PM", time(14, 30)),
        ("12:05 am", time(0, 5)),
        ("14.30", time(14, 30)),
        ("14时30分", time(14, 30)),
    ],
)
def test_times(printed: str, expected: time) -> None:
    assert parse_time(printed) == expected


def test_bad_time_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_time("25:00")
    with pytest.raises(ValueError):
        parse_time("13:00 pm")


@pytest.mark.parametrize(
    ("printed", "code"),
    [("€", "EUR"), ("eur", "EUR"), (" EUR ", "EUR"), ("$", "USD"), ("US$", "USD"), ("¥", "CNY"),
     ("￥", "CNY"), ("RMB", "CNY"), ("人民币", "CNY"), ("£", "GBP"), ("Fr.", "CHF"), ("円", "JPY"),
     ("chf", "CHF"), ("zł", "PLN")],
)  # fmt: skip
def test_currency_symbols_and_names(printed: str, code: str) -> None:
    assert _Probe.model_validate(_probe(currency=printed)).currency is Currency(code)


def test_currency_enum_has_active_codes_only() -> None:
    codes = {c.value for c in Currency}
    assert {"EUR", "USD", "CNY", "JPY", "CHF", "GBP", "XCG", "ZWG", "SLE"} <= codes
    assert not {"DEM", "FRF", "HRK"} & codes
    assert len(codes) > 170
    with pytest.raises(ValidationError):
        _Probe.model_validate(_probe(currency="DEM"))


def test_text_is_trimmed_and_blank_optionals_become_none() -> None:
    probe = _Probe.model_validate(_probe(text="  ACME \n  GmbH  ", note="  n/a "))
    assert probe.text == "ACME GmbH"
    assert probe.note is None
    assert _Probe.model_validate(_probe(maybe="")).maybe is None
    with pytest.raises(ValidationError):
        _Probe.model_validate(_probe(text="   "))


def test_enums_are_case_insensitive_with_synonyms() -> None:
    receipt = Receipt.model_validate(
        {"merchant_name": "Shop", "date": "2024-03-01", "total": "3", "payment_method": "VISA"}
    )
    assert receipt.payment_method is PaymentMethod.card
    for printed, member in [("Cash", "cash"), ("支付宝", "mobile"), ("Apple Pay", "mobile"),
                            ("CARD", "card"), ("", None)]:  # fmt: skip
        data = {"merchant_name": "S", "date": "2024-03-01", "total": "3", "payment_method": printed}
        got = Receipt.model_validate(data).payment_method
        assert (got.value if got else None) == member
    with pytest.raises(ValidationError):
        Receipt.model_validate(
            {"merchant_name": "S", "date": "2024-03-01", "total": "3", "payment_method": "barter"}
        )


def test_sex_accepts_chinese() -> None:
    from schemas.id_card import IdCard

    base = {"name": "张三", "ethnicity": "汉", "birth_date": "1990年1月1日", "address": "北京市",
            "id_number": "11010519900101001x"}  # fmt: skip
    assert IdCard.model_validate({**base, "sex": "男"}).sex is Sex.male
    assert IdCard.model_validate({**base, "sex": "Female"}).sex is Sex.female
    assert IdCard.model_validate({**base, "sex": "男"}).id_number.endswith("X")


def test_invoice_kind_synonyms() -> None:
    from tests.test_schemas import good_invoice

    data = good_invoice()
    data["kind"] = "Credit Note"
    assert Invoice.model_validate(data).kind.value == "credit_note"
    data["kind"] = "Rechnung"
    assert Invoice.model_validate(data).kind.value == "invoice"


def _probe(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "amount": "1",
        "day": "2024-01-01",
        "at": "10:00",
        "currency": "EUR",
        "text": "x",
    }
    return {**base, **overrides}
