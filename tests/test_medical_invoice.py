"""The medical invoice schema: printed forms read, and each business rule passing and failing."""

from __future__ import annotations

import typing
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import MedicalInvoice, RuleFinding, Sex, VisitType


def good_medical_invoice() -> dict[str, typing.Any]:
    """An outpatient invoice as a model might read it off the page."""
    return {
        "invoice_code": "1106 0124",
        "invoice_number": "0012345678",
        "check_code": "3f4d5c",
        "issue_date": "2024年05月06日",
        "visit_type": "门诊",
        "payee_name": "示例市第一人民医院",
        "patient_name": "王演示",
        "patient_sex": "女",
        "insurance_type": "城镇职工基本医疗保险",
        "insurance_number": "99010119850612002X",
        "items": [
            {"category": "西药费", "amount": "126.40"},
            {"category": "中成药费", "amount": "58.00"},
            {"category": "检查费", "amount": "¥180.00"},
            {"category": "化验费", "amount": "95.60"},
        ],
        "total": "¥460.00",
        "total_in_words": "肆佰陆拾元整",
        "fund_payment": "276.00",
        "personal_account_payment": "150.00",
        "cash_payment": "34.00",
        "copay": "164.00",
        "self_pay": "20.00",
    }


def _codes(findings: list[RuleFinding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in findings]


def _rules(**changes: typing.Any) -> list[tuple[str, str]]:
    return _codes(
        MedicalInvoice.model_validate({**good_medical_invoice(), **changes}).check_rules()
    )


def test_a_genuine_invoice_is_read_and_passes() -> None:
    invoice = MedicalInvoice.model_validate(good_medical_invoice())
    assert invoice.check_rules() == []
    assert invoice.invoice_code == "11060124" and invoice.check_code == "3F4D5C"
    assert invoice.visit_type is VisitType.outpatient and invoice.patient_sex is Sex.female
    assert invoice.total == Decimal("460.00") and invoice.items[2].amount == Decimal(180)


def test_items_that_do_not_sum_to_the_total() -> None:
    data = good_medical_invoice()
    data["items"][0]["amount"] = "162.40"
    findings = MedicalInvoice.model_validate(data).check_rules()
    assert _codes(findings) == [("medical_invoice.item_sum_mismatch", "error")]
    assert "496.00" in findings[0].message and "460.00" in findings[0].message


def test_no_items_leaves_the_sum_unchecked() -> None:
    assert _rules(items=[]) == []


def test_payments_that_do_not_add_up_to_the_total() -> None:
    assert _rules(cash_payment="43.00") == [("medical_invoice.payment_mismatch", "error")]


def test_payments_missing_count_as_zero_and_none_printed_is_not_checked() -> None:
    assert _rules(fund_payment=None, personal_account_payment="-", cash_payment="460.00") == []
    assert _rules(fund_payment=None, personal_account_payment=None, cash_payment=None) == []
    assert _rules(fund_payment=None) == [("medical_invoice.payment_mismatch", "error")]


def test_words_that_differ_from_the_figures() -> None:
    findings = MedicalInvoice.model_validate(
        {**good_medical_invoice(), "total_in_words": "肆佰陆拾陆元整"}
    ).check_rules()
    assert _codes(findings) == [("medical_invoice.words_mismatch", "error")]
    assert "466" in findings[0].message and "total is 460.00" in findings[0].message


def test_unreadable_words_fail() -> None:
    assert _rules(total_in_words="四百六十块") == [("medical_invoice.words_mismatch", "error")]


def test_a_wrong_total_breaks_every_rule_that_uses_it() -> None:
    assert _rules(total="470.00") == [
        ("medical_invoice.item_sum_mismatch", "error"),
        ("medical_invoice.payment_mismatch", "error"),
        ("medical_invoice.words_mismatch", "error"),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("invoice_code", "1106"), ("invoice_number", "12345"), ("visit_type", "体检"),
     ("patient_sex", "unknown")],
)  # fmt: skip
def test_malformed_fields_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        MedicalInvoice.model_validate({**good_medical_invoice(), field: value})
    assert field in str(info.value)


def test_inpatient_and_blank_optionals() -> None:
    invoice = MedicalInvoice.model_validate({**good_medical_invoice(), "visit_type": "住院",
                                             "patient_sex": "", "copay": "无"})  # fmt: skip
    assert invoice.visit_type is VisitType.inpatient
    assert invoice.patient_sex is None and invoice.copay is None
