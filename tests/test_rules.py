"""Business rules with real numbers, and the helpers behind them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas import (
    BankStatement,
    CnVatInvoice,
    IdCard,
    Invoice,
    Receipt,
    RuleFinding,
    cn_amount_in_words,
    iban_problem,
    id_check_character,
    parse_cn_amount,
    vat_id_problem,
)
from tests.test_schemas import (
    good_bank_statement,
    good_cn_vat_invoice,
    good_id_card,
    good_invoice,
    good_receipt,
)


def _codes(findings: list[RuleFinding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in findings]


# --- invoice -----------------------------------------------------------------------------------


def test_correct_invoice_passes() -> None:
    assert Invoice.model_validate(good_invoice()).check_rules() == []


def test_wrong_line_sum() -> None:
    data = good_invoice()
    data["line_items"][1]["line_total"] = "48,90"  # 950.00 + 48.90 != 999.80
    findings = Invoice.model_validate(data).check_rules()
    assert _codes(findings) == [("invoice.line_sum_mismatch", "error")]
    assert "998.90" in findings[0].message and "999.80" in findings[0].message


def test_line_sum_tolerates_rounding_per_line() -> None:
    data = good_invoice()
    data["line_items"][1]["line_total"] = "49,81"  # 0.01 off with two lines: within 0.02
    assert Invoice.model_validate(data).check_rules() == []


def test_wrong_grand_total() -> None:
    data = good_invoice()
    data["grand_total"] = "1.198,76"
    data["amount_due"] = None
    findings = Invoice.model_validate(data).check_rules()
    assert _codes(findings) == [("invoice.total_mismatch", "error")]


def test_grand_total_within_two_cents_passes() -> None:
    data = good_invoice()
    data["grand_total"] = "1.189,78"
    assert Invoice.model_validate(data).check_rules() == []


def test_due_before_issue() -> None:
    data = good_invoice()
    data["due_date"] = "2024-02-28"
    assert _codes(Invoice.model_validate(data).check_rules()) == [
        ("invoice.due_before_issue", "error")
    ]


def test_amount_due_above_total_is_a_warning() -> None:
    data = good_invoice()
    data["amount_due"] = "2.000,00"
    assert _codes(Invoice.model_validate(data).check_rules()) == [
        ("invoice.amount_due_exceeds_total", "warning")
    ]


def test_credit_note_with_positive_lines_and_negative_totals() -> None:
    data = good_invoice()
    data.update(kind="credit_note", net_total="-999,80", tax_total="-189,96",
                 grand_total="-1.189,76", amount_due=None)  # fmt: skip
    assert Invoice.model_validate(data).check_rules() == []
    data["kind"] = "invoice"
    assert _codes(Invoice.model_validate(data).check_rules()) == [
        ("invoice.line_sum_mismatch", "error")
    ]


# --- IBANs and EU VAT ids ----------------------------------------------------------------------

VALID_IBANS = [
    "DE40700202700012345678",
    "FR76 3000 6000 0112 3456 7890 189",
    "NL20INGB0001234567",
    "IT60X0542811101000000123456",
]
INVALID_IBANS = [
    ("DE41700202700012345678", "checksum"),  # check digits changed
    ("FR7630006000011234567890198", "checksum"),  # two digits swapped
    ("NL31INGB000123456", "format"),  # a digit short, check digits recomputed
    ("IT90X054281110100000012345", "format"),  # likewise
    ("XX94700202700012345678", "country"),
]
VALID_VAT_IDS = ["DE264831574", "FR69417263852", "NL815263971B01", "IT18273640195", "ATU12345675"]
INVALID_VAT_IDS = [
    ("DE264831570", "checksum"),
    ("FR00417263852", "checksum"),
    ("NL815263970B01", "checksum"),
    ("IT18273640190", "checksum"),
    ("DE26483157", "length"),
    ("DEABCDEFGHI", "format"),
]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_valid_iban_passes(iban: str) -> None:
    assert iban_problem(iban.replace(" ", "")) is None
    data = good_invoice()
    data["seller"]["iban"] = iban
    assert Invoice.model_validate(data).check_rules() == []


@pytest.mark.parametrize("iban, reason", INVALID_IBANS)
def test_invalid_iban_is_a_warning(iban: str, reason: str) -> None:
    problem = iban_problem(iban)
    assert problem is not None and reason in problem
    data = good_invoice()
    data["buyer"]["iban"] = iban
    findings = Invoice.model_validate(data).check_rules()
    assert _codes(findings) == [("invoice.iban_invalid", "warning")]
    assert findings[0].message == f"buyer.iban {iban}: {problem}"


@pytest.mark.parametrize("vat_id", VALID_VAT_IDS)
def test_valid_eu_vat_id_passes(vat_id: str) -> None:
    assert vat_id_problem(vat_id) is None
    data = good_invoice()
    data["buyer"]["vat_id"] = f"{vat_id[:2]} {vat_id[2:]}"
    assert Invoice.model_validate(data).check_rules() == []


@pytest.mark.parametrize("vat_id, reason", INVALID_VAT_IDS)
def test_invalid_eu_vat_id_is_a_warning(vat_id: str, reason: str) -> None:
    problem = vat_id_problem(vat_id)
    assert problem is not None and reason in problem
    data = good_invoice()
    data["seller"]["vat_id"] = vat_id
    findings = Invoice.model_validate(data).check_rules()
    assert _codes(findings) == [("invoice.vat_id_invalid", "warning")]
    assert findings[0].message == f"seller.vat_id {vat_id}: {problem}"


@pytest.mark.parametrize("vat_id", ["GB123456789", "CHE123456789", "91110108MA01ABCD2X", "123"])
def test_vat_ids_outside_the_eu_are_not_checked(vat_id: str) -> None:
    assert vat_id_problem(vat_id) is None


def test_both_parties_are_checked() -> None:
    data = good_invoice()
    data["seller"].update(vat_id="FR00417263852", iban="NL31INGB000123456")
    data["buyer"].update(vat_id="IT18273640190")
    findings = Invoice.model_validate(data).check_rules()
    assert [(f.code, f.message.split()[0]) for f in findings] == [
        ("invoice.vat_id_invalid", "seller.vat_id"),
        ("invoice.iban_invalid", "seller.iban"),
        ("invoice.vat_id_invalid", "buyer.vat_id"),
    ]


def test_bank_statement_iban() -> None:
    data = {**good_bank_statement(), "iban": "DE89370400440532013001"}
    findings = BankStatement.model_validate(data).check_rules()
    assert _codes(findings) == [("bank_statement.iban_invalid", "warning")]
    assert findings[0].message.startswith("iban DE89370400440532013001: ")


# --- ID card -----------------------------------------------------------------------------------


def test_id_check_character_known_values() -> None:
    assert id_check_character("11010519491231002") == "X"
    assert id_check_character("44052418800101001") == "4"
    with pytest.raises(ValueError):
        id_check_character("1234")


def test_genuine_id_card_passes() -> None:
    assert IdCard.model_validate(good_id_card()).check_rules() == []


def test_forged_id_number_fails_check_digit() -> None:
    data = {**good_id_card(), "id_number": "110105194912310021"}
    findings = IdCard.model_validate(data).check_rules()
    assert _codes(findings) == [("id_card.check_digit", "error")]
    assert "X" in findings[0].message


def test_birth_date_mismatch() -> None:
    data = {**good_id_card(), "birth_date": "1949-12-30"}
    assert _codes(IdCard.model_validate(data).check_rules()) == [
        ("id_card.birth_date_mismatch", "error")
    ]


def test_sex_mismatch() -> None:
    data = {**good_id_card(), "sex": "男"}
    assert _codes(IdCard.model_validate(data).check_rules()) == [("id_card.sex_mismatch", "error")]


def test_male_number_matches_male_card() -> None:
    first17 = "44052418800101001"  # 17th digit 1: odd, male
    data = {**good_id_card(), "sex": "male", "birth_date": "1880-01-01",
            "id_number": first17 + id_check_character(first17)}  # fmt: skip
    assert IdCard.model_validate(data).check_rules() == []


# --- Chinese amounts in words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "amount"),
    [
        ("壹仟贰佰叁拾肆元伍角陆分", "1234.56"),
        ("壹仟贰佰叁拾肆圆伍角陆分", "1234.56"),
        ("ⓧ 壹仟贰佰叁拾肆圆伍角陆分", "1234.56"),
        ("壹佰元整", "100"),
        ("壹佰圆正", "100"),
        ("壹仟零伍元叁角", "1005.30"),
        ("壹仟零伍元叁角整", "1005.30"),
        ("壹拾万元整", "100000"),
        ("拾万元整", "100000"),
        ("壹佰万零壹佰元整", "1000100"),
        ("壹亿零壹万元整", "100010000"),
        ("叁亿伍仟万元整", "350000000"),
        ("壹拾元零伍分", "10.05"),
        ("伍角", "0.5"),
        ("零元整", "0"),
        ("一千二百三十四元五角六分", "1234.56"),
        ("负壹佰元整", "-100"),
    ],
)
def test_parse_cn_amount(words: str, amount: str) -> None:
    assert parse_cn_amount(words) == Decimal(amount)


@pytest.mark.parametrize(
    "amount",
    ["1234.56", "100", "1005.30", "0.5", "0.05", "10.05", "100000", "1000100", "100010000",
     "1230.50", "20000000.07", "987654321.99", "0"],
)  # fmt: skip
def test_cn_amount_in_words_round_trips(amount: str) -> None:
    words = cn_amount_in_words(Decimal(amount))
    assert parse_cn_amount(words) == Decimal(amount)


def test_cn_amount_in_words_standard_forms() -> None:
    assert cn_amount_in_words(Decimal("1234.56")) == "壹仟贰佰叁拾肆元伍角陆分"
    assert cn_amount_in_words(Decimal("100")) == "壹佰元整"
    assert cn_amount_in_words(Decimal("1005.30")) == "壹仟零伍元叁角整"
    assert cn_amount_in_words(Decimal("0.50")) == "伍角整"
    assert cn_amount_in_words(Decimal("100005")) == "壹拾万零伍元整"
    assert cn_amount_in_words(Decimal("1204.05")) == "壹仟贰佰零肆元零伍分"
    assert cn_amount_in_words(Decimal("1000100")) == "壹佰万零壹佰元整"
    assert cn_amount_in_words(Decimal("10.05")) == "壹拾元零伍分"


@pytest.mark.parametrize("junk", ["", "壹仟贰佰叁拾肆元伍", "一千块", "整"])
def test_parse_cn_amount_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError):
        parse_cn_amount(junk)


def test_cn_vat_invoice_words_match_figures() -> None:
    assert CnVatInvoice.model_validate(good_cn_vat_invoice()).check_rules() == []


def test_cn_vat_invoice_words_mismatch() -> None:
    data = {**good_cn_vat_invoice(), "total_with_tax_in_words": "壹仟贰佰叁拾伍元伍角陆分"}
    findings = CnVatInvoice.model_validate(data).check_rules()
    assert _codes(findings) == [("cn_vat_invoice.words_mismatch", "error")]
    assert "1235.56" in findings[0].message


def test_cn_vat_invoice_unreadable_words_fail() -> None:
    data = {**good_cn_vat_invoice(), "total_with_tax_in_words": "一千块"}
    assert _codes(CnVatInvoice.model_validate(data).check_rules()) == [
        ("cn_vat_invoice.words_mismatch", "error")
    ]


def test_cn_vat_invoice_total_mismatch() -> None:
    data = {**good_cn_vat_invoice(), "total_tax": "142.30"}
    assert _codes(CnVatInvoice.model_validate(data).check_rules()) == [
        ("cn_vat_invoice.total_mismatch", "error")
    ]


# --- bank statement and receipt ---------------------------------------------------------------


def test_bank_statement_reconciles() -> None:
    assert BankStatement.model_validate(good_bank_statement()).check_rules() == []


def test_bank_statement_unreconciled() -> None:
    data = good_bank_statement()
    data["transactions"][2]["amount"] = "545,49"  # sign lost
    findings = BankStatement.model_validate(data).check_rules()
    assert _codes(findings) == [("bank_statement.unreconciled", "error")]
    assert "2845.49" in findings[0].message


def test_bank_statement_period_order() -> None:
    data = {**good_bank_statement(), "period_start": "2024-04-01"}
    assert _codes(BankStatement.model_validate(data).check_rules()) == [
        ("bank_statement.period_order", "error")
    ]


def test_receipt_total_with_or_without_tax() -> None:
    assert Receipt.model_validate(good_receipt()).check_rules() == []
    added_tax = {**good_receipt(), "total": "5,01"}  # items 4.70 + tax 0.31
    assert Receipt.model_validate(added_tax).check_rules() == []
    wrong = {**good_receipt(), "total": "7,70"}
    assert _codes(Receipt.model_validate(wrong).check_rules()) == [
        ("receipt.total_mismatch", "warning")
    ]
