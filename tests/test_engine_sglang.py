"""The SGLang adapter with a stand-in for `sglang.Engine` (sglang cannot run without a GPU).

The stand-in checks its keyword arguments against the ServerArgs fields parsed from the real
sglang source, and its `async_generate` has exactly the real parameter list (a test proves it).
The prompt comes from the tiny model's real processor.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import multiprocessing
import os
import signal
import time
from dataclasses import replace

import pytest

from pipeline.config import EngineConfig, SGLangConfig
from pipeline.engines.base import EngineFailure, EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.null import build_minimal_instance
from pipeline.engines.sglang import GENERATE_KWARGS, SAMPLING_KEYS, SGLangEngine
from pipeline.engines.sglang_inputs import PageKeys, pixels_hash
from pipeline.engines.sglang_outputs import map_output
from pipeline.engines.sglang_process import engine_process_died
from pipeline.errors import EngineUnavailable, ErrorCode, RunInterrupted
from pipeline.stopping import signals_raise
from tests.fixtures_model import make_pages, sglang_source
from tests.sglang_contract import (
    SUPPORTED_SGLANG_VERSIONS,
    read_async_generate_parameters,
    read_server_arg_fields,
)

SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^[a-z]{2}$"}},
    "required": ["code"],
}


class FakeSGLangEngine:
    """Stands in for sglang.Engine: same constructor contract, same async_generate signature."""

    server_fields: set[str] = set()
    instances: list[FakeSGLangEngine] = []
    tokenizer = None  # with return_logprob: the model's tokenizer, to write the answer's tokens

    def __init__(self, **kwargs):
        unknown = set(kwargs) - self.server_fields
        if unknown:  # what ServerArgs(**kwargs) does with an unknown field
            raise TypeError(f"ServerArgs.__init__() got unexpected keyword(s) {sorted(unknown)}")
        self.kwargs = kwargs
        self.calls: list[dict] = []
        self.shutdowns = 0
        try:  # the loop sglang.Engine keeps, as the real one picks it
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        FakeSGLangEngine.instances.append(self)

    async def async_generate(
        self,
        prompt=None,
        sampling_params=None,
        input_ids=None,
        image_data=None,
        audio_data=None,
        video_data=None,
        mm_hashes=None,
        mm_content_hashes=None,
        return_logprob=False,
        logprob_start_len=None,
        top_logprobs_num=None,
        token_ids_logprob=None,
        lora_path=None,
        custom_logit_processor=None,
        require_reasoning=False,
        return_hidden_states=False,
        return_routed_experts=False,
        routed_experts_start_len=0,
        stream=False,
        bootstrap_host=None,
        bootstrap_port=None,
        bootstrap_room=None,
        routed_dp_rank=None,
        disagg_prefill_dp_rank=None,
        kv_hints=None,
        data_parallel_rank=None,
        external_trace_header=None,
        rid=None,
        session_params=None,
        priority=None,
        session_id=None,
        *,
        cache_salt=None,
    ):
        self.calls.append({"prompt": prompt, "input_ids": input_ids, "image_data": image_data,
                           "sampling_params": sampling_params, "return_logprob": return_logprob,
                           "mm_hashes": mm_hashes})
        await asyncio.sleep(0)
        prompt = prompt or ""
        if "explode" in prompt:
            raise RuntimeError("scheduler rejected the request")
        if "refuse" in prompt:  # what sglang raises for a request it refuses
            raise ValueError("The input (9000 tokens) is longer than the model's context length "
                             "(8192 tokens).")
        schema = sampling_params.get("json_schema")  # without one, sglang writes free text
        text = json.dumps(build_minimal_instance(json.loads(schema))) if schema else "free text"
        output_ids = [1, 2, 3]
        meta = {
            "id": "x",
            "finish_reason": {"type": "stop", "matched": 2},
            "prompt_tokens": 100 + 10 * len(image_data or []),
            "completion_tokens": 3,
            "cached_tokens": 40,
            "e2e_latency": 0.25,
        }
        if return_logprob:  # as sglang's tokenizer manager adds them (add_logprob_to_meta_info)
            tokenizer = self.tokenizer
            output_ids = [*tokenizer(text, add_special_tokens=False).input_ids,
                          tokenizer.convert_tokens_to_ids("<|im_end|>")]
            # Engine.async_generate cannot ask for token texts: (logprob, token_id, None) each.
            entries = [(-0.05 * (k % 5), token, None) for k, token in enumerate(output_ids)]
            meta.update(completion_tokens=len(output_ids), output_token_logprobs=entries,
                        output_token_logprobs_length=len(entries))
        return {"text": text, "output_ids": output_ids, "meta_info": meta}

    def shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def fake_factory(sglang_source_dir):
    """The fake, refusing server args that are not fields of each supported release in turn."""
    FakeSGLangEngine.server_fields = read_server_arg_fields(sglang_source_dir)
    FakeSGLangEngine.instances = []
    return FakeSGLangEngine


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


def _request(request_id: str, pages, prefix: str = "Extract.", **sampling) -> EngineRequest:
    return EngineRequest(request_id, "You read documents.", prefix, tuple(pages), "JSON:",
                         SCHEMA, SamplingConfig(**{"max_new_tokens": 77, **sampling}))


FAKE_MIRRORS = "0.5.23"
"""The sglang release whose `Engine.async_generate` signature FakeSGLangEngine copies exactly."""


def _fake_parameters() -> list[tuple[str, str, str | None]]:
    """(name, kind, default source) of the fake's async_generate, as the contract reader
    writes them for the real one."""
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
             inspect.Parameter.KEYWORD_ONLY: "keyword_only",
             inspect.Parameter.VAR_POSITIONAL: "var_positional",
             inspect.Parameter.VAR_KEYWORD: "var_keyword"}
    fake = list(inspect.signature(FakeSGLangEngine.async_generate).parameters.values())[1:]
    return [(p.name, kinds[p.kind], None if p.default is p.empty else repr(p.default))
            for p in fake]


def test_fake_has_exactly_the_real_async_generate_signature():
    assert FAKE_MIRRORS in SUPPORTED_SGLANG_VERSIONS
    real = read_async_generate_parameters(sglang_source(FAKE_MIRRORS))
    assert _fake_parameters() == [(p.name, p.kind, p.default) for p in real]


def test_keywords_the_adapter_passes_are_the_same_in_each_release(sglang_source_dir):
    """Each keyword the adapter passes exists in this release, of the same kind and default as
    in the fake, so a test that passes against the fake passes the same keywords to sglang."""
    real = {p.name: (p.name, p.kind, p.default)
            for p in read_async_generate_parameters(sglang_source_dir)}
    fake = {spec[0]: spec for spec in _fake_parameters()}
    for key in GENERATE_KWARGS:
        assert key in real, key
        assert real[key] == fake[key]
        assert real[key][1] in ("positional", "keyword_only"), key  # passed by keyword


def _engine(factory, processor, config: EngineConfig | None = None, **kwargs) -> SGLangEngine:
    kwargs.setdefault("gpu_count", 1)
    kwargs.setdefault("hf_config", {})
    return SGLangEngine(config or EngineConfig(), engine_factory=factory, processor=processor,
                        **kwargs)


def _started(factory, processor, config: EngineConfig | None = None, **kwargs) -> SGLangEngine:
    engine = _engine(factory, processor, config, **kwargs)
    engine.start()
    return engine


def test_server_args_with_eight_gpus(fake_factory, processor):
    config = EngineConfig(name="sglang", seed=5, sglang=SGLangConfig(mem_fraction_static=0.8))
    engine = _started(fake_factory, processor, config, gpu_count=8)
    kwargs = fake_factory.instances[0].kwargs
    assert kwargs["model_path"] == "Qwen/Qwen3-VL-30B-A3B-Instruct-FP8"
    assert "attention_backend" not in kwargs and "mm_attention_backend" not in kwargs
    assert (kwargs["tp_size"], kwargs["dp_size"]) == (1, 8)
    assert kwargs["constrained_json_disable_any_whitespace"] is True
    assert kwargs["random_seed"] == 5 and kwargs["mem_fraction_static"] == 0.8
    assert kwargs["log_level"] == "warning"
    assert kwargs["custom_sigquit_handler"] is engine_process_died
    assert "context_length" not in kwargs  # unset options stay sglang's defaults
    assert "enable_deterministic_inference" not in kwargs
    # measured no faster on the full-size model (README "Speed"): left to sglang's defaults
    assert not {"enable_mixed_chunk", "grammar_backend", "chunked_prefill_size"} & set(kwargs)
    assert engine.max_in_flight == 256 * 8


def test_explicit_settings_and_extra_server_args(fake_factory, processor):
    fake_factory.server_fields |= {"disable_cuda_graph"}
    config = EngineConfig(model="/models/local", sglang=SGLangConfig(
        dp_size=2, max_running_requests=64, context_length=8192, load_format="dummy",
        attention_backend="flashinfer", mm_attention_backend="triton_attn",
        deterministic=True, extra_args={"disable_cuda_graph": True}))
    engine = _started(fake_factory, processor, config, gpu_count=4)
    kwargs = fake_factory.instances[0].kwargs
    assert kwargs["attention_backend"] == "flashinfer"
    assert kwargs["mm_attention_backend"] == "triton_attn"
    assert kwargs["dp_size"] == 2 and kwargs["model_path"] == "/models/local"
    assert kwargs["load_format"] == "dummy" and kwargs["context_length"] == 8192
    assert kwargs["enable_deterministic_inference"] is True
    assert kwargs["disable_cuda_graph"] is True
    assert engine.max_in_flight == 64 * 2


def test_compact_json_sends_each_request_the_grammar_of_its_schema(fake_factory, processor):
    pytest.importorskip("xgrammar")
    config = EngineConfig(sglang=SGLangConfig(image_processing="sglang", compact_json=True))
    engine = _started(fake_factory, processor, config)
    pages = make_pages("doc", ((64, 64),))
    asyncio.run(engine.generate([_request("r1", pages)]))
    params = fake_factory.instances[0].calls[0]["sampling_params"]
    assert "json_schema" not in params and "root ::=" in params["ebnf"]
    assert params["max_new_tokens"] == 77


def test_three_pages_one_request_images_in_order(fake_factory, processor):
    pages = make_pages("doc", ((64, 64), (96, 64), (64, 128)))
    config = EngineConfig(sglang=SGLangConfig(image_processing="sglang"))
    engine = _started(fake_factory, processor, config)
    outcome = asyncio.run(engine.generate([_request("r1", pages, temperature=0.7, seed=11)]))[0]
    backend = fake_factory.instances[0]
    assert len(backend.calls) == 1
    call = backend.calls[0]
    prompt = call["prompt"]
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 3
    assert prompt.index("Extract.") < prompt.index("<|vision_start|>") < prompt.index("JSON:")
    assert prompt.endswith("<|im_start|>assistant\n")
    images = call["image_data"]
    assert [im.size for im in images] == [(p.width, p.height) for p in pages]
    assert [im.tobytes() for im in images] == [p.pixels for p in pages]
    assert call["mm_hashes"] == ["00000001", "00000002", "00000003"]  # three pages, three keys
    params = call["sampling_params"]
    assert set(params) <= set(SAMPLING_KEYS)
    assert isinstance(params["json_schema"], str) and json.loads(params["json_schema"]) == SCHEMA
    assert params["max_new_tokens"] == 77 and params["temperature"] == 0.7
    assert "sampling_seed" not in params  # sglang ignores it without deterministic inference
    assert isinstance(outcome, EngineResult)
    assert json.loads(outcome.text) == {"code": "aa"}
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.cached_tokens) == (130, 3, 40)
    assert outcome.latency_s == 0.25 and outcome.finish_reason == "stop"


def test_docextract_image_processing_hands_sglang_processor_output(fake_factory, processor):
    """The processor output of every page in one item, the prompt tokenized with each page's
    placeholder repeated once per visual token, and a pixel hash only for one-page requests."""
    import numpy as np

    config = EngineConfig(sglang=SGLangConfig(image_processing="docextract"))
    hf_config = {"image_token_id": processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")}
    engine = _started(fake_factory, processor, config, hf_config=hf_config)
    pages = make_pages("doc", ((64, 64), (96, 64), (64, 128)))
    single = make_pages("one", ((64, 96),))
    loop = engine.event_loop  # one loop for both calls: the engine serves one
    assert loop is not None
    outcomes = loop.run_until_complete(
        engine.generate([_request("r1", pages), _request("r2", single)])
    )
    assert all(isinstance(outcome, EngineResult) for outcome in outcomes)
    # the requests run concurrently: they may reach sglang in either order
    one, three = sorted(fake_factory.instances[0].calls,
                        key=lambda call: len(call["image_data"][0]["image_grid_thw"]))
    expected = processor.image_processor(images=[p.to_pil() for p in pages], return_tensors="np")
    assert three["prompt"] is None and len(three["image_data"]) == 1
    item = three["image_data"][0]
    assert item["format"] == "processor_output" and "hash" not in item
    assert np.array_equal(item["pixel_values"].numpy(), expected["pixel_values"])
    assert np.array_equal(item["image_grid_thw"].numpy(), expected["image_grid_thw"])
    prompt = engine.build_prompt(_request("r1", pages))
    plain = processor.tokenizer(prompt, add_special_tokens=False).input_ids
    placeholder = hf_config["image_token_id"]
    ids = three["input_ids"]
    assert ids.count(placeholder) == sum(p.visual_tokens for p in pages) == 4 + 6 + 8
    assert [t for t in ids if t != placeholder] == [t for t in plain if t != placeholder]
    assert len(set(three["mm_hashes"] + one["mm_hashes"])) == 4  # four pages, four keys
    assert one["image_data"][0]["hash"] == int(one["mm_hashes"][0], 16)
    same = make_pages("one", ((64, 96),))  # the same pixels again: the same key
    again = loop.run_until_complete(engine.generate([_request("r3", same)]))
    assert isinstance(again[0], EngineResult)
    assert fake_factory.instances[0].calls[-1]["mm_hashes"] == one["mm_hashes"]
    assert fake_factory.instances[0].calls[-1]["image_data"][0]["hash"] == one["image_data"][0][
        "hash"]


def test_the_gpu_suites_schema_check_asks_once_per_built_in_schema(fake_factory, processor):
    """tests/gpu/schema_grammars.py, which the GPU suite runs on the real Engine, here on the
    fake: one request per built-in schema, each with that schema's engine JSON schema."""
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema
    from schemas import BUILTIN_SCHEMAS
    from tests.gpu.schema_grammars import ask_every_schema, engine_config

    engine = SGLangEngine(engine_config("tiny"), engine_factory=fake_factory,
                          processor=processor, gpu_count=1, hf_config={})  # fmt: skip
    lines = ask_every_schema(engine)
    assert [line["schema"] for line in lines] == list(BUILTIN_SCHEMAS)
    assert all(line["answered"] for line in lines)
    calls = fake_factory.instances[0].calls
    sent = sorted(call["sampling_params"]["json_schema"] for call in calls)
    schemas = [engine_json_schema(resolve_schema(name).model) for name in BUILTIN_SCHEMAS]
    assert sent == sorted(json.dumps(schema, separators=(",", ":")) for schema in schemas)
    assert engine.backend is None and fake_factory.instances[0].shutdowns == 1  # closed


def test_a_pages_hash_changes_with_any_pixel_or_its_shape_and_only_then():
    """sglang keys its prefix cache for a page's image tokens by the hash docextract hands it
    (mm_hashes): a page that differs in one byte, or in shape with the same bytes, must not hit
    another's cached tokens; the same pixels again must."""
    (page,) = make_pages("a", ((64, 96),))
    (same,) = make_pages("b", ((64, 96),))
    changed = bytearray(page.pixels)
    changed[len(changed) // 2] ^= 1
    reshaped = replace(page, width=page.height, height=page.width)
    assert pixels_hash(same) == pixels_hash(page)
    assert pixels_hash(replace(page, pixels=bytes(changed))) != pixels_hash(page)
    assert pixels_hash(reshaped) != pixels_hash(page)
    assert 0 <= pixels_hash(page) < 2**64


def test_page_keys_repeat_for_the_same_pixels_and_are_never_shared():
    """sglang reads 30 bits of a page's key (its pad_value): keys are numbered, so different
    pages never share one, and a page forgotten and seen again gets a fresh one."""
    keys = PageKeys(remembered=3)
    first = [keys.key(digest) for digest in (0xA, 0xB, 0xC)]
    assert first == [1, 2, 3]
    assert keys.key(0xA) == 1  # seen again: the same key, and now the most recent
    assert keys.key(0xD) == 4  # remembering A, C, D: B is forgotten
    assert keys.key(0xB) == 5  # a fresh key, not another page's
    assert keys.key(0xA) == 1 and keys.key(0xD) == 4
    wrapped = PageKeys()
    wrapped._next = 1 << 30
    assert [wrapped.key(1), wrapped.key(2)] == [1 << 30, 1]  # within sglang's 30 bits, from 1


def test_docextract_image_processing_leaves_pages_to_be_resized_to_sglang(fake_factory,
                                                                            processor):
    """A page larger than the processor's limit (it would shrink it) goes as a PIL image."""
    config = EngineConfig(sglang=SGLangConfig(image_processing="docextract"))
    hf_config = {"image_token_id": processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")}
    engine = _started(fake_factory, processor, config, hf_config=hf_config)
    limit = processor.image_processor.size["longest_edge"]
    side = 32 * (int(limit**0.5) // 32 + 2)
    big = make_pages("big", ((side, side),))
    asyncio.run(engine.generate([_request("r1", big, max_new_tokens=1)]))
    call = fake_factory.instances[0].calls[0]
    assert call["input_ids"] is None and isinstance(call["prompt"], str)
    assert [image.size for image in call["image_data"]] == [(side, side)]


def test_deterministic_runs_send_the_seed(fake_factory, processor):
    config = EngineConfig(sglang=SGLangConfig(deterministic=True))
    engine = _started(fake_factory, processor, config)
    asyncio.run(engine.generate([_request("g", make_pages("g", ((64, 64),)), seed=11)]))
    params = fake_factory.instances[0].calls[0]["sampling_params"]
    assert params["temperature"] == 0.0 and params["sampling_seed"] == 11


def test_one_failing_request_fails_alone(fake_factory, processor):
    engine = _started(fake_factory, processor)
    page = make_pages("p", ((64, 64),))
    requests = [_request("a", page), _request("b", page, prefix="explode"), _request("c", page),
                _request("d", page, prefix="refuse")]
    outcomes = asyncio.run(engine.generate(requests))
    assert [o.request_id for o in outcomes] == ["a", "b", "c", "d"]
    assert isinstance(outcomes[0], EngineResult) and isinstance(outcomes[2], EngineResult)
    crashed, refused = outcomes[1], outcomes[3]
    assert isinstance(crashed, EngineFailure) and isinstance(refused, EngineFailure)
    assert (crashed.code, crashed.retryable) == (ErrorCode.ENGINE_ERROR, True)
    assert "scheduler rejected" in crashed.message
    assert (refused.code, refused.retryable) == (ErrorCode.REQUEST_REJECTED, False)
    assert "longer than the model's context length" in refused.message


def test_a_prompt_longer_than_the_context_is_refused_before_sglang(fake_factory, processor):
    """Its pages' visual tokens count in full, as sglang expands each image placeholder."""
    pages = make_pages("big", ((64 * 4, 64 * 4),) * 3)  # 3 pages of 8x8 = 64 visual tokens
    assert sum(p.visual_tokens for p in pages) == 192
    engine = _started(fake_factory, processor, hf_config={
        "text_config": {"max_position_embeddings": 200}})
    fits, too_long = asyncio.run(engine.generate([
        _request("fits", pages[:1], max_new_tokens=10),
        _request("long", pages, max_new_tokens=10)]))
    assert isinstance(fits, EngineResult)
    assert isinstance(too_long, EngineFailure) and not too_long.retryable
    assert too_long.code == ErrorCode.REQUEST_REJECTED
    assert "needs 255 tokens" in too_long.message  # 53 of text, 3 x 64 visual, 10 answer
    assert "context length of 200" in too_long.message
    assert len(fake_factory.instances[0].calls) == 1  # sglang never saw the long one


def test_pages_above_the_processors_limit_count_as_it_shrinks_them(fake_factory, processor):
    """The tiny processor takes at most 256 x 32 x 32 pixels: a 1024 x 1024 page (1,024
    visual tokens by docextract's budget) reaches the model as 256 tokens."""
    page = make_pages("huge", ((1024, 1024),))
    assert page[0].visual_tokens == 1024
    engine = _started(fake_factory, processor)
    request = _request("huge", page, max_new_tokens=10)
    small = _request("small", make_pages("s", ((64, 64),)), max_new_tokens=10)
    text = engine._prompt_tokens(engine.build_prompt(small), small) - 4  # 64 x 64 is 4 tokens
    assert engine._prompt_tokens(engine.build_prompt(request), request) == text + 256


def test_generate_needs_a_started_engine_and_one_loop(fake_factory, processor):
    engine = _engine(fake_factory, processor)
    request = _request("a", make_pages("a", ((64, 64),)))
    with pytest.raises(EngineUnavailable, match="not started"):
        asyncio.run(engine.generate([request]))
    engine.start()
    asyncio.run(engine.generate([request]))
    with pytest.raises(EngineUnavailable, match="one event loop"):
        asyncio.run(engine.generate([request]))


def test_start_has_the_processor_count_image_tokens_as_lists(fake_factory, processor,
                                                            monkeypatch):
    from transformers.processing_utils import ProcessorMixin

    plain = inspect.unwrap(ProcessorMixin._check_special_mm_tokens)
    monkeypatch.setattr(ProcessorMixin, "_check_special_mm_tokens", plain)
    engine = _engine(fake_factory, processor)
    engine.start()
    try:
        assert ProcessorMixin._check_special_mm_tokens is not plain
        assert inspect.unwrap(ProcessorMixin._check_special_mm_tokens) is plain
    finally:
        engine.close()


def _three_runs_on_one_engine(engine: SGLangEngine, tmp_path) -> None:
    from pipeline.api import run
    from tests.run_helpers import ROOT, make_unique_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(3):
        make_unique_pdf(inbox / f"doc{number}.pdf", 1, f"LOOP{number}")
    schema = str(ROOT / "tests" / "data" / "bounded_schema.py") + ":Bounded"
    try:
        for name in ("first", "second", "third"):
            report = run(inbox, tmp_path / name, schema=schema, engine=engine, retries=0)
            assert (report.extracted, dict(report.errors_by_code)) == (3, {}), name
    finally:
        engine.close()


def test_one_started_engine_serves_run_after_run_through_the_api(fake_factory, processor,
                                                                 tmp_path):
    """open_engine once, then run() again and again, as the README shows: every run goes
    through the loop sglang serves, not a fresh one that sglang would never answer."""
    _three_runs_on_one_engine(_started(fake_factory, processor), tmp_path)
    assert len(fake_factory.instances[0].calls) == 9


def test_one_engine_serves_run_after_run_from_inside_a_running_loop(fake_factory, processor,
                                                                    tmp_path):
    """The same in Jupyter: sglang takes the notebook's running loop as its own, so the runs
    go to a thread, and all of them to one loop there."""

    async def notebook() -> None:
        engine = _started(fake_factory, processor)
        assert engine.event_loop is asyncio.get_running_loop()
        _three_runs_on_one_engine(engine, tmp_path)

    asyncio.run(notebook())
    assert len(fake_factory.instances[0].calls) == 9


def test_tensor_parallel_that_cannot_load_the_model_is_refused(fake_factory, processor):
    fp8_moe = {"text_config": {"moe_intermediate_size": 768},
               "quantization_config": {"weight_block_size": [128, 128]}}
    engine = _engine(fake_factory, processor, EngineConfig(sglang=SGLangConfig(tp_size=4)),
                     gpu_count=4, hf_config=fp8_moe)
    with pytest.raises(EngineUnavailable, match="tp_size 4 cannot load"):
        engine.start()
    assert fake_factory.instances == []  # refused before sglang started anything


def test_meta_info_mapping():
    length = map_output("r", {"text": '{"a', "meta_info": {
        "finish_reason": {"type": "length", "length": 5}, "prompt_tokens": 9,
        "completion_tokens": 5, "cached_tokens": 0, "e2e_latency": 1.5}}, 9.0)
    assert isinstance(length, EngineResult)
    assert (length.finish_reason, length.completion_tokens, length.latency_s) == ("length", 5, 1.5)
    aborted = map_output("r", {"text": "", "meta_info": {
        "finish_reason": {"type": "abort", "message": "prompt too long"}}}, 0.1)
    assert isinstance(aborted, EngineFailure) and "prompt too long" in aborted.message
    assert isinstance(map_output("r", None, 0.1), EngineFailure)


@pytest.mark.parametrize(
    ("meta", "replica"),
    [
        ({"dp_rank": 1}, 1),
        ({"dp_rank": 0}, 0),
        ({"dp_rank": None}, None),
        ({}, None),
        ({"dp_rank": "x"}, None),
        ({"dp_rank": True}, None),
    ],
    ids=["rank-1", "rank-0", "none", "missing", "junk", "bool"],
)
def test_the_replica_that_answered_comes_from_dp_rank(meta, replica):
    meta = {"finish_reason": {"type": "stop"}, **meta}
    result = map_output("r", {"text": "{}", "output_ids": [1], "meta_info": meta}, 0.1)
    assert isinstance(result, EngineResult) and result.replica == replica


def test_close_shuts_down_once(fake_factory, processor):
    engine = _started(fake_factory, processor)
    engine.close()
    engine.close()
    assert fake_factory.instances[0].shutdowns == 1
    with pytest.raises(EngineUnavailable):
        engine.start()


def test_unknown_server_arg_becomes_engine_unavailable(fake_factory, processor):
    fake_factory.server_fields = {"model_path"}
    engine = _engine(fake_factory, processor)
    with pytest.raises(EngineUnavailable, match="unexpected keyword"):
        engine.start()


def test_out_of_memory_advice(processor):
    def oom(**kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    engine = _engine(oom, processor)
    with pytest.raises(EngineUnavailable, match="mem_fraction_static"):
        engine.start()


def test_a_failing_shutdown_is_logged_not_raised(fake_factory, processor, caplog):
    engine = _started(fake_factory, processor)

    def stuck():
        raise RuntimeError("children not reaped within 60 s")

    fake_factory.instances[0].shutdown = stuck
    engine.close()
    assert "children not reaped" in caplog.text


def _sleep_forever() -> None:  # an sglang process stand-in, in a spawned child
    time.sleep(600)


def test_a_signal_during_start_leaves_no_engine_process(fake_factory, processor):
    """SIGTERM while sglang starts its processes: whether it cuts the start short (another
    thread took it) or is acted on when the start returns, RunInterrupted says why and the
    process the start had spawned is gone."""
    spawned = []

    def start_then_signal(**kwargs):
        engine = fake_factory(**kwargs)
        child = multiprocessing.get_context("spawn").Process(target=_sleep_forever)
        child.start()
        spawned.append(child)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        return engine

    engine = _engine(start_then_signal, processor)
    with signals_raise(), pytest.raises(RunInterrupted) as stopped:
        engine.start()
    assert stopped.value.exit_code == 143
    assert not spawned[0].is_alive()
