"""The null engine (minimal schema-valid answers) and the simulated GPU built on it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from enum import StrEnum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from pipeline.engines.base import EngineFailure, EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.null import (
    NullEngine,
    build_minimal_instance,
    estimate_prompt_tokens,
    example_for_pattern,
)
from pipeline.engines.simulated import SimulatedEngine
from tests.fixtures_model import make_pages


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    sku: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d{4}$")]
    qty: Annotated[int, Field(ge=1, le=5)]
    weight: Annotated[float, Field(gt=2.5, lt=3.0)]


class Order(BaseModel):
    """Required and optional fields, refs, enums, bounds, dates, nested lists."""

    order_id: Annotated[str, Field(pattern=r"^(PO|SO)_[0-9a-f]{6}$")]
    placed: dt.date
    colour: Colour
    mode: Literal["air", "sea"]
    count: Annotated[int, Field(ge=10)]
    discount: Annotated[float, Field(le=-1)]
    lines: Annotated[list[Item], Field(min_length=2)]
    tags: list[str]
    note: str | None
    name: Annotated[str, Field(min_length=3)]
    memo: str = "none"


def _request(schema: dict, pages=(), request_id: str = "r") -> EngineRequest:
    return EngineRequest(request_id, "system", "prefix " * 40, tuple(pages), "suffix", schema,
                         SamplingConfig())


def test_minimal_instance_validates_against_the_model():
    instance = build_minimal_instance(Order.model_json_schema())
    order = Order.model_validate(instance)
    assert "memo" not in instance  # only required fields
    assert len(order.lines) == 2 and order.tags == [] and order.note is None
    assert order.count == 10 and order.discount == -1 and order.placed == dt.date(2000, 1, 1)
    assert 2.5 < order.lines[0].weight < 3.0 and order.lines[0].qty == 1
    assert order.colour is Colour.RED and order.mode == "air"


@pytest.mark.parametrize("pattern", [
    r"^[a-z]{1,8}$", r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", r"^(?:DE|FR)\d{9}$",
    r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", r"^\w+\s\w+$", r"^X?Y+Z*$", r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$",
])
def test_pattern_examples_match(pattern):
    assert re.search(pattern, example_for_pattern(pattern))


def test_unsatisfiable_schema_fails_that_request_only():
    good = _request({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
    bad = _request({"type": "integer", "minimum": 5, "maximum": 4}, request_id="bad")
    outcomes = asyncio.run(NullEngine().generate([good, bad]))
    assert isinstance(outcomes[0], EngineResult) and json.loads(outcomes[0].text) == {"a": 0}
    assert isinstance(outcomes[1], EngineFailure) and outcomes[1].request_id == "bad"


def test_builtin_invoice_answer_passes_validation():
    schemas = pytest.importorskip("schemas")
    engine_schema = pytest.importorskip("pipeline.extract.engine_schema")
    validate = pytest.importorskip("pipeline.extract.validate")
    model = schemas.BUILTIN_SCHEMAS["invoice"]
    request = _request(engine_schema.engine_json_schema(model))
    outcome = asyncio.run(NullEngine().generate([request]))[0]
    assert isinstance(outcome, EngineResult)
    verdict = validate.validate_answer(outcome.text, model, outcome.finish_reason)
    assert verdict.error_code is None, verdict.message


class _Recording(NullEngine):
    """The null engine, keeping every request it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[EngineRequest] = []

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        self.seen.extend(requests)
        return await super().generate(requests)


def test_three_pages_arrive_as_one_request_and_tokens_are_estimated():
    pages = make_pages("d", ((64, 64), (96, 64), (64, 128)))
    engine = _Recording()
    request = _request(Order.model_json_schema(), pages)
    outcome = asyncio.run(engine.generate([request]))[0]
    assert [p.index for p in engine.seen[0].images] == [0, 1, 2]
    assert isinstance(outcome, EngineResult)
    visual = 4 + 6 + 8  # one token per 32x32 pixels
    assert outcome.prompt_tokens == estimate_prompt_tokens(request) > visual
    assert outcome.completion_tokens > 0


def test_simulated_engine_bounds_concurrency_and_measures_full_batches():
    engine = SimulatedEngine(latency_s=0.05, max_batch=4)
    requests = [_request({"type": "string"}, request_id=f"r{i}") for i in range(12)]

    async def run_and_watch() -> tuple[list, int]:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, engine._active)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        outcomes = await engine.generate(requests)
        watcher.cancel()
        return outcomes, peak

    started = time.perf_counter()
    outcomes, peak = asyncio.run(run_and_watch())
    elapsed = time.perf_counter() - started
    assert [o.request_id for o in outcomes] == [f"r{i}" for i in range(12)]
    assert all(isinstance(o, EngineResult) and o.text == '"a"' for o in outcomes)
    assert peak == 4 and engine.served == 12
    assert 0.14 <= elapsed < 0.6  # three waves of 0.05 s
    assert engine.full_batch_fraction() > 0.85


def test_simulated_engine_underfed_is_not_full():
    engine = SimulatedEngine(latency_s=0.03, max_batch=4)

    async def trickle() -> None:
        for i in range(4):  # two at a time: never four in flight
            await engine.generate([_request({"type": "null"}, request_id=f"{i}a"),
                                   _request({"type": "null"}, request_id=f"{i}b")])

    asyncio.run(trickle())
    assert engine.full_batch_fraction() == 0.0
    assert engine.served == 8


def test_simulated_engine_receives_three_pages():
    pages = make_pages("s", ((64, 64), (64, 96), (96, 64)))
    engine = SimulatedEngine(latency_s=0.0, max_batch=2, per_token_s=0.001)
    outcome = asyncio.run(engine.generate([_request({"type": "boolean"}, pages)]))[0]
    assert isinstance(outcome, EngineResult) and outcome.text == "false"
    assert engine.images_per_request == [3]


@pytest.mark.parametrize("name", ["invoice", "receipt", "cn_vat_invoice", "id_card",
                                  "bank_statement", "medical_invoice", "property_certificate"])
def test_null_answers_satisfy_each_builtin_schemas_rules(name):
    """A dry run passes validation and the business rules of every built-in schema (no
    warnings either): the answer is the schema's declared example, or the minimal instance."""
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.prompt import build_prompt, build_request
    from pipeline.extract.validate import validate_answer

    spec = resolve_schema(name)
    template = build_prompt(spec)
    pages = make_pages("d", ((64, 64),))
    request = build_request(template, pages, template.json_schema, SamplingConfig(), "r")
    [outcome] = asyncio.run(NullEngine().generate([request]))
    assert isinstance(outcome, EngineResult)
    result = validate_answer(outcome.text, spec.model)
    assert result.ok, result.message
    assert not [w for w in result.warnings if w.severity == "error"], result.warnings


def test_a_declared_example_is_answered_and_the_minimal_instance_otherwise():
    class Declared(BaseModel):
        model_config = {"json_schema_extra": {"examples": [{"code": "B7"}]}}
        code: str = Field(pattern=r"^[A-Z]\d$")

    from pipeline.extract.prompt import schema_example

    example = schema_example(Declared)
    assert example == {"code": "B7"}
    schema = Declared.model_json_schema()
    with_example = EngineRequest("r", "s", "p", (), "x", schema, example=example)
    [answered] = asyncio.run(NullEngine().generate([with_example]))
    assert json.loads(answered.text) == {"code": "B7"}
    [minimal] = asyncio.run(NullEngine().generate([_request(schema)]))
    assert json.loads(minimal.text) == {"code": "A1"}
