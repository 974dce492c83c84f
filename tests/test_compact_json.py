"""`[engine.sglang] compact_json`: the schema sent to sglang as the grammar of its JSON with no
whitespace. Checked with the real xgrammar and Qwen3's tokenizer on every bundled example's
true answer: the grammar takes the compact answer, refuses the one with sglang's default
separators, and the compact answers are shorter."""

from __future__ import annotations

import json

import pytest

from benchmarks.answer_length import TRUTH, answer_text
from pipeline.engines.base import EngineRequest, SamplingConfig
from pipeline.engines.compact_json import COMPACT_SEPARATORS, compact_json_grammar
from pipeline.engines.sglang import SAMPLING_KEYS, build_sampling_params
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.engine_schema import engine_json_schema

xgrammar = pytest.importorskip("xgrammar")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def grammar_tools():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from benchmarks.qwen3_vl_full import qwen_tokenizer_files

    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_files())
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
    return tokenizer, xgrammar.GrammarCompiler(info)


def _accepts(compiled, tokenizer, text: str) -> bool:  # type: ignore[no-untyped-def]
    matcher = xgrammar.GrammarMatcher(compiled)
    return all(matcher.accept_token(t) for t in tokenizer(text).input_ids) and (
        matcher.is_terminated() or matcher.accept_token(tokenizer.eos_token_id)
    )


def test_the_compact_grammar_takes_every_true_answer_compact_and_only_so(grammar_tools):
    tokenizer, compiler = grammar_tools
    compact_tokens = spaced_tokens = 0
    for folder in sorted(p for p in TRUTH.iterdir() if p.is_dir()):
        schema = engine_json_schema(resolve_schema(folder.name).model)
        grammar = compact_json_grammar(json.dumps(schema, separators=(",", ":")))
        compiled = compiler.compile_grammar(grammar)
        for path in sorted(folder.glob("*.json")):
            truth = json.loads(path.read_text(encoding="utf-8"))
            compact = answer_text(truth, schema, COMPACT_SEPARATORS)
            spaced = answer_text(truth, schema)
            assert _accepts(compiled, tokenizer, compact), path.name
            assert not _accepts(compiled, tokenizer, spaced), path.name
            compact_tokens += len(tokenizer(compact).input_ids)
            spaced_tokens += len(tokenizer(spaced).input_ids)
    print(f"answer tokens: {compact_tokens} compact, {spaced_tokens} with ', ' and ': '")
    assert compact_tokens < 0.9 * spaced_tokens


def test_compact_sends_the_grammar_in_place_of_the_schema():
    schema = {"type": "object", "properties": {"code": {"type": "string"}},
              "required": ["code"], "additionalProperties": False}  # fmt: skip
    request = EngineRequest("r", "s", "p", (), "", schema, SamplingConfig(max_new_tokens=9))
    plain, compact = build_sampling_params(request), build_sampling_params(request, compact=True)
    assert json.loads(plain["json_schema"]) == schema and "ebnf" not in plain
    assert "json_schema" not in compact and "root ::=" in compact["ebnf"]
    assert set(plain) | set(compact) <= set(SAMPLING_KEYS)
    assert compact["max_new_tokens"] == plain["max_new_tokens"] == 9
