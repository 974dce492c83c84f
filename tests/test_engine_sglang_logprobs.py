"""Log-probabilities from the SGLang adapter: asked for only when a request wants them, read
from the output as sglang writes it (checked against each supported release's source)."""

from __future__ import annotations

import asyncio
import math

import pytest

from pipeline.config import EngineConfig
from pipeline.engines.base import EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.sglang import GENERATE_KWARGS, SGLangEngine
from pipeline.engines.sglang_outputs import map_output, read_logprobs
from pipeline.grounding.answer import value_probabilities, value_spans
from tests.fixtures_model import make_pages
from tests.sglang_contract import read_output_logprob_entry, read_server_arg_fields
from tests.test_engine_sglang import SCHEMA, FakeSGLangEngine


class KeywordRecorder(FakeSGLangEngine):
    """The stand-in, noting the keyword names each call passes; the parent's exact
    signature still refuses any name the real `async_generate` lacks."""

    keywords: list[list[str]] = []

    async def async_generate(self, **kwargs):  # type: ignore[no-untyped-def, override]
        KeywordRecorder.keywords.append(sorted(kwargs))
        return await super().async_generate(**kwargs)


@pytest.fixture(scope="module")
def processor(tiny_model_dir):  # type: ignore[no-untyped-def]
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture
def started(sglang_source_dir, processor):  # type: ignore[no-untyped-def]
    KeywordRecorder.server_fields = read_server_arg_fields(sglang_source_dir)
    KeywordRecorder.keywords = []
    KeywordRecorder.tokenizer = processor.tokenizer
    engine = SGLangEngine(EngineConfig(), engine_factory=KeywordRecorder, processor=processor,
                          gpu_count=1, hf_config={})  # fmt: skip
    engine.start()
    yield engine
    engine.close()


def _request(request_id: str, logprobs: bool) -> EngineRequest:
    return EngineRequest(request_id, "You read documents.", "Extract.",
                         make_pages(request_id, ((64, 64),)), "JSON:", SCHEMA,
                         SamplingConfig(max_new_tokens=77), logprobs=logprobs)  # fmt: skip


def test_without_grounding_sglang_is_not_asked_for_logprobs(started) -> None:  # type: ignore[no-untyped-def]
    outcome = asyncio.run(started.generate([_request("plain", logprobs=False)]))[0]
    assert KeywordRecorder.keywords == [["image_data", "mm_hashes", "prompt", "sampling_params"]]
    assert isinstance(outcome, EngineResult)
    assert outcome.logprobs is None and outcome.tokens is None


def test_with_logprobs_asked_each_answer_token_comes_back_with_its_text(started) -> None:  # type: ignore[no-untyped-def]
    outcome = asyncio.run(started.generate([_request("asked", logprobs=True)]))[0]
    assert KeywordRecorder.keywords == [
        ["image_data", "mm_hashes", "prompt", "return_logprob", "sampling_params"]
    ]
    assert started.backend.calls[0]["return_logprob"] is True
    assert isinstance(outcome, EngineResult)
    assert outcome.logprobs is not None and outcome.tokens is not None
    assert len(outcome.logprobs) == len(outcome.tokens) == outcome.completion_tokens
    assert all(math.isfinite(v) and v <= 0 for v in outcome.logprobs)
    # The tokens decoded one by one write the answer, then the end-of-answer token.
    assert "".join(outcome.tokens[:-1]) == outcome.text
    assert outcome.tokens[-1] == "<|im_end|>"
    found = value_probabilities(outcome.text, outcome.tokens, outcome.logprobs)
    assert set(found) == set(value_spans(outcome.text)) == {"code"}
    assert 0 < found["code"] <= 1


def test_return_logprob_is_a_keyword_of_each_release_and_the_entry_shape_is_read(
    sglang_source_dir,
) -> None:  # type: ignore[no-untyped-def]
    assert "return_logprob" in GENERATE_KWARGS  # so the contract tests check it per release
    assert read_output_logprob_entry(sglang_source_dir) == ["logprob", "token_id", "None"]


def _output(entries: list[tuple[object, ...]] | None) -> dict[str, object]:
    meta: dict[str, object] = {"finish_reason": {"type": "stop"}, "prompt_tokens": 9,
                               "completion_tokens": 3, "e2e_latency": 0.1}  # fmt: skip
    if entries is not None:
        meta["output_token_logprobs"] = entries
    return {"text": '{"a":1}', "output_ids": [7, 8, 9], "meta_info": meta}


def test_the_output_mapping_reads_sglangs_logprob_entries() -> None:
    decoded: list[list[int]] = []

    def texts(ids: list[int]) -> list[str]:
        decoded.append(ids)
        return [{7: '{"a', 8: '":1', 9: "}"}[i] for i in ids]

    entries = [(-0.1, 7, None), (-0.7, 8, None), (0.0, 9, None)]
    result = map_output("r", _output(entries), 0.2, texts)
    assert isinstance(result, EngineResult)
    assert result.logprobs == (-0.1, -0.7, 0.0)
    assert result.tokens == ('{"a', '":1', "}")
    assert decoded == [[7, 8, 9]]
    # Token texts sglang already wrote (return_text_in_logprobs) are taken as they are.
    written = [(-0.1, 7, "A"), (-0.7, 8, "B"), (0.0, 9, "C")]
    assert read_logprobs({"output_token_logprobs": written}, texts) == (
        (-0.1, -0.7, 0.0), ("A", "B", "C")
    )
    assert decoded == [[7, 8, 9]]  # not decoded again
    # No decoder (the request did not ask), no entries, or a broken entry: no logprobs.
    assert map_output("r", _output(entries), 0.2).logprobs is None  # type: ignore[union-attr]
    assert map_output("r", _output(None), 0.2, texts).logprobs is None  # type: ignore[union-attr]
    broken = [(None, 7, None), (-0.7, 8, None)]
    assert map_output("r", _output(broken), 0.2, texts).logprobs is None  # type: ignore[union-attr]
