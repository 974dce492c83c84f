"""The built-in schemas: field names, descriptions, registry, and realistic documents."""

from __future__ import annotations

import typing
from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from schemas import (
    BUILTIN_SCHEMAS,
    SCHEMA_SUMMARIES,
    BankStatement,
    CnVatInvoice,
    Currency,
    IdCard,
    Invoice,
    MedicalInvoice,
    PropertyCertificate,
    Receipt,
)
from tests.test_medical_invoice import good_medical_invoice
from tests.test_property_certificate import good_property_certificate


def good_invoice() -> dict[str, typing.Any]:
    """A German invoice as a model might read it: local number and date formats."""
    return {
        "invoice_number": "RE-2024-0042",
        "kind": "invoice",
        "issue_date": "01.03.2024",
        "due_date": "2024-03-31",
        "seller": {"name": "Muster GmbH", "address": "Hauptstr. 1, 10115 Berlin",
                   "vat_id": "DE 264 831 574", "iban": "DE89 3704 0044 0532 0130 00"},
        "buyer": {"name": "Beispiel AG", "address": None},
        "currency": "€",
        "line_items": [
            {"description": "Beratung", "quantity": "10", "unit": "h", "unit_price": "95,00",
             "line_total": "950,00", "tax_rate": 19},
            {"description": "Druckerpapier", "quantity": 2, "unit": "Stk",
             "unit_price": "24,90", "line_total": "49,80", "tax_rate": "19"},
        ],
        "net_total": "999,80",
        "tax_total": "189,96",
        "grand_total": "1.189,76",
        "amount_due": "1.189,76",
        "payment_terms": "30 Tage netto",
    }  # fmt: skip


def good_cn_vat_invoice() -> dict[str, typing.Any]:
    return {
        "invoice_code": "044031900111",
        "invoice_number": "12345678",
        "issue_date": "2024年03月01日",
        "check_code": "12345 67890 12345 67890",
        "buyer_name": "北京示例科技有限公司",
        "buyer_tax_id": "91110108MA01ABCD2X",
        "seller_name": "上海样本贸易有限公司",
        "seller_tax_id": "913100007178123456",
        "items": [
            {"name": "*信息技术服务*软件维护费", "unit": "项", "quantity": 1,
             "unit_price": "1092.53", "amount": "1092.53", "tax_rate": "13",
             "tax_amount": "142.03"},
        ],
        "total_amount": "¥1,092.53",
        "total_tax": "¥142.03",
        "total_with_tax": "¥1,234.56",
        "total_with_tax_in_words": "ⓧ壹仟贰佰叁拾肆圆伍角陆分",
    }  # fmt: skip


def good_id_card() -> dict[str, typing.Any]:
    return {
        "name": "李四",
        "sex": "女",
        "ethnicity": "汉",
        "birth_date": "1949年12月31日",
        "address": "北京市朝阳区示例路1号",
        "id_number": "11010519491231002X",
    }


def good_bank_statement() -> dict[str, typing.Any]:
    return {
        "account_holder": "Erika Musterfrau",
        "bank_name": "Musterbank",
        "account_number": None,
        "iban": "DE89370400440532013000",
        "currency": "EUR",
        "period_start": "01.03.2024",
        "period_end": "31.03.2024",
        "opening_balance": "1.000,00",
        "closing_balance": "1.754,51",
        "transactions": [
            {"date": "01.03.2024", "description": "Gehalt", "amount": "2.500,00",
             "balance": "3.500,00"},
            {"date": "03.03.2024", "description": "Miete", "amount": "-1.200,00",
             "balance": "2.300,00"},
            {"date": "15.03.2024", "description": "Supermarkt", "amount": "(545,49)",
             "balance": "1.754,51"},
        ],
    }  # fmt: skip


def good_receipt() -> dict[str, typing.Any]:
    return {
        "merchant_name": "Bäckerei Beispiel",
        "merchant_address": "Marktplatz 3, Köln",
        "date": "01.03.2024",
        "time": "08:15",
        "currency": "EUR",
        "items": [
            {"description": "Brötchen", "quantity": 4, "unit_price": "0,45", "total": "1,80"},
            {"description": "Kaffee", "quantity": 1, "unit_price": "2,90", "total": "2,90"},
        ],
        "tax": "0,31",
        "total": "4,70",
        "payment_method": "Bar",
    }


def good_page_text() -> dict[str, typing.Any]:
    return {
        "lines": [
            {"text": "Rechnung 2024-0117", "bbox_2d": [96, 80, 412, 104]},
            {"text": "合计 人民币壹仟贰佰元整", "bbox_2d": [96, 120, 520, 142]},
        ]
    }


GOOD = {
    "invoice": good_invoice,
    "receipt": good_receipt,
    "cn_vat_invoice": good_cn_vat_invoice,
    "id_card": good_id_card,
    "bank_statement": good_bank_statement,
    "medical_invoice": good_medical_invoice,
    "property_certificate": good_property_certificate,
    "page_text": good_page_text,
}


def test_registry_names_and_summaries() -> None:
    assert list(BUILTIN_SCHEMAS) == ["invoice", "receipt", "cn_vat_invoice", "id_card",
                                     "bank_statement", "medical_invoice",
                                     "property_certificate", "page_text"]  # fmt: skip
    assert set(SCHEMA_SUMMARIES) == set(BUILTIN_SCHEMAS)
    assert all(len(s) > 20 for s in SCHEMA_SUMMARIES.values())


def _all_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for info in model.model_fields.values():
        for arg in _flatten(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                _all_models(arg, seen)
    return seen


def _flatten(tp: typing.Any) -> list[typing.Any]:
    args = typing.get_args(tp)
    return [tp] + [a for arg in args for a in _flatten(arg)]


@pytest.mark.parametrize("name", list(BUILTIN_SCHEMAS))
def test_every_field_has_a_description(name: str) -> None:
    for model in _all_models(BUILTIN_SCHEMAS[name], set()):
        missing = [f for f, info in model.model_fields.items() if not info.description]
        assert not missing, f"{model.__name__}: {missing}"


FIELD_NAMES = {
    Invoice: "invoice_number kind issue_date due_date seller buyer currency line_items net_total "
    "allowance_total charge_total tax_total grand_total amount_due payment_terms",
    Receipt: "merchant_name merchant_address date time currency items tax total payment_method",
    CnVatInvoice: "invoice_code invoice_number issue_date check_code buyer_name buyer_tax_id "
    "seller_name seller_tax_id items total_amount total_tax total_with_tax total_with_tax_in_words",
    IdCard: "name sex ethnicity birth_date address id_number",
    BankStatement: "account_holder bank_name account_number iban currency period_start period_end "
    "opening_balance closing_balance transactions",
    MedicalInvoice: "invoice_code invoice_number check_code issue_date visit_type payee_name "
    "patient_name patient_sex insurance_type insurance_number items total total_in_words "
    "fund_payment personal_account_payment cash_payment copay self_pay",
    PropertyCertificate: "certificate_number right_holders co_ownership location unit_number "
    "right_type right_nature use land_area building_area term_start term_end "
    "registration_authority issue_date",
}


def test_exact_field_names() -> None:
    for model, names in FIELD_NAMES.items():
        assert list(model.model_fields) == names.split(), model.__name__
    assert "发票代码" in CnVatInvoice.model_fields["invoice_code"].description
    assert "(invoice code" in CnVatInvoice.model_fields["invoice_code"].description


@pytest.mark.parametrize("name", list(BUILTIN_SCHEMAS))
def test_realistic_documents_validate_without_findings(name: str) -> None:
    instance = BUILTIN_SCHEMAS[name].model_validate(GOOD[name]())
    assert instance.check_rules() == []


def test_invoice_values_are_typed() -> None:
    invoice = Invoice.model_validate(good_invoice())
    assert invoice.issue_date == date(2024, 3, 1)
    assert invoice.grand_total == Decimal("1189.76")
    assert invoice.currency is Currency.EUR
    assert invoice.seller.vat_id == "DE264831574"
    assert invoice.seller.iban == "DE89370400440532013000"
    assert invoice.line_items[1].quantity == Decimal(2)
    assert invoice.buyer.vat_id is None


def test_optional_fields_default_and_lists_default_empty() -> None:
    minimal = {k: v for k, v in good_invoice().items()
               if k not in ("due_date", "line_items", "amount_due", "payment_terms")}  # fmt: skip
    invoice = Invoice.model_validate(minimal)
    assert invoice.line_items == []
    assert invoice.due_date is None and invoice.amount_due is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("invoice_code", "12345"), ("invoice_number", "123456789"), ("buyer_tax_id", "1234"),
     ("seller_tax_id", "91310000-71781234567890")],
)  # fmt: skip
def test_cn_vat_invoice_formats(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        CnVatInvoice.model_validate({**good_cn_vat_invoice(), field: value})
    assert field in str(info.value)


def test_cn_vat_invoice_accepts_20_digit_numbers_and_10_digit_codes() -> None:
    data = {**good_cn_vat_invoice(), "invoice_code": "1100194130",
            "invoice_number": "24312000000012345678"}  # fmt: skip
    assert CnVatInvoice.model_validate(data).invoice_number == "24312000000012345678"


@pytest.mark.parametrize("bad", ["1101051949123100", "11010519491231002Y", "ABCDEFGHIJKLMNOPQR"])
def test_id_number_format(bad: str) -> None:
    with pytest.raises(ValidationError):
        IdCard.model_validate({**good_id_card(), "id_number": bad})


def test_cn_codes_are_compacted_before_their_patterns_apply() -> None:
    data = {**good_cn_vat_invoice(), "invoice_code": "0440 3190 0111",
            "buyer_tax_id": "91110108ma01abcd2x"}  # fmt: skip
    invoice = CnVatInvoice.model_validate(data)
    assert invoice.invoice_code == "044031900111"
    assert invoice.buyer_tax_id == "91110108MA01ABCD2X"


@pytest.mark.parametrize("printed", ["TX-471102", "AV-2017-0005", "RE 2024/0042", "a.b-1"])
def test_the_invoice_number_is_kept_as_printed(printed: str) -> None:
    data = {**good_invoice(), "invoice_number": f"  {printed} "}
    assert Invoice.model_validate(data).invoice_number == printed
