"""The grammar-cost benchmark (benchmarks/grammar_cost.py): it replays every true answer through
xgrammar in Qwen3's tokenizer, and its schema variants drop only what they say."""

from __future__ import annotations

import json

import pytest

from benchmarks.answer_length import TRUTH, answer_text
from benchmarks.grammar_cost import VARIANTS, _without, grammar_cost


def test_the_variants_drop_their_keyword_and_keep_a_property_of_that_name():
    schema = {"type": "object", "properties": {
        "pattern": {"type": "string", "pattern": "^[A-Z]+$"},
        "kind": {"enum": ["a", "b"], "description": "which"},
    }}  # fmt: skip
    assert _without(schema, "pattern")["properties"] == {
        "pattern": {"type": "string"}, "kind": {"enum": ["a", "b"], "description": "which"}
    }
    assert _without(schema, "enum")["properties"]["kind"] == {"description": "which",
                                                              "type": "string"}  # fmt: skip
    assert VARIANTS["engine schema"](schema) is schema


def test_every_true_answer_of_a_schema_is_replayed_under_each_variant():
    pytest.importorskip("xgrammar")
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from benchmarks.qwen3_vl_full import qwen_tokenizer_files
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema

    rows = grammar_cost(["id_card"], rounds=1)
    assert [row["variant"] for row in rows] == list(VARIANTS)
    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_files())
    schema = engine_json_schema(resolve_schema("id_card").model)
    truths = [json.loads(p.read_text(encoding="utf-8")) for p in (TRUTH / "id_card").glob("*.json")]
    tokens = sum(len(tokenizer(answer_text(t, schema)).input_ids)
                 for t in truths)  # fmt: skip
    for row in rows:
        assert row["tokens"] == tokens
        assert 0 < row["fill_us_p50"] <= row["fill_us_p99"] <= row["fill_us_max"]
        assert row["compile_ms"] > 0 and row["accept_us_mean"] > 0
