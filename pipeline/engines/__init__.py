"""Model backends behind one Protocol, and the factory that picks and starts one.

Importing this package is cheap: each engine module imports its heavy dependencies (torch,
transformers, sglang, xgrammar) only when an engine starts.
"""

from __future__ import annotations

import importlib.util
import logging

from pipeline.config import DEFAULT_LOCAL_MODEL, DEFAULT_MODEL, EngineConfig
from pipeline.engines.base import (
    Engine,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    SamplingConfig,
)
from pipeline.errors import EngineUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "Engine",
    "EngineFailure",
    "EngineOutcome",
    "EngineRequest",
    "EngineResult",
    "SamplingConfig",
    "build_engine",
    "engine_model_name",
    "resolve_engine_name",
]


def resolve_engine_name(config: EngineConfig) -> tuple[str, str]:
    """(engine name, reason). `auto` means sglang when a CUDA GPU is visible and sglang is
    installed, else transformers. The check never imports torch or sglang."""
    from pipeline.engines.gpu import has_cuda_gpu

    if config.name != "auto":
        return config.name, f"--engine {config.name} was asked for"
    gpu = has_cuda_gpu()
    installed = importlib.util.find_spec("sglang") is not None
    if gpu and installed:
        return "sglang", "a CUDA GPU is visible and sglang is installed"
    if gpu:
        return "transformers", (
            "a CUDA GPU is visible but sglang is not installed "
            "(pip install 'docextract[sglang]' for the fast engine)"
        )
    return "transformers", "no CUDA GPU is visible"


def engine_model_name(config: EngineConfig, name: str) -> str:
    """The model an engine of this name would load or ask for, without starting it."""
    if name == "null":
        return config.model or "none"
    if name == "transformers":
        return config.model or DEFAULT_LOCAL_MODEL
    return config.model or DEFAULT_MODEL


def build_engine(config: EngineConfig, *, start: bool = True) -> Engine:
    """Build the engine the config names (resolving `auto`) and, with `start`, load it.

    Raises EngineUnavailable with one message that says what to do when it cannot start.
    """
    name, reason = resolve_engine_name(config)
    log.info("engine: %s (%s)", name, reason)
    if name == "null":
        from pipeline.engines.null import NullEngine

        return NullEngine(config)
    if name == "openai":
        from pipeline.engines.openai import OpenAIEngine

        client = OpenAIEngine(config)
        if start:
            client.start()
        return client
    if name == "sglang":
        return _build_sglang(config, start)
    if name == "transformers":
        from pipeline.engines.transformers import TransformersEngine

        try:
            engine = TransformersEngine(config)
            if start:
                engine.start()
        except EngineUnavailable as exc:
            raise EngineUnavailable(f"engine transformers ({reason}): {exc}") from exc
        return engine
    raise EngineUnavailable(
        f"unknown engine {name!r}: use auto, sglang, openai, transformers or null"
    )


def _build_sglang(config: EngineConfig, start: bool) -> Engine:
    from pipeline.engines.gpu import has_cuda_gpu
    from pipeline.engines.sglang import SGLangEngine

    if importlib.util.find_spec("sglang") is None:
        raise EngineUnavailable(
            "engine sglang: sglang is not installed. Install it with "
            "pip install 'docextract[sglang]' (needs a CUDA GPU), or use --engine transformers."
        )
    if not has_cuda_gpu():
        raise EngineUnavailable(
            "engine sglang needs an NVIDIA GPU and none is visible (no driver or "
            "CUDA_VISIBLE_DEVICES empty). Use --engine transformers on this machine, or "
            "--engine openai --base-url URL to use a server elsewhere."
        )
    engine = SGLangEngine(config)
    if start:
        engine.start()
    return engine
