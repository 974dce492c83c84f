"""What following the JSON schema costs the engine's host, per answer token: xgrammar's mask.

Under constrained decoding, sglang's scheduler process fills each running request's token mask
before every decode step (`fill_next_token_bitmask`, the CPU side of the grammar) and advances
its matcher after it (`accept_token`). This replays every bundled example's true answer, as the
engine writes it (sglang passes `any_whitespace=False`: items and keys joined by ", " and ": "),
token by token in Qwen3's tokenizer through a matcher of its schema's engine JSON schema, and
times both calls. Beside the engine schema, the same schema without its `pattern`s and without
its `enum`s: whether a simpler schema is cheaper to follow. Compile time is a schema's first
request only (sglang caches compiled grammars).

    python -m benchmarks.grammar_cost [SCHEMA ...] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.answer_length import TRUTH, answer_text

QWEN3_VL_VOCAB = 151936
"""Qwen3-VL's logits width: the mask covers every id, the tokenizer's and the padding."""


def _without(node: Any, keyword: str) -> Any:
    """The schema with every `keyword` constraint dropped (an enum becomes a plain string); a
    property that happens to be named `keyword` stays."""
    if isinstance(node, list):
        return [_without(item, keyword) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            kept[key] = {name: _without(sub, keyword) for name, sub in value.items()}
        elif key != keyword:
            kept[key] = _without(value, keyword)
    if keyword == "enum" and "enum" in node:
        kept["type"] = "string"
    return kept


VARIANTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "engine schema": lambda schema: schema,
    "without patterns": lambda schema: _without(schema, "pattern"),
    "without enums": lambda schema: _without(schema, "enum"),
}


def _replay(matcher_of: Callable[[], Any], answers: list[list[int]], bitmask: Any,
            rounds: int) -> tuple[list[float], list[float]]:  # fmt: skip
    """Seconds of each mask fill and each accept over `rounds` replays of every answer."""
    fills, accepts = [], []
    for _ in range(rounds):
        for ids in answers:
            matcher = matcher_of()
            for token in ids:
                started = time.perf_counter()
                matcher.fill_next_token_bitmask(bitmask)
                filled = time.perf_counter()
                if not matcher.accept_token(token):
                    raise ValueError(f"the grammar refused token {token} of a true answer")
                accepts.append(time.perf_counter() - filled)
                fills.append(filled - started)
    return fills, accepts


def grammar_cost(schemas: Iterable[str] | None = None, rounds: int = 3) -> list[dict[str, Any]]:
    """One row per schema and variant: tokens replayed, compile ms, mask fill µs (mean, p50,
    p99, max) and accept µs (mean)."""
    import xgrammar
    from transformers import AutoTokenizer

    from benchmarks.qwen3_vl_full import qwen_tokenizer_files
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema

    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_files())
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=QWEN3_VL_VOCAB)
    compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    rows = []
    for folder in sorted(p for p in TRUTH.iterdir() if p.is_dir()):
        if schemas is not None and folder.name not in schemas:
            continue
        base = engine_json_schema(resolve_schema(folder.name).model)
        truths = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
        answers = [
            tokenizer(answer_text(t, base), add_special_tokens=False).input_ids
            for t in truths
        ]
        for variant, make in VARIANTS.items():
            started = time.perf_counter()
            compiled = compiler.compile_json_schema(json.dumps(make(base)), any_whitespace=False)
            compile_ms = (time.perf_counter() - started) * 1000
            fills, accepts = _replay(
                lambda c=compiled: xgrammar.GrammarMatcher(c), answers, bitmask, rounds
            )
            fills.sort()
            rows.append({
                "schema": folder.name, "variant": variant, "tokens": sum(map(len, answers)),
                "compile_ms": round(compile_ms, 1),
                "fill_us_mean": round(statistics.mean(fills) * 1e6, 1),
                "fill_us_p50": round(fills[len(fills) // 2] * 1e6, 1),
                "fill_us_p99": round(fills[int(len(fills) * 0.99)] * 1e6, 1),
                "fill_us_max": round(fills[-1] * 1e6, 1),
                "accept_us_mean": round(statistics.mean(accepts) * 1e6, 1),
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schemas", nargs="*", help="built-in schemas (default: every one)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = grammar_cost(args.schemas or None, args.rounds)
    columns = list(rows[0]) if rows else []
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    fills = [row["fill_us_mean"] for row in rows if row["variant"] == "engine schema"]
    if fills:
        print(f"mask fill, engine schemas: {min(fills)}-{max(fills)} us a token (mean); at a "
              f"batch of 160, {160 * max(fills) / 1000:.1f} ms of one core per decode step at most")


if __name__ == "__main__":
    main()
