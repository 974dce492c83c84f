"""The SGLang adapter with a stand-in for `sglang.Engine` (sglang cannot run without a GPU).

The stand-in checks its keyword arguments against the ServerArgs fields parsed from the real
sglang source, and its `async_generate` has exactly the real parameter list (a test proves it).
The prompt comes from the tiny model's real processor.
"""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from pipeline.config import EngineConfig, SGLangConfig
from pipeline.engines.base import EngineFailure, EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.contract import read_async_generate_parameters, read_server_arg_fields
from pipeline.engines.null import build_minimal_instance
from pipeline.engines.sglang import SAMPLING_KEYS, SGLangEngine, map_output
from pipeline.errors import EngineUnavailable, ErrorCode
from tests.fixtures_model import make_pages

SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^[a-z]{2}$"}},
    "required": ["code"],
}


class FakeSGLangEngine:
    """Stands in for sglang.Engine: same constructor contract, same async_generate signature."""

    server_fields: set[str] = set()
    instances: list[FakeSGLangEngine] = []

    def __init__(self, **kwargs):
        unknown = set(kwargs) - self.server_fields
        if unknown:  # what ServerArgs(**kwargs) does with an unknown field
            raise TypeError(f"ServerArgs.__init__() got unexpected keyword(s) {sorted(unknown)}")
        self.kwargs = kwargs
        self.calls: list[dict] = []
        self.shutdowns = 0
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
        self.calls.append(
            {"prompt": prompt, "image_data": image_data, "sampling_params": sampling_params}
        )
        await asyncio.sleep(0)
        if "explode" in prompt:
            raise RuntimeError("scheduler rejected the request")
        schema = json.loads(sampling_params["json_schema"])
        text = json.dumps(build_minimal_instance(schema))
        return {
            "text": text,
            "output_ids": [1, 2, 3],
            "meta_info": {
                "id": "x",
                "finish_reason": {"type": "stop", "matched": 2},
                "prompt_tokens": 100 + 10 * len(image_data or []),
                "completion_tokens": 3,
                "cached_tokens": 40,
                "e2e_latency": 0.25,
            },
        }

    def shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def fake_factory(sglang_source_dir):
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


def test_fake_has_exactly_the_real_async_generate_signature(sglang_source_dir):
    real = read_async_generate_parameters(sglang_source_dir)
    fake = list(inspect.signature(FakeSGLangEngine.async_generate).parameters.values())[1:]
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
             inspect.Parameter.KEYWORD_ONLY: "keyword_only"}
    assert [(p.name, kinds[p.kind], repr(p.default)) for p in fake] == [
        (p.name, p.kind, p.default) for p in real
    ]


def test_server_args_on_hopper_with_eight_gpus(fake_factory, processor):
    config = EngineConfig(name="sglang", seed=5, sglang=SGLangConfig(mem_fraction_static=0.8))
    engine = SGLangEngine(config, engine_factory=fake_factory, processor=processor,
                          gpu_count=8, capability=(9, 0))
    engine.start()
    kwargs = fake_factory.instances[0].kwargs
    assert kwargs["model_path"] == "Qwen/Qwen3-VL-30B-A3B-Instruct-FP8"
    assert (kwargs["attention_backend"], kwargs["mm_attention_backend"]) == ("fa3", "fa3")
    assert (kwargs["tp_size"], kwargs["dp_size"]) == (1, 8)
    assert kwargs["constrained_json_disable_any_whitespace"] is True
    assert kwargs["random_seed"] == 5 and kwargs["mem_fraction_static"] == 0.8
    assert "context_length" not in kwargs  # unset options stay sglang's defaults
    assert engine.max_in_flight == 256 * 8


def test_other_gpus_and_explicit_settings(fake_factory, processor):
    config = EngineConfig(model="/models/local", sglang=SGLangConfig(
        dp_size=2, max_running_requests=64, context_length=8192, load_format="dummy"))
    engine = SGLangEngine(config, engine_factory=fake_factory, processor=processor,
                          gpu_count=4, capability=(8, 0))
    engine.start()
    kwargs = fake_factory.instances[0].kwargs
    assert kwargs["attention_backend"] == "flashinfer"
    assert kwargs["mm_attention_backend"] == "triton_attn"
    assert kwargs["dp_size"] == 2 and kwargs["model_path"] == "/models/local"
    assert kwargs["load_format"] == "dummy" and kwargs["context_length"] == 8192
    assert engine.max_in_flight == 64 * 2


def test_three_pages_one_request_images_in_order(fake_factory, processor):
    pages = make_pages("doc", ((64, 64), (96, 64), (64, 128)))
    engine = SGLangEngine(EngineConfig(), engine_factory=fake_factory, processor=processor,
                          gpu_count=1, capability=(9, 0))
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
    params = call["sampling_params"]
    assert set(params) <= set(SAMPLING_KEYS)
    assert isinstance(params["json_schema"], str) and json.loads(params["json_schema"]) == SCHEMA
    assert params["max_new_tokens"] == 77 and params["temperature"] == 0.7
    assert params["sampling_seed"] == 11
    assert isinstance(outcome, EngineResult)
    assert json.loads(outcome.text) == {"code": "aa"}
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.cached_tokens) == (130, 3, 40)
    assert outcome.latency_s == 0.25 and outcome.finish_reason == "stop"


def test_greedy_requests_send_no_seed(fake_factory, processor):
    engine = SGLangEngine(EngineConfig(), engine_factory=fake_factory, processor=processor,
                          gpu_count=1, capability=(9, 0))
    asyncio.run(engine.generate([_request("g", make_pages("g", ((64, 64),)))]))
    params = fake_factory.instances[0].calls[0]["sampling_params"]
    assert params["temperature"] == 0.0 and "sampling_seed" not in params


def test_one_failing_request_fails_alone(fake_factory, processor):
    engine = SGLangEngine(EngineConfig(), engine_factory=fake_factory, processor=processor,
                          gpu_count=1, capability=(9, 0))
    page = make_pages("p", ((64, 64),))
    requests = [_request("a", page), _request("b", page, prefix="explode"), _request("c", page)]
    outcomes = asyncio.run(engine.generate(requests))
    assert [o.request_id for o in outcomes] == ["a", "b", "c"]
    assert isinstance(outcomes[0], EngineResult) and isinstance(outcomes[2], EngineResult)
    assert isinstance(outcomes[1], EngineFailure)
    assert outcomes[1].code == ErrorCode.ENGINE_ERROR
    assert "scheduler rejected" in outcomes[1].message


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


def test_close_shuts_down_once(fake_factory, processor):
    engine = SGLangEngine(EngineConfig(), engine_factory=fake_factory, processor=processor,
                          gpu_count=1, capability=(9, 0))
    engine.start()
    engine.close()
    engine.close()
    assert fake_factory.instances[0].shutdowns == 1
    with pytest.raises(EngineUnavailable):
        engine.start()


def test_unknown_server_arg_becomes_engine_unavailable(fake_factory, processor):
    fake_factory.server_fields = {"model_path"}
    engine = SGLangEngine(EngineConfig(), engine_factory=fake_factory, processor=processor,
                          gpu_count=1, capability=(9, 0))
    with pytest.raises(EngineUnavailable, match="unexpected keyword"):
        engine.start()


def test_out_of_memory_advice(processor):
    def oom(**kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    engine = SGLangEngine(EngineConfig(), engine_factory=oom, processor=processor,
                          gpu_count=1, capability=(9, 0))
    with pytest.raises(EngineUnavailable, match="mem_fraction_static"):
        engine.start()
