"""The answer lengths the GPU bench sets max_new_tokens from (benchmarks/answer_length.py)."""

from __future__ import annotations

import json

import pytest

from benchmarks.answer_length import TRUTH, answer_lengths, answer_text

SCHEMA = {
    "type": "object",
    "properties": {
        "number": {"type": "string"},
        "total": {"type": "number"},
        "rate": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
    },
    "$defs": {"Line": {"type": "object", "properties": {"amount": {"type": "number"},
                                                         "note": {"type": "string"}}}},
}  # fmt: skip


def test_an_answer_is_json_as_sglang_writes_it_in_schema_order_with_amounts_as_numbers():
    truth = {"lines": [{"note": "Kaffee 1,50", "amount": "1.50"}], "rate": None,
             "total": "1234.50", "number": "0042"}  # fmt: skip
    text = answer_text(truth, SCHEMA)
    assert text == (
        '{"number": "0042", "total": 1234.50, "rate": null, '
        '"lines": [{"amount": 1.50, "note": "Kaffee 1,50"}]}'
    )
    assert json.loads(text)["total"] == 1234.5
    compact = answer_text(truth, SCHEMA, separators=(",", ":"))
    assert compact.startswith('{"number":"0042","total":1234.50,')
    assert json.loads(compact) == json.loads(text)


def test_the_answer_as_sglang_writes_it_is_what_its_grammar_accepts():
    """xgrammar with any_whitespace off (as sglang runs it) takes the answer with the default
    separators, and refuses the compact one at its first key."""
    xgrammar = pytest.importorskip("xgrammar")
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from benchmarks.qwen3_vl_full import qwen_tokenizer_files

    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_files())
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
    compiled = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(SCHEMA), any_whitespace=False
    )
    truth = {"lines": [], "rate": None, "total": "2.00", "number": "7"}

    def accepted(text: str) -> bool:
        matcher = xgrammar.GrammarMatcher(compiled)
        return all(matcher.accept_token(t) for t in tokenizer(text).input_ids)

    assert accepted(answer_text(truth, SCHEMA))
    assert not accepted(answer_text(truth, SCHEMA, separators=(",", ":")))


def test_every_example_answer_is_measured_in_qwen3_tokens():
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from benchmarks.qwen3_vl_full import qwen_tokenizer_files

    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_files())
    lengths = answer_lengths(tokenizer)
    assert set(lengths) == {f"{p.parent.name}/{p.stem}" for p in TRUTH.glob("*/*.json")}
    # the 20-line invoice is the longest answer, the ID card the shortest
    assert max(lengths, key=lengths.get) == "invoice/de_multipage_invoice"
    assert min(lengths, key=lengths.get) == "id_card/id_card_specimen"
    text = answer_text(json.loads((TRUTH / "id_card" / "id_card_specimen.json").read_text()),
                       _engine_schema("id_card"))  # fmt: skip
    assert lengths["id_card/id_card_specimen"] == len(tokenizer(text).input_ids) + 1


def _engine_schema(name: str) -> dict:
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema

    return engine_json_schema(resolve_schema(name).model)
