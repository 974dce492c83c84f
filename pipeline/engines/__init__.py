"""Model backends behind one Protocol, and the factory that picks and starts one.

Importing this package is cheap: each engine module imports its heavy dependencies (torch,
transformers, sglang, xgrammar) only when an engine starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from pipeline.config import EngineConfig
from pipeline.engines.base import (
    Engine,
    EngineBase,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    SamplingConfig,
)
from pipeline.errors import EngineUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "ENGINES",
    "Engine",
    "EngineBase",
    "EngineFailure",
    "EngineOutcome",
    "EngineRequest",
    "EngineResult",
    "SamplingConfig",
    "build_engine",
    "engine_class",
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


ENGINES: dict[str, str] = {
    "null": "pipeline.engines.null:NullEngine",
    "openai": "pipeline.engines.openai:OpenAIEngine",
    "sglang": "pipeline.engines.sglang:SGLangEngine",
    "transformers": "pipeline.engines.transformers:TransformersEngine",
}
"""Every engine `--engine` can name, as module:class; a module is imported when its engine is
asked for (each imports its heavy dependencies only when it starts)."""


def engine_class(name: str) -> type[EngineBase]:
    """The class of the engine called `name`; EngineUnavailable for a name no engine has."""
    if name not in ENGINES:
        known = ", ".join(["auto", *ENGINES])
        raise EngineUnavailable(f"unknown engine {name!r}: use {known}")
    module, _, attribute = ENGINES[name].partition(":")
    found: type[EngineBase] = getattr(importlib.import_module(module), attribute)
    return found


def engine_model_name(config: EngineConfig, name: str) -> str:
    """The model an engine of this name would load or ask for, without starting it."""
    return engine_class(name).model_for(config)


def build_engine(config: EngineConfig, *, start: bool = True) -> Engine:
    """Build the engine the config names (resolving `auto`) and, with `start`, load it.

    Raises EngineUnavailable with one message that names the engine, why it was chosen, and
    what to do when it cannot start.
    """
    name, reason = resolve_engine_name(config)
    log.info("engine: %s (%s)", name, reason)
    cls = engine_class(name)
    try:
        cls.check_machine()
        engine = cls(config)  # type: ignore[call-arg]
        if start:
            engine.start()
    except EngineUnavailable as exc:
        raise EngineUnavailable(f"engine {name} ({reason}): {exc}") from exc
    return engine
