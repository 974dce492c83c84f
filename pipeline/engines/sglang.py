"""The in-process SGLang engine (the default on a CUDA GPU).

One `sglang.Engine` serves every request: each request goes in with its own `async_generate`
call and SGLang batches them itself (continuous batching). A request SGLang refuses (a prompt
longer than the context, a schema its grammar backend rejects) fails alone, as REQUEST_REJECTED,
and is not retried. A crash of one of SGLang's processes (a CUDA fault, out of memory) ends the
whole run with EngineDied, after the finished work is committed (see sglang_process).
The prompt text comes from the model processor's chat template; the page images travel as PIL
images; the JSON schema constrains decoding through SGLang's grammar backend.
One SGLangEngine serves one event loop: start it, then run every request in that loop.

The names this module passes to SGLang are listed in SERVER_ARG_KEYS, GENERATE_KWARGS and
SAMPLING_KEYS; `tests/sglang_contract.py` checks them against SGLang's source.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.config import DEFAULT_MODEL, EngineConfig
from pipeline.engines.base import (
    EngineBase,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    gather_per_request,
)
from pipeline.engines.compact_json import compact_json_grammar
from pipeline.engines.gpu import has_cuda_gpu, release_cached_gpu_memory, visible_gpu_count
from pipeline.engines.mm_token_check import count_ids_as_lists
from pipeline.engines.sglang_inputs import SGLangInputs, processor_size
from pipeline.engines.sglang_outputs import map_exception, map_output
from pipeline.engines.sglang_process import (
    ChildWatch,
    adopt_orphans,
    check_tensor_parallel,
    engine_process_died,
    explain_start_failure,
    reclaim_signals,
    signals_deferred,
    spawned_since,
)
from pipeline.engines.weights import hub_weights, is_hub_id
from pipeline.errors import EngineUnavailable, ErrorCode, RunInterrupted, RunStopped
from pipeline.inputs.budget import visual_tokens

log = logging.getLogger(__name__)

SGLANG_VERSION = "0.5.17"
"""The sglang release the `sglang` extra pins and the GPU suite runs; the contract tests also
check the adapter against the newest release (tests/sglang_contract.py)."""

SERVER_ARG_KEYS: tuple[str, ...] = (
    "model_path",
    "attention_backend",
    "mm_attention_backend",
    "tp_size",
    "dp_size",
    "random_seed",
    "constrained_json_disable_any_whitespace",
    "mem_fraction_static",
    "context_length",
    "max_running_requests",
    "load_format",
    "log_level",
    "custom_sigquit_handler",
    "enable_deterministic_inference",
)
"""Every `ServerArgs` field `build_server_args` may set (besides the user's `extra_args`)."""

GENERATE_KWARGS: tuple[str, ...] = (
    "prompt",
    "input_ids",
    "image_data",
    "mm_hashes",
    "sampling_params",
    "return_logprob",
)
"""Every keyword passed to `Engine.async_generate` (`return_logprob` only for log-probabilities)."""

SAMPLING_KEYS: tuple[str, ...] = (
    "json_schema",
    "ebnf",
    "max_new_tokens",
    "temperature",
    "top_p",
    "sampling_seed",
)
"""Every key `build_sampling_params` may put in `sampling_params`."""

REQUESTS_PER_REPLICA = 256
"""Requests kept in flight per data-parallel replica when max_running_requests is not set."""


def build_server_args(config: EngineConfig, gpu_count: int) -> dict[str, Any]:
    """The `sglang.Engine(**kwargs)` keywords for this config and machine.

    Attention backends are passed only when configured: sglang's own choice per GPU and model
    is tuned (on Hopper, 0.5.23 pairs fa3 prefill with flashinfer decode for Qwen3-VL).
    """
    sg = config.sglang
    kwargs: dict[str, Any] = {
        "model_path": SGLangEngine.model_for(config),
        "tp_size": sg.tp_size,
        "dp_size": sg.dp_size or max(1, gpu_count // sg.tp_size),
        "random_seed": config.seed,
        "constrained_json_disable_any_whitespace": True,
        "log_level": sg.log_level,
        "custom_sigquit_handler": engine_process_died,
    }
    optional = {
        "attention_backend": sg.attention_backend,
        "mm_attention_backend": sg.mm_attention_backend,
        "mem_fraction_static": sg.mem_fraction_static,
        "context_length": sg.context_length,
        "max_running_requests": sg.max_running_requests,
        "load_format": sg.load_format,
        "enable_deterministic_inference": sg.deterministic or None,
    }
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    kwargs.update(sg.extra_args)
    return kwargs


def build_sampling_params(
    request: EngineRequest, seeded: bool = False, compact: bool = False
) -> dict[str, Any]:
    """SGLang sampling params: the schema as a JSON string, max_new_tokens always explicit.

    With `compact`, the schema goes as the EBNF grammar of its whitespace-free JSON instead
    (`compact_json`). `sampling_seed` is sent only when `seeded`: sglang reads it only with
    deterministic inference turned on.
    """
    sampling = request.sampling
    schema = json.dumps(request.json_schema, separators=(",", ":"))
    params: dict[str, Any] = {
        **({"ebnf": compact_json_grammar(schema)} if compact else {"json_schema": schema}),
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if seeded:
        params["sampling_seed"] = sampling.seed
    return params


class SGLangEngine(EngineBase):
    """Adapter over an in-process `sglang.Engine`.

    `engine_factory(**kwargs)` builds the backend (default: `sglang.Engine`); `processor` is
    the Hugging Face processor whose chat template builds the prompt (default: loaded from
    the model); `hf_config` is the model's config.json as a dict (default: read from the
    model, {} when it cannot be). They exist so tests can inject stand-ins with the real
    signatures. Start it in the main thread before the event loop runs; one loop per engine.
    """

    name = "sglang"
    default_model = DEFAULT_MODEL

    def __init__(
        self,
        config: EngineConfig,
        engine_factory: Callable[..., Any] | None = None,
        processor: Any = None,
        gpu_count: int | None = None,
        hf_config: dict[str, Any] | None = None,
    ) -> None:
        if gpu_count is None:
            gpu_count = visible_gpu_count()
        self.config = config
        self.server_args = build_server_args(config, gpu_count)
        self.model = str(self.server_args["model_path"])
        dp = int(self.server_args["dp_size"])
        running = config.sglang.max_running_requests
        self.max_in_flight = running * dp if running else REQUESTS_PER_REPLICA * dp
        self._factory = engine_factory
        self._processor = processor
        self._hf_config = hf_config
        self.inputs: SGLangInputs | None = None
        """How a request becomes sglang's inputs: built at start for
        `config.sglang.image_processing`; another may take its place between runs."""
        self._engine: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: ChildWatch | None = None
        self._closed = False

    @classmethod
    def check_machine(cls) -> None:
        """sglang installed and a CUDA GPU visible, checked without importing either."""
        if importlib.util.find_spec("sglang") is None:
            raise EngineUnavailable(
                "sglang is not installed. Install it with pip install 'docextract[sglang]' "
                "(needs a CUDA GPU), or use --engine transformers."
            )
        if not has_cuda_gpu():
            raise EngineUnavailable(
                "it needs an NVIDIA GPU and none is visible (no driver or CUDA_VISIBLE_DEVICES "
                "empty). Use --engine transformers on this machine, or --engine openai "
                "--base-url URL to use a server elsewhere."
            )

    def start(self) -> None:
        """Load the processor and start the backend; raises EngineUnavailable with advice."""
        if self._engine is not None:
            return
        if self._closed:
            raise EngineUnavailable("the sglang engine was closed")
        factory = self._factory or _import_sglang_engine()
        real = self._factory is None and self.config.sglang.load_format != "dummy"
        if real and is_hub_id(self.model):
            hub_weights(self.model)  # cached, or downloaded with a progress bar, or a stop
        if self._hf_config is None:
            self._hf_config = _read_hf_config(self.model)
        try:
            self._check_tensor_parallel()
            if self._processor is None:
                from transformers import AutoProcessor

                self._processor = AutoProcessor.from_pretrained(self.model)
            self.inputs = SGLangInputs(
                self._processor, self._hf_config or {}, self.config.sglang.image_processing
            )
        except EngineUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - every start failure becomes one clear message
            raise EngineUnavailable(explain_start_failure(exc, self.model)) from exc
        count_ids_as_lists()  # sglang's tokenizer manager runs the processor in this process
        self._launch(factory)

    def _launch(self, factory: Callable[..., Any]) -> None:
        adopt_orphans()
        before = set(multiprocessing.active_children())
        try:
            with signals_deferred():
                try:
                    self._engine = factory(**self.server_args)
                except RunInterrupted:
                    raise
                except Exception as exc:  # noqa: BLE001 - as above
                    raise EngineUnavailable(explain_start_failure(exc, self.model)) from exc
                self._watch = ChildWatch(spawned_since(before)).start()
        except BaseException:
            # A failed start, or a signal during it: leave no sglang process behind, also when
            # the signal cut the start short before sglang.Engine returned.
            self.close()
            for process in spawned_since(before):
                process.kill()
                process.join(timeout=10)
            raise

    def _check_tensor_parallel(self) -> None:
        tp_size = int(self.server_args["tp_size"])
        if problem := check_tensor_parallel(self._hf_config or {}, tp_size):
            raise EngineUnavailable(f"{self.model}: {problem}")

    def _context_length(self) -> int | None:
        """The context sglang serves: configured, else the model's max_position_embeddings."""
        if configured := self.server_args.get("context_length"):
            return int(configured)
        config = self._hf_config or {}
        text = config.get("text_config") or config
        return text.get("max_position_embeddings")

    def _prompt_tokens(self, prompt: str, request: EngineRequest) -> int:
        """Tokens of the prompt as the model sees it: each image placeholder becomes the
        page's visual tokens."""
        assert self.inputs is not None
        text = len(self.inputs.token_ids(prompt))
        visual = sum(self._image_tokens(page.width, page.height) for page in request.images)
        return text - len(request.images) + visual

    def _image_tokens(self, width: int, height: int) -> int:
        """Visual tokens of one page after the model's image processor, which shrinks images
        above its own pixel limit (docextract's budget normally keeps pages below it)."""
        processor = self._processor.image_processor
        resized_h, resized_w = processor_size(processor, height, width)
        return visual_tokens(resized_h, resized_w, processor.patch_size * processor.merge_size)

    def _refusal(self, prompt: str, request: EngineRequest) -> EngineFailure | None:
        """A request that cannot fit the context fails here, before sglang sees it: some
        releases cut an over-long image prompt silently instead of refusing it."""
        limit = self._context_length()
        if limit is None:
            return None
        answer = request.sampling.max_new_tokens
        needed = self._prompt_tokens(prompt, request) + answer
        if needed <= limit:
            return None
        return EngineFailure(
            request.request_id,
            ErrorCode.REQUEST_REJECTED,
            f"needs {needed} tokens ({len(request.images)} page images and the prompt, plus "
            f"{answer} for the answer), more than the model's context length of {limit}: "
            "lower --max-pixels, --max-pages or --max-new-tokens, or raise context_length",
            retryable=False,
        )

    def build_prompt(self, request: EngineRequest) -> str:
        """The chat-templated prompt text: one vision block per page, in page order."""
        assert self.inputs is not None, "start() first"
        return self.inputs.prompt(request)

    @property
    def backend(self) -> Any:
        """The started `sglang.Engine` (None before start and after close), for benchmarks."""
        return self._engine

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop every run must use: the one served so far, else sglang's own (`loop`)."""
        return self._loop or getattr(self._engine, "loop", None)

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        if self._engine is None:
            raise EngineUnavailable("the sglang engine is not started: call start() first")
        self._bind_loop(asyncio.get_running_loop())
        return await gather_per_request(requests, self._generate_one)

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        if self._loop is not None:
            # sglang reads its answers in a task of the first loop: another loop would wait
            # for ever.
            raise EngineUnavailable("an SGLangEngine serves one event loop; start another one")
        self._loop = loop
        reclaim_signals(self._engine, loop)

    async def _generate_one(self, request: EngineRequest) -> EngineOutcome:
        prompt = self.build_prompt(request)
        if refused := self._refusal(prompt, request):
            return refused
        assert self.inputs is not None
        started = time.perf_counter()
        try:
            inputs = await self.inputs.build(prompt, request)
            if request.logprobs:
                inputs["return_logprob"] = True
            output = await self._engine.async_generate(
                **inputs,
                sampling_params=build_sampling_params(
                    request, self.config.sglang.deterministic, self.config.sglang.compact_json
                ),
            )
        except Exception as exc:  # noqa: BLE001 - one request's failure is its own
            return map_exception(request.request_id, exc)
        decode = self._token_texts if request.logprobs else None
        return map_output(request.request_id, output, time.perf_counter() - started, decode)

    def _token_texts(self, ids: list[int]) -> list[str]:
        """Each token's text on its own: sglang's Engine returns log-probabilities with token
        ids only (its `return_text_in_logprobs` is not an `async_generate` keyword)."""
        return list(self._processor.tokenizer.batch_decode([[i] for i in ids]))

    def close(self) -> None:
        """Shut the backend down (it ends SGLang's child processes) and hand back the GPU memory
        torch cached in this process; safe to call twice. A shutdown that fails is logged,
        never raised: it must not hide why a run ended."""
        engine, self._engine = self._engine, None
        self._closed = True
        if self.inputs is not None:
            self.inputs.close()
        if self._watch is not None:
            self._watch.stop()
        if engine is not None:
            try:
                engine.shutdown()
            except RunStopped:
                raise
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.warning("sglang shutdown failed: %s: %s", type(exc).__name__, exc)
        release_cached_gpu_memory()  # a fresh engine (a restart) may size its pools on it


def _import_sglang_engine() -> Callable[..., Any]:
    try:
        import sglang
    except ImportError as exc:
        raise EngineUnavailable(
            f"sglang cannot be imported ({exc}): pip install 'docextract[sglang]'"
        ) from exc
    return sglang.Engine  # type: ignore[no-any-return]


def _read_hf_config(model: str) -> dict[str, Any]:
    """The model's config.json as a dict; {} when it cannot be read (sglang then says why)."""
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model).to_dict()  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - only an early check depends on it
        log.info("config of %s not read before start: %s", model, exc)
        return {}
