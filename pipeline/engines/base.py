"""The engine contract: typed requests in, one typed result or failure per request out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pipeline.config import EngineConfig
from pipeline.errors import ErrorCode
from pipeline.records import Page


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    """Decoding settings for one request. `max_new_tokens` is always explicit."""

    max_new_tokens: int = 2048
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One model call: a shared text prefix, then the page images in page order.

    `prefix` is identical for every document of a schema (instructions, compact schema, field
    notes), so a prefix cache computes it once; `suffix` is a short text after the images.
    `json_schema` is the engine-safe schema (no string-length keywords) as a dict. `example` is
    a valid answer the schema model declares (Pydantic's `examples`), or None; models never see
    it: the null engine answers it, so a dry run passes the schema's business rules.
    `logprobs` asks the engine for each answer token's log-probability and text (they feed the
    fields' confidence, so only runs with grounding ask: they cost the engine time).
    """

    request_id: str
    system: str
    prefix: str
    images: tuple[Page, ...]
    suffix: str
    json_schema: dict[str, Any]
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    example: dict[str, Any] | None = None
    logprobs: bool = False

    def messages(self, image_part: Any = None) -> list[dict[str, Any]]:
        """Chat messages in the order the model sees them: system, prefix, images, suffix.

        `image_part(page)` builds each image entry; by default `{"type": "image"}`, the
        placeholder form a Hugging Face processor's chat template expects.
        """
        make = image_part or (lambda page: {"type": "image"})
        content: list[dict[str, Any]] = [{"type": "text", "text": self.prefix}]
        content += [make(page) for page in self.images]
        if self.suffix:
            content.append({"type": "text", "text": self.suffix})
        return [
            {"role": "system", "content": [{"type": "text", "text": self.system}]},
            {"role": "user", "content": content},
        ]


@dataclass(frozen=True, slots=True)
class EngineResult:
    """A model answer. `finish_reason` is "stop", "length" or "abort". `replica` is which
    data-parallel replica answered, when the engine says (sglang's dp_rank); None otherwise.
    `served_model` is the model a server named in its answer (an OpenAI-compatible `model`).
    `logprobs` and `tokens`, given when the request asked and the engine can, are the natural
    log-probability and the text of each answer token, in order (a token holding part of a
    character reads U+FFFD); None otherwise."""

    request_id: str
    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    logprobs: tuple[float, ...] | None = None
    tokens: tuple[str, ...] | None = None
    replica: int | None = None
    served_model: str | None = None  # the model the server says answered, where it says


@dataclass(frozen=True, slots=True)
class EngineFailure:
    """A request the engine could not answer; its neighbours are unaffected.

    `retryable` is False when asking again cannot help (the engine refused the request itself).
    """

    request_id: str
    code: ErrorCode
    message: str
    retryable: bool = True


EngineOutcome = EngineResult | EngineFailure


async def gather_per_request(
    requests: Sequence[EngineRequest],
    answer: Callable[[EngineRequest], Awaitable[EngineOutcome]],
) -> list[EngineOutcome]:
    """Answer every request concurrently; an exception fails its own request only."""
    outcomes = await asyncio.gather(*(answer(r) for r in requests), return_exceptions=True)
    return [
        outcome
        if not isinstance(outcome, BaseException)
        else EngineFailure(
            request.request_id, ErrorCode.ENGINE_ERROR, f"{type(outcome).__name__}: {outcome}"
        )
        for request, outcome in zip(requests, outcomes, strict=True)
    ]


@runtime_checkable
class Engine(Protocol):
    """What the orchestrator needs from a model backend.

    Contract:
    - `start` loads the model or connects, and raises EngineUnavailable with advice when it
      cannot; idempotent.
    - `generate` takes a batch and returns exactly one outcome per request, in request order.
      A request that fails becomes an `EngineFailure`; it never raises for its neighbours.
    - `preferred_batch` is how many requests one `generate` call should carry.
    - `max_in_flight` is how many requests the orchestrator should keep outstanding to keep
      the backend's batches full.
    - `event_loop` is the one event loop the engine can serve, or None when any will do (see
      `loop_for`); a caller that reuses the engine runs every run in that loop.
    - `close` releases the backend (GPU memory, worker processes, HTTP pools); idempotent.
    """

    name: str
    model: str
    max_in_flight: int
    preferred_batch: int

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop | None: ...

    def start(self) -> None: ...

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]: ...

    def close(self) -> None: ...


class EngineBase:
    """The engines' common ground: the defaults of the Engine contract, and the model an
    engine loads when the configuration names none (`default_model`)."""

    name: str
    default_model: ClassVar[str]
    model: str
    max_in_flight: int
    preferred_batch: int = 1

    @classmethod
    def model_for(cls, config: EngineConfig) -> str:
        """The model this engine loads or asks for under `config`, without starting it."""
        return config.model or cls.default_model

    @classmethod
    def check_machine(cls) -> None:
        """Raise EngineUnavailable, cheaply and before anything loads, when this machine
        cannot run the engine at all. Default: every machine can."""

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        return None

    def start(self) -> None:
        """Nothing to load by default."""

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        raise NotImplementedError

    def close(self) -> None:
        return None


def loop_for(engine: Engine) -> asyncio.AbstractEventLoop | None:
    """The event loop to drive `engine` in when it serves one only (its `event_loop` is not
    None, as sglang's once started); None for any other engine: any loop will do.

    That is the engine's loop when it can be run from here; else (it runs elsewhere, as
    Jupyter's does, or is closed) a new loop, left open: the engine binds to it on first use
    and names it as its `event_loop` from then on."""
    loop = engine.event_loop
    if loop is None:
        return None
    if isinstance(loop, asyncio.AbstractEventLoop) and not (loop.is_closed() or loop.is_running()):
        return loop
    return asyncio.new_event_loop()


async def generate_guarded(
    engine: Engine, requests: Sequence[EngineRequest]
) -> list[EngineOutcome]:
    """`engine.generate`, with an engine that breaks its contract (raises, or answers with the
    wrong number of outcomes) failing this batch only."""
    try:
        outcomes = await engine.generate(requests)
    except Exception as exc:  # noqa: BLE001 - any engine bug becomes this batch's failure
        return [EngineFailure(r.request_id, ErrorCode.ENGINE_ERROR, f"{exc!r}") for r in requests]
    if len(outcomes) != len(requests):
        message = "engine returned a wrong number of results"
        return [EngineFailure(r.request_id, ErrorCode.ENGINE_ERROR, message) for r in requests]
    return outcomes
