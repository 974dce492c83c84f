"""The transformers engine on the tiny real Qwen3-VL-MoE model, constrained by xgrammar."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import EngineConfig, TransformersConfig
from pipeline.engines.base import EngineFailure, EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.transformers import TransformersEngine
from pipeline.errors import ErrorCode
from tests.fixtures_model import make_pages

pytest.importorskip("torch")
pytest.importorskip("xgrammar")


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(pattern=r"^[a-z]{1,6}$")]
    amount: Annotated[int, Field(ge=0, le=999)]


class Bounded(BaseModel):
    """A schema random weights can finish: bounded strings, numbers and lists."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=r"^[a-z]{1,8}$")]
    score: Annotated[float, Field(ge=0, le=10)]
    flag: bool
    lines: Annotated[list[Line], Field(max_length=2)]


SCHEMA = Bounded.model_json_schema()

SIZES = [((64, 64),), ((96, 64), (64, 96)), ((128, 96), (64, 64), (96, 96)),
         ((64, 128),), ((96, 64), (128, 64))]


def _request(request_id: str, pages, schema=SCHEMA, max_new_tokens: int = 160) -> EngineRequest:
    return EngineRequest(
        request_id=request_id,
        system="You extract data.",
        prefix="Return the fields as JSON.",
        images=pages,
        suffix="JSON only.",
        json_schema=schema,
        sampling=SamplingConfig(max_new_tokens=max_new_tokens),
    )


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    config = EngineConfig(
        name="transformers", model=str(tiny_model_dir),
        transformers=TransformersConfig(device="cpu", batch_size=3),
    )
    engine = TransformersEngine(config)
    engine.start()
    yield engine
    engine.close()


def test_five_documents_give_schema_valid_answers(engine):
    requests = [_request(f"doc{i}", make_pages(f"doc{i}", sizes)) for i, sizes in enumerate(SIZES)]
    outcomes = asyncio.run(engine.generate(requests))
    assert [o.request_id for o in outcomes] == [r.request_id for r in requests]
    for outcome in outcomes:
        assert isinstance(outcome, EngineResult), outcome
        assert outcome.finish_reason == "stop"
        instance = Bounded.model_validate(json.loads(outcome.text))
        assert 0 <= instance.score <= 10
        assert outcome.prompt_tokens > 0 and outcome.completion_tokens > 0
    # More pages mean more visual tokens in the prompt.
    assert outcomes[2].prompt_tokens > outcomes[0].prompt_tokens


def test_three_pages_become_three_images_in_page_order(engine, tiny_model_dir):
    pages = make_pages("three", ((64, 64), (128, 64), (64, 96)))
    inputs = engine.build_inputs([_request("three", pages)])
    grid = inputs["image_grid_thw"].tolist()
    # One row per page, in page order: (temporal, height/16, width/16).
    assert grid == [[1, p.height // 16, p.width // 16] for p in pages]
    tokenizer = engine._loaded.processor.tokenizer
    ids = inputs["input_ids"][0].tolist()
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    vision_start = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert ids.count(vision_start) == 3
    assert ids.count(image_pad) == sum(p.visual_tokens for p in pages)


def test_short_token_budget_reports_length(engine):
    outcome = asyncio.run(engine.generate([_request("short", make_pages("s", ((64, 64),)),
                                                    max_new_tokens=3)]))[0]
    assert isinstance(outcome, EngineResult)
    assert outcome.finish_reason == "length"
    assert outcome.completion_tokens == 3
    with pytest.raises(json.JSONDecodeError):
        json.loads(outcome.text)


def test_a_bad_request_fails_alone(engine):
    good = _request("good", make_pages("g", ((64, 64),)))
    bad = _request("bad", make_pages("b", ((64, 64),)), schema={"type": "no-such-type"})
    outcomes = asyncio.run(engine.generate([good, bad]))
    assert isinstance(outcomes[0], EngineResult)
    Bounded.model_validate_json(outcomes[0].text)
    assert isinstance(outcomes[1], EngineFailure)
    assert outcomes[1].code == ErrorCode.ENGINE_ERROR and outcomes[1].request_id == "bad"


def test_generate_keeps_the_event_loop_free(engine):
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await engine.generate([_request("loop", make_pages("l", ((96, 96),)))])
        ticker.cancel()
        return ticks

    assert asyncio.run(main()) > 3


def test_close_is_idempotent(tiny_model_dir):
    engine = TransformersEngine(EngineConfig(model=str(tiny_model_dir)))
    engine.start()
    engine.close()
    engine.close()
    assert engine.max_in_flight == engine.preferred_batch * 2


def test_requests_with_different_sampling_are_decoded_apart(engine, monkeypatch):
    batches: list[list[float]] = []
    real = engine._generate_isolated

    def spy(requests):
        batches.append([r.sampling.temperature for r in requests])
        return real(requests)

    monkeypatch.setattr(engine, "_generate_isolated", spy)
    greedy = [_request(f"g{i}", make_pages(f"g{i}", ((64, 64),))) for i in range(2)]
    warm = dataclasses.replace(
        _request("w", make_pages("w", ((64, 64),))),
        sampling=SamplingConfig(max_new_tokens=160, temperature=0.6, seed=1),
    )
    outcomes = asyncio.run(engine.generate([greedy[0], warm, greedy[1]]))
    assert [o.request_id for o in outcomes] == ["g0", "w", "g1"]
    assert sorted(batches) == [[0.0, 0.0], [0.6]]
    for outcome in outcomes:
        assert isinstance(outcome, EngineResult)
        Bounded.model_validate_json(outcome.text)


def test_logprobs_come_with_the_answer_tokens_only_when_asked(engine):
    from pipeline.grounding.answer import value_probabilities, value_spans

    asked = dataclasses.replace(_request("asked", make_pages("a", ((64, 64),))), logprobs=True)
    plain = _request("plain", make_pages("p", ((96, 64),)))
    outcomes = asyncio.run(engine.generate([asked, plain]))  # one batch: one asks, one not
    scored, unscored = outcomes
    assert isinstance(scored, EngineResult) and isinstance(unscored, EngineResult)
    assert scored.finish_reason == "stop"
    Bounded.model_validate_json(scored.text)
    assert unscored.logprobs is None and unscored.tokens is None
    assert scored.logprobs is not None and scored.tokens is not None
    # One per token of the text: the answer's tokens, without the stop token.
    assert len(scored.logprobs) == len(scored.tokens) == scored.completion_tokens - 1
    assert all(math.isfinite(v) and v <= 0.0 for v in scored.logprobs)
    assert "".join(scored.tokens) == scored.text
    found = value_probabilities(scored.text, scored.tokens, scored.logprobs)
    assert set(found) == set(value_spans(scored.text)) and "score" in found
    assert all(0.0 < p <= 1.0 for p in found.values())
