"""validate_answer: the order of checks, the codes, and readable messages."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from pipeline.errors import ErrorCode
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.validate import strip_fence, validate_answer
from schemas import IdCard, Invoice
from schemas.rules import RuleFinding
from tests.test_schemas import good_id_card, good_invoice


def _answer(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def test_valid_answer() -> None:
    result = validate_answer(_answer(good_invoice()), Invoice)
    assert result.error_code is None and result.message is None
    assert isinstance(result.instance, Invoice)
    assert result.data is not None
    assert result.data["grand_total"] == Decimal("1189.76")
    assert result.data["issue_date"] == date(2024, 3, 1)
    assert result.data["seller"]["vat_id"] == "DE264831574"
    assert result.warnings == ()


def test_json_numbers_are_read_exactly() -> None:
    data = good_invoice()
    data.update(net_total="NET", tax_total=189.96, grand_total=1189.76, amount_due=None)
    text = _answer(data).replace('"NET"', "999.80")
    assert '"net_total": 999.80,' in text
    result = validate_answer(text, Invoice)
    assert result.error_code is None
    assert result.data["tax_total"] == Decimal("189.96")
    assert str(result.data["net_total"]) == "999.80"


def test_truncated_comes_first() -> None:
    result = validate_answer('{"invoice_number": "A', Invoice, finish_reason="length")
    assert result.error_code is ErrorCode.TRUNCATED_OUTPUT
    # Even a complete answer counts as truncated when the engine says it hit the limit.
    full = validate_answer(_answer(good_invoice()), Invoice, finish_reason="length")
    assert full.error_code is ErrorCode.TRUNCATED_OUTPUT and full.instance is None


def test_fenced_json_is_accepted() -> None:
    fenced = "```json\n" + _answer(good_invoice()) + "\n```"
    assert validate_answer(fenced, Invoice).error_code is None
    assert strip_fence("```\n{}\n```") == "{}"
    assert strip_fence('  {"a": 1} ') == '{"a": 1}'


def test_not_json() -> None:
    for text in ["", "The invoice number is 42.", '{"invoice_number": "A",}', "{} trailing"]:
        result = validate_answer(text, Invoice)
        assert result.error_code is ErrorCode.INVALID_JSON, text
        assert result.message and result.message.startswith("not JSON")


def test_schema_violation_lists_fields() -> None:
    data = good_invoice()
    data["issue_date"] = "someday"
    data["seller"]["name"] = ""
    data["line_items"][0]["line_total"] = "n/a"
    del data["currency"]
    result = validate_answer(_answer(data), Invoice)
    assert result.error_code is ErrorCode.SCHEMA_VIOLATION
    assert result.instance is None and result.data is None
    message = result.message or ""
    for path in ("issue_date", "seller.name", "line_items.0.line_total", "currency"):
        assert path in message
    assert "'someday'" in message


def test_json_array_is_a_schema_violation() -> None:
    result = validate_answer("[1, 2]", Invoice)
    assert result.error_code is ErrorCode.SCHEMA_VIOLATION


def test_rule_violation_lists_codes() -> None:
    data = good_invoice()
    data["grand_total"] = "1.300,00"
    data["due_date"] = "2024-01-01"
    result = validate_answer(_answer(data), Invoice)
    assert result.error_code is ErrorCode.RULE_VIOLATION
    assert "invoice.total_mismatch" in (result.message or "")
    assert "invoice.due_before_issue" in (result.message or "")
    assert result.data is None


def test_warnings_are_kept_on_success() -> None:
    data = good_invoice()
    data["amount_due"] = "5.000,00"
    result = validate_answer(_answer(data), Invoice)
    assert result.error_code is None
    assert [w.code for w in result.warnings] == ["invoice.amount_due_exceeds_total"]


def test_forged_id_card_is_a_rule_violation() -> None:
    data = {**good_id_card(), "id_number": "110105194912310021"}
    result = validate_answer(_answer(data), IdCard)
    assert result.error_code is ErrorCode.RULE_VIOLATION
    assert "id_card.check_digit" in (result.message or "")


def test_custom_models_with_and_without_rules() -> None:
    model = resolve_schema("tests/data/custom_schema.py:Model").model
    answer = '{"order_id": "PO-1", "ordered_on": "2024-03-01", "priority": "low", "amount": 3.10}'
    result = validate_answer(answer, model)
    assert result.error_code is None and result.data["amount"] == Decimal("3.10")

    class Ruled(BaseModel):
        n: int

        def check_rules(self) -> list[RuleFinding]:
            return [RuleFinding("ruled.odd", "error", "odd")] if self.n % 2 else []

    assert validate_answer('{"n": 2}', Ruled).error_code is None
    assert validate_answer('{"n": 3}', Ruled).error_code is ErrorCode.RULE_VIOLATION

    class Crashing(BaseModel):
        n: int

        def check_rules(self) -> list[RuleFinding]:
            raise ZeroDivisionError("boom")

    crashed = validate_answer('{"n": 1}', Crashing)
    assert crashed.error_code is ErrorCode.RULE_VIOLATION
    assert "ZeroDivisionError" in (crashed.message or "")


def test_values_that_cannot_be_stored_are_schema_violations() -> None:
    data = good_invoice()
    data.update(net_total="NET", tax_total=0, grand_total="NET", amount_due=None, line_items=[])
    text = _answer(data).replace('"NET"', "1e20")
    result = validate_answer(text, Invoice)
    assert result.error_code is ErrorCode.SCHEMA_VIOLATION
    assert "decimal128" in (result.message or "")

    class Counter(BaseModel):
        n: int

    assert validate_answer('{"n": 99999999999999999999}', Counter).error_code is (
        ErrorCode.SCHEMA_VIOLATION
    )
    assert validate_answer('{"n": 9}', Counter).error_code is None


def test_a_number_its_column_rounds_is_kept_with_a_rounded_warning() -> None:
    """A unit price read with six decimals is valid, but its decimal128(18, 4) column keeps
    four: the row says so, naming the field and both values. Trailing zeros change nothing."""
    data = good_invoice()
    data["line_items"][1]["unit_price"] = "24,900049"
    data["line_items"][1]["quantity"] = "2,000000"
    result = validate_answer(_answer(data), Invoice)
    assert result.error_code is None
    assert [(w.code, w.message) for w in result.warnings] == [
        ("rounded", "line_items[1].unit_price: 24.900049 is stored as 24.9000")
    ]
    assert validate_answer(_answer(good_invoice()), Invoice).warnings == ()


def test_the_rounded_warning_reaches_the_row_and_the_summary(tmp_path) -> None:
    """Through a whole run: the documents row holds the stored value and the warning, and the
    run counts it under `warnings_by_code`."""
    import dataclasses

    from pipeline.config import load_config
    from pipeline.engines.base import EngineResult
    from pipeline.engines.null import NullEngine
    from pipeline.run import run_extraction
    from tests.run_helpers import make_unique_pdf, read_table

    data = good_invoice()
    data["line_items"][1]["unit_price"] = "24,900049"

    class Answers(NullEngine):
        async def generate(self, requests):  # type: ignore[no-untyped-def]
            outcomes = await super().generate(requests)
            return [dataclasses.replace(o, text=_answer(data))
                    if isinstance(o, EngineResult) else o for o in outcomes]  # fmt: skip

    inbox = tmp_path / "in"
    inbox.mkdir()
    make_unique_pdf(inbox / "energy.pdf", 1, "ENERGY")
    config = load_config({"inputs": [str(inbox)], "out": tmp_path / "out", "log_format": "plain",
                          "render": {"workers": 1}}, env={})  # fmt: skip
    report = run_extraction(config, engine=Answers())
    (row,) = read_table(tmp_path / "out", "invoice", "documents")
    assert row["data"]["line_items"][1]["unit_price"] == Decimal("24.9000")
    assert [w["code"] for w in row["warnings"]] == ["rounded"]
    assert report.warnings_by_code == {"rounded": 1} and report.with_warnings == 1


def test_a_choice_of_floats_takes_the_number_it_holds() -> None:
    """Answers are parsed as Decimal; a Literal or enum of floats still takes 0.07, and only a
    number whose float writes the same digits."""
    from enum import Enum
    from typing import Literal

    class Rate(float, Enum):
        reduced = 0.07

    class Taxed(BaseModel):
        rate: Literal[0.07, 0.19]
        rates: list[Literal[1.5, 2.5]]
        kind: Rate

    ok = validate_answer('{"rate": 0.19, "rates": [2.5, 1.5], "kind": 0.07}', Taxed)
    assert ok.error_code is None, ok.message
    assert ok.instance == Taxed(rate=0.19, rates=[2.5, 1.5], kind=Rate.reduced)
    near = validate_answer('{"rate": 0.0700000001, "rates": [], "kind": 0.07}', Taxed)
    assert near.error_code is ErrorCode.SCHEMA_VIOLATION and "rate" in (near.message or "")
