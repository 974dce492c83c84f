"""A field's confidence: where each value is written in the answer, which tokens wrote it, and
the formula joining the model's probability, the text layer and the business rules."""

from __future__ import annotations

import json
import math

import pytest

from pipeline.extract.prompt import RequestBuilder, build_prompt
from pipeline.grounding import MatchQuality, PageText, Word, field_confidence, locate_fields
from pipeline.grounding.answer import AnswerNotJSON, token_spans, value_probabilities, value_spans
from pipeline.grounding.record import match_confidence
from pipeline.output.recorder import rule_warning_count
from pipeline.records import WarningRecord
from schemas import BUILTIN_SCHEMAS


def _written(text: str) -> dict[str, str]:
    return {path: text[start:end] for path, (start, end) in value_spans(text).items()}


def test_spans_of_nested_objects_and_lists_use_the_fields_table_paths() -> None:
    text = '{"seller":{"name":"ACME"},"line_items":[{"qty":2},{"qty":3,"tags":["a","b"]}]}'
    assert _written(text) == {
        "seller.name": "ACME",
        "line_items[0].qty": "2",
        "line_items[1].qty": "3",
        "line_items[1].tags[0]": "a",
        "line_items[1].tags[1]": "b",
    }


def test_spans_of_escapes_numbers_null_booleans_and_unicode() -> None:
    text = (
        '{ "quote": "say \\"hi\\"\\n", "slash": "a\\\\", "u": "\\u00e9t\\u00e9", "n": -12.5e-3,'
        ' "zero": 0, "none": null, "yes": true, "no": false, "empty": "", "cjk": "上海市",'
        ' "euro": "1 234,56 €", "in\\"key": 1, "deep": {"list": [], "obj": {}} }'
    )
    written = _written(text)
    assert written == {
        "quote": 'say \\"hi\\"\\n',
        "slash": "a\\\\",
        "u": "\\u00e9t\\u00e9",
        "n": "-12.5e-3",
        "zero": "0",
        "none": "null",
        "yes": "true",
        "no": "false",
        "empty": '""',  # no characters between the quotes: the quotes stand for the value
        "cjk": "上海市",
        "euro": "1 234,56 €",
        'in"key': "1",
    }
    # The strings are the JSON's own: the scanner agrees with json.loads on every value.
    loaded = json.loads(text)
    for path in ("quote", "slash", "u", "cjk", "euro"):
        assert json.loads(f'"{written[path]}"') == loaded[path]


@pytest.mark.parametrize("text", ['{"a": 1', '{"a" 1}', "[1, 2,]", '{"a": tru}', "{} {}", ""])
def test_text_that_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(AnswerNotJSON):
        value_spans(text)


def test_tokens_are_placed_on_the_characters_they_wrote() -> None:
    text = '{"e":"Straße €"}'
    tokens = ['{"', "e", '":"', "Stra", "\ufffd", "\ufffd", "e", " ", "\ufffd", "\ufffd", '"}',
              "<|im_end|>"]  # fmt: skip
    spans = token_spans(tokens, text)
    assert [text[a:b] for a, b in spans] == [
        '{"', "e", '":"', "Stra", "ß", "ß", "e", " ", "€", "€", '"}', ""
    ]
    assert spans[-1] == (len(text), len(text))  # the end-of-answer token writes nothing


def test_a_value_takes_the_probability_of_its_least_sure_token() -> None:
    text = '{"total":"1234.56","name":"ACME","note":null}'
    tokens = ['{"', "total", '":"', "12", "34", ".", "56", '","', "name", '":"', "AC", "ME",
              '","', "note", '":', "null", "}"]  # fmt: skip
    logprobs = [0.0] * len(tokens)
    logprobs[4] = math.log(0.4)  # "34": one doubtful digit
    logprobs[3] = math.log(0.9)
    logprobs[10] = math.log(0.7)
    logprobs[14] = math.log(0.1)  # '":' is structure around "note", not its value
    found = value_probabilities(text, tokens, logprobs)
    assert found == pytest.approx({"total": 0.4, "name": 0.7, "note": 1.0})


def test_without_logprobs_or_json_there_are_no_probabilities() -> None:
    assert value_probabilities('{"a":1}', None, None) == {}
    assert value_probabilities('{"a":1}', ["{", '"a":1}'], [0.0]) == {}  # lengths disagree
    assert value_probabilities("not json", ["not json"], [-1.0]) == {}


def test_confidence_is_the_product_of_agreement_model_and_rules() -> None:
    exact = MatchQuality.exact
    # Without log-probabilities and rule warnings: today's match confidence, unchanged.
    for quality in MatchQuality:
        for rivals, decided in ((0, False), (2, False), (2, True)):
            assert field_confidence(quality, rivals, decided) == match_confidence(
                quality, rivals, decided
            )
    assert field_confidence(exact, model_probability=0.5) == 0.5
    assert field_confidence(MatchQuality.normalised, 1, True, 0.5) == round(0.9 * 0.8 * 0.5, 4)
    assert field_confidence(exact, rule_warnings=1) == 0.8
    assert field_confidence(exact, rule_warnings=2) == 0.64
    assert field_confidence(exact, rule_warnings=3) == field_confidence(exact, rule_warnings=9)
    assert field_confidence(MatchQuality.none, model_probability=1.0) == 0.0
    # A value read from an e-invoice's XML is the document itself.
    assert field_confidence(MatchQuality.none, 3, False, 0.1, 5, from_xml=True) == 1.0


def test_only_business_rule_warnings_count() -> None:
    warnings = [WarningRecord("repaired", "xref"), WarningRecord("needs_review", "x"),
                WarningRecord("invoice.totals_mismatch", "net + tax"),
                WarningRecord("invoice.iban", "check digits")]  # fmt: skip
    assert rule_warning_count(warnings) == 2


def _page(*words: tuple[str, float, float]) -> PageText:
    return PageText(1, 595, 842, tuple(
        Word(text, x, y, x + 8 * len(text), y + 10, 0, k) for k, (text, x, y) in enumerate(words)
    ))  # fmt: skip


def test_the_locator_weighs_the_model_and_the_rules() -> None:
    invoice = BUILTIN_SCHEMAS["invoice"].model_validate({
        "invoice_number": "RE-77", "kind": "invoice", "issue_date": "2024-06-17",
        "currency": "EUR", "seller": {"name": "Lindenhof"}, "buyer": {"name": "Sonnfeld"},
        "line_items": [], "net_total": "1000.00", "tax_total": "234.56",
        "grand_total": "1234.56",
    })  # fmt: skip
    page = _page(("Lindenhof", 50, 60), ("RE-77", 350, 60), ("Sonnfeld", 50, 200),
                 ("1234,56", 480, 428))  # fmt: skip
    plain = {g.path: g for g in locate_fields(invoice, [page], (1,))}
    weighed = {
        g.path: g
        for g in locate_fields(
            invoice, [page], (1,), model_probabilities={"grand_total": 0.5}, rule_warnings=1
        )
    }
    assert plain["grand_total"].confidence == 0.9  # "1234,56": normalised
    assert weighed["grand_total"].confidence == round(0.9 * 0.5 * 0.8, 4)
    number = plain["invoice_number"].confidence
    assert weighed["invoice_number"].confidence == round(number * 0.8, 4) > 0
    assert weighed["net_total"].confidence == 0.0  # not printed: nothing to agree with
    xml = locate_fields(
        invoice, [page], (), from_xml=True, model_probabilities={"grand_total": 0.1},
        rule_warnings=3,
    )  # fmt: skip
    assert {g.confidence for g in xml if g.value is not None} == {1.0}


def test_requests_ask_for_logprobs_only_when_the_builder_is_told(tmp_path) -> None:
    from pipeline.engines.base import SamplingConfig
    from pipeline.extract.catalog import resolve_schema
    from pipeline.items import WorkItem
    from pipeline.records import FileKind, SourceFile
    from tests.fixtures_model import make_pages

    template = build_prompt(resolve_schema("invoice"))
    source = SourceFile(tmp_path / "a.pdf", "0" * 64, 8, FileKind.PDF)
    item = WorkItem("a", source, 1, make_pages("a", ((64, 64),)), None)
    plain = RequestBuilder(template, template.json_schema, 64, 0)(item)
    asked = RequestBuilder(template, template.json_schema, 64, 0, logprobs=True)(item)
    assert (plain.logprobs, asked.logprobs) == (False, True)
    assert plain.sampling == asked.sampling == SamplingConfig(64, 0.0, 1.0, 0)


def test_the_null_engine_gives_its_answer_probability_one_when_asked() -> None:
    import dataclasses

    from pipeline.engines.base import EngineRequest, EngineResult
    from pipeline.engines.null import NULL_LOGPROB, answer_minimally

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    plain = EngineRequest("r", "s", "p", (), "x", schema)
    unasked = answer_minimally(plain)
    asked = answer_minimally(dataclasses.replace(plain, logprobs=True))
    assert isinstance(unasked, EngineResult) and isinstance(asked, EngineResult)
    assert unasked.logprobs is None and unasked.tokens is None
    assert NULL_LOGPROB == 0.0
    assert (asked.logprobs, asked.tokens) == ((NULL_LOGPROB,), (asked.text,))
    assert value_probabilities(asked.text, asked.tokens, asked.logprobs) == {"a": 1.0}
