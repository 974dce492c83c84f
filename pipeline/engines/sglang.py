"""The in-process SGLang engine (the default on a CUDA GPU).

One `sglang.Engine` serves every request: each request goes in with its own `async_generate`
call and SGLang batches them itself (continuous batching), so one bad request fails alone.
The prompt text comes from the model processor's chat template; the page images travel as PIL
images; the JSON schema constrains decoding through SGLang's grammar backend.

The names this module passes to SGLang are listed in SERVER_ARG_KEYS, GENERATE_KWARGS and
SAMPLING_KEYS; `pipeline.engines.contract` checks them against SGLang's source.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import DEFAULT_MODEL, EngineConfig
from pipeline.engines.base import (
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    gather_per_request,
)
from pipeline.errors import EngineUnavailable, ErrorCode

log = logging.getLogger(__name__)

SGLANG_VERSION = "0.5.23"
"""The sglang release this adapter is written against (the `sglang` extra pins it)."""

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
)
"""Every `ServerArgs` field `build_server_args` may set."""

GENERATE_KWARGS: tuple[str, ...] = ("prompt", "image_data", "sampling_params")
"""Every keyword passed to `Engine.async_generate`."""

SAMPLING_KEYS: tuple[str, ...] = (
    "json_schema",
    "max_new_tokens",
    "temperature",
    "top_p",
    "sampling_seed",
)
"""Every key `build_sampling_params` may put in `sampling_params`."""

REQUESTS_PER_REPLICA = 256
"""Requests kept in flight per data-parallel replica when max_running_requests is not set."""


def visible_gpu_count() -> int:
    """CUDA GPUs this process may use, without importing torch: CUDA_VISIBLE_DEVICES when set,
    else the lines of `nvidia-smi -L`; 0 when there is no NVIDIA driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e for e in visible.split(",") if e.strip() and e.strip() != "-1"]
        return len(entries) if _driver_present() else 0
    listing = _nvidia_smi("-L")
    if listing is None:
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def gpu_compute_capability() -> tuple[int, int] | None:
    """Compute capability of the first visible GPU (e.g. (9, 0) for H100), or None."""
    out = _nvidia_smi("--query-gpu=compute_cap", "--format=csv,noheader")
    if not out:
        return None
    first = out.strip().splitlines()[0].strip()
    try:
        major, minor = first.split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def has_cuda_gpu() -> bool:
    """Whether an NVIDIA GPU is visible (driver present and at least one device)."""
    return _driver_present() and visible_gpu_count() > 0


def _driver_present() -> bool:
    return (
        Path("/dev/nvidia0").exists()
        or Path("/proc/driver/nvidia").exists()
        or shutil.which("nvidia-smi") is not None
    )


def _nvidia_smi(*args: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def choose_attention_backends(capability: tuple[int, int] | None) -> tuple[str, str, str]:
    """(attention_backend, mm_attention_backend, reason) for a GPU's compute capability.

    Hopper (9.x) gets FlashAttention 3 for both. Other recent GPUs get FlashInfer for the
    language model and SGLang's Triton kernel for the vision tower; older ones Triton and SDPA.
    """
    if capability is None:
        return "triton", "sdpa", "GPU compute capability unknown: portable triton/sdpa kernels"
    major, minor = capability
    if major == 9:
        return "fa3", "fa3", f"compute capability {major}.{minor} (Hopper): fa3"
    if major >= 8:
        return (
            "flashinfer",
            "triton_attn",
            f"compute capability {major}.{minor} (not Hopper, fa3 unavailable): "
            "flashinfer for text, triton_attn for vision",
        )
    return "triton", "sdpa", f"compute capability {major}.{minor}: triton for text, sdpa for vision"


def build_server_args(
    config: EngineConfig, gpu_count: int, capability: tuple[int, int] | None
) -> dict[str, Any]:
    """The `sglang.Engine(**kwargs)` keywords for this config and machine."""
    sg = config.sglang
    attention, mm_attention, reason = choose_attention_backends(capability)
    if sg.attention_backend or sg.mm_attention_backend:
        reason += " (overridden by configuration)"
    log.info("sglang attention backends: %s", reason)
    kwargs: dict[str, Any] = {
        "model_path": config.model or DEFAULT_MODEL,
        "attention_backend": sg.attention_backend or attention,
        "mm_attention_backend": sg.mm_attention_backend or mm_attention,
        "tp_size": sg.tp_size,
        "dp_size": sg.dp_size or max(1, gpu_count // sg.tp_size),
        "random_seed": config.seed,
        "constrained_json_disable_any_whitespace": True,
        "log_level": sg.log_level,
    }
    optional = {
        "mem_fraction_static": sg.mem_fraction_static,
        "context_length": sg.context_length,
        "max_running_requests": sg.max_running_requests,
        "load_format": sg.load_format,
    }
    kwargs.update({key: value for key, value in optional.items() if value is not None})
    return kwargs


def build_sampling_params(request: EngineRequest) -> dict[str, Any]:
    """SGLang sampling params: the schema as a JSON string, max_new_tokens always explicit."""
    sampling = request.sampling
    params: dict[str, Any] = {
        "json_schema": json.dumps(request.json_schema, separators=(",", ":")),
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.temperature > 0:
        params["sampling_seed"] = sampling.seed
    return params


def map_output(request_id: str, output: Any, elapsed_s: float) -> EngineOutcome:
    """One `async_generate` result (`{"text", "output_ids", "meta_info"}`) as an outcome."""
    if not isinstance(output, dict) or "text" not in output:
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"unexpected output: {output!r}")
    meta = output.get("meta_info") or {}
    finish = meta.get("finish_reason")
    kind = finish.get("type") if isinstance(finish, dict) else finish
    if kind == "abort":
        detail = finish.get("message", "") if isinstance(finish, dict) else ""
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"request aborted: {detail}")
    return EngineResult(
        request_id=request_id,
        text=output["text"],
        finish_reason="length" if kind == "length" else "stop",
        prompt_tokens=int(meta.get("prompt_tokens") or 0),
        completion_tokens=int(meta.get("completion_tokens") or 0),
        cached_tokens=int(meta.get("cached_tokens") or 0),
        latency_s=float(meta.get("e2e_latency") or elapsed_s),
    )


def explain_start_failure(exc: BaseException, model: str) -> str:
    """One message that says what to do about an engine that would not start."""
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "out of memory" in lowered or "outofmemory" in lowered or "not enough memory" in lowered:
        return (
            f"sglang ran out of GPU memory while starting ({text}). Lower mem_fraction_static "
            "(e.g. DOCEXTRACT_ENGINE__SGLANG__MEM_FRACTION_STATIC=0.7 or [engine.sglang] in "
            "docextract.toml), or lower context_length / max_running_requests."
        )
    if any(s in lowered for s in ("does not appear to have", "not found", "offline", "repo id")):
        return (
            f"the weights of {model} are not available here ({text}). Download them first with "
            f"`huggingface-cli download {model}`, or pass a local folder with --model."
        )
    return f"sglang could not start with model {model}: {text}"


class SGLangEngine:
    """Adapter over an in-process `sglang.Engine`.

    `engine_factory(**kwargs)` builds the backend (default: `sglang.Engine`); `processor` is
    the Hugging Face processor whose chat template builds the prompt (default: loaded from
    the model). Both exist so tests can inject stand-ins with the real signatures.
    """

    name = "sglang"

    def __init__(
        self,
        config: EngineConfig,
        engine_factory: Callable[..., Any] | None = None,
        processor: Any = None,
        gpu_count: int | None = None,
        capability: tuple[int, int] | None = None,
    ) -> None:
        if gpu_count is None:
            gpu_count = visible_gpu_count()
            capability = gpu_compute_capability()
        self.config = config
        self.server_args = build_server_args(config, gpu_count, capability)
        self.model = str(self.server_args["model_path"])
        dp = int(self.server_args["dp_size"])
        running = config.sglang.max_running_requests
        self.max_in_flight = running * dp if running else REQUESTS_PER_REPLICA * dp
        self._factory = engine_factory
        self._processor = processor
        self._engine: Any = None
        self._closed = False

    def start(self) -> None:
        """Load the processor and start the backend; raises EngineUnavailable with advice."""
        if self._engine is not None:
            return
        if self._closed:
            raise EngineUnavailable("the sglang engine was closed")
        try:
            if self._processor is None:
                from transformers import AutoProcessor

                self._processor = AutoProcessor.from_pretrained(self.model)
            factory = self._factory
            if factory is None:
                import sglang

                factory = sglang.Engine
            self._engine = factory(**self.server_args)
        except ImportError as exc:
            raise EngineUnavailable(
                f"sglang is not installed ({exc}): pip install 'docextract[sglang]'"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - every start failure becomes one clear message
            raise EngineUnavailable(explain_start_failure(exc, self.model)) from exc

    def build_prompt(self, request: EngineRequest) -> str:
        """The chat-templated prompt text: one vision block per page, in page order."""
        return self._processor.apply_chat_template(
            request.messages(), tokenize=False, add_generation_prompt=True
        )

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        self.start()
        return await gather_per_request(requests, self._generate_one)

    async def _generate_one(self, request: EngineRequest) -> EngineOutcome:
        prompt = self.build_prompt(request)
        images = [page.to_pil() for page in request.images]
        started = time.perf_counter()
        output = await self._engine.async_generate(
            prompt=prompt,
            image_data=images or None,
            sampling_params=build_sampling_params(request),
        )
        return map_output(request.request_id, output, time.perf_counter() - started)

    def close(self) -> None:
        """Shut the backend down (it ends SGLang's child processes); safe to call twice."""
        engine, self._engine = self._engine, None
        self._closed = True
        if engine is not None:
            engine.shutdown()
