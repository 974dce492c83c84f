"""Every built-in schema, as docextract sends it, through the real sglang Engine: one request
each on the tiny model, one JSON line each on stdout.

    python -m tests.gpu.schema_grammars MODEL

sglang 0.5.17 has no schema pre-check (0.5.23's runs on CPU in
tests/test_engine_schema_precheck.py): xgrammar compiles each grammar when its request arrives,
and a grammar it cannot compile fails that request. Run it in a process of its own: a scheduler
that dies takes its caller with it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pipeline.config import EngineConfig, SGLangConfig
from pipeline.engines.base import EngineOutcome, EngineResult, SamplingConfig
from pipeline.engines.sglang import SGLangEngine
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from pipeline.extract.prompt import build_prompt, build_request
from schemas import BUILTIN_SCHEMAS
from tests.fixtures_model import make_pages
from tests.gpu.conftest import KV_POOL_TOKENS, MEM_FRACTION

ANSWER_TOKENS = 16
"""Enough for the grammar to be compiled and followed; random weights would run to any cap."""


def outcome_line(schema: str, outcome: EngineOutcome) -> dict[str, Any]:
    if isinstance(outcome, EngineResult):
        return {"schema": schema, "answered": True, "finish_reason": outcome.finish_reason,
                "completion_tokens": outcome.completion_tokens, "text": outcome.text}  # fmt: skip
    return {"schema": schema, "answered": False, "code": str(outcome.code),
            "message": outcome.message}  # fmt: skip


def engine_config(model: str) -> EngineConfig:
    """The GPU suite's tiny-model settings (tests/gpu/conftest.py `write_config`)."""
    return EngineConfig(
        name="sglang",
        model=model,
        max_new_tokens=ANSWER_TOKENS,
        sglang=SGLangConfig(
            load_format="dummy", context_length=8192, mem_fraction_static=MEM_FRACTION,
            extra_args={"disable_cuda_graph": True, "max_total_tokens": KV_POOL_TOKENS},
        ),  # fmt: skip
    )


def ask_every_schema(engine: SGLangEngine) -> list[dict[str, Any]]:
    """Start `engine`, send it one one-page request per built-in schema (the engine schema and
    prompt a run sends), close it; one `outcome_line` per schema, in BUILTIN_SCHEMAS order."""
    sampling = SamplingConfig(max_new_tokens=ANSWER_TOKENS)
    pages = make_pages("schemas", ((256, 320),))
    requests = []
    for name in BUILTIN_SCHEMAS:
        spec = resolve_schema(name)
        schema = engine_json_schema(spec.model)
        requests.append(build_request(build_prompt(spec), pages, schema, sampling, name))
    engine.start()
    try:
        loop = engine.event_loop
        assert loop is not None
        outcomes = loop.run_until_complete(engine.generate(requests))
    finally:
        engine.close()
    return [
        outcome_line(request.request_id, outcome)
        for request, outcome in zip(requests, outcomes, strict=True)
    ]


def main(model: str) -> int:
    for line in ask_every_schema(SGLangEngine(engine_config(model))):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
