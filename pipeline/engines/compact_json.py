"""The engine JSON schema as a grammar whose JSON has no whitespace at all (opt-in, sglang).

sglang hands a request's `json_schema` to xgrammar with `any_whitespace=False`, and xgrammar
then joins items and keys with ", " and ": ". Those two spaces are about a sixth of an answer's
tokens in Qwen3's tokenizer (the bundled examples' true answers: median 390 tokens so, 324
compact; `benchmarks/answer_length.py`). sglang offers no setting for the separators, but it
takes an EBNF grammar (`ebnf`) in place of the schema: xgrammar's own translation of the same
schema with "," and ":" is that grammar. The JSON it allows is the schema's, whitespace aside.
"""

from __future__ import annotations

import functools

COMPACT_SEPARATORS = (",", ":")


@functools.lru_cache(maxsize=64)
def compact_json_grammar(schema_json: str) -> str:
    """The EBNF text of `schema_json` (a JSON schema, as sent to the engine) with no whitespace
    between tokens, translated by xgrammar (the release the engine itself runs, so that it
    reads the grammar as it was written)."""
    import xgrammar

    grammar = xgrammar.Grammar.from_json_schema(
        schema_json, any_whitespace=False, separators=COMPACT_SEPARATORS, strict_mode=True
    )
    return str(grammar)
