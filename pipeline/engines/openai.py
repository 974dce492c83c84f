"""OpenAI-compatible client engine: an SGLang server, a router fleet, or any such endpoint.

Each request becomes one POST to `{base_url}/chat/completions` with the page images as data
URIs in page order and the JSON schema as `response_format`. Concurrency is bounded; 429, 5xx
and connection errors are retried with exponential backoff and jitter (honouring Retry-After),
by tenacity; a request waiting for its next attempt gives its concurrency slot back.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from pipeline.config import DEFAULT_MODEL, EngineConfig
from pipeline.engines.base import (
    EngineBase,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    gather_per_request,
)
from pipeline.errors import EngineUnavailable, ErrorCode
from pipeline.records import Page

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 120.0


def encode_image_part(page: Page, image_format: str = "png", quality: int = 90) -> dict[str, Any]:
    """An OpenAI `image_url` content part holding the page as a base64 data URI."""
    buffer = io.BytesIO()
    image = page.to_pil()
    if image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=quality)
        mime = "image/jpeg"
    else:
        image.save(buffer, format="PNG", compress_level=1)
        mime = "image/png"
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def build_body(request: EngineRequest, model: str, image_format: str = "png") -> dict[str, Any]:
    """The chat-completions JSON body for one request; `"logprobs": true` only when the
    request asks for log-probabilities."""
    sampling = request.sampling
    body = {
        "model": model,
        "messages": request.messages(lambda page: encode_image_part(page, image_format)),
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "extraction", "schema": request.json_schema, "strict": True},
        },
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
    }
    if request.logprobs:
        body["logprobs"] = True
    return body


def parse_response(request_id: str, payload: Any, elapsed_s: float) -> EngineOutcome:
    """A chat-completions response as an outcome."""
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        message = f"malformed response: {payload!r}"[:500]
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, message)
    reason = choice.get("finish_reason") or "stop"
    usage = payload.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return EngineResult(
        request_id=request_id,
        text=text,
        finish_reason="length" if reason == "length" else "abort" if reason == "abort" else "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
        latency_s=elapsed_s,
        served_model=_served_model(payload),
        **read_logprobs(choice),
    )


def read_logprobs(choice: dict[str, Any]) -> dict[str, Any]:
    """`logprobs` and `tokens` of an answer from `choice["logprobs"]["content"]`, one entry
    per token (`token`, `logprob`, and `bytes` where the server gives them: a token holding
    part of a character is read from its bytes); empty when the server gave none."""
    content = (choice.get("logprobs") or {}).get("content") if isinstance(choice, dict) else None
    if not isinstance(content, list) or not content:
        return {}
    try:
        values = tuple(float(entry["logprob"]) for entry in content)
        tokens = tuple(
            bytes(entry["bytes"]).decode("utf-8", errors="replace")
            if isinstance(entry.get("bytes"), list)
            else str(entry["token"])
            for entry in content
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}
    return {"logprobs": values, "tokens": tokens}


def _served_model(payload: dict[str, Any]) -> str | None:
    model = payload.get("model")
    return model if isinstance(model, str) and model else None


def retry_delay(attempt: int, backoff_s: float, retry_after: str | None) -> float:
    """Seconds to wait before retry `attempt` (1-based): Retry-After when the server gave
    one, else exponential backoff with full jitter."""
    if retry_after:
        try:
            return min(_MAX_RETRY_AFTER_S, max(0.0, float(retry_after)))
        except ValueError:
            pass
    ceiling = backoff_s * (2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class _Retryable:
    """An attempt that failed in a way another attempt may not (busy, down, unreachable)."""

    failure: EngineFailure
    retry_after: str | None = None


class OpenAIEngine(EngineBase):
    """Client of an OpenAI-compatible chat-completions endpoint."""

    name = "openai"
    default_model = DEFAULT_MODEL

    def __init__(self, config: EngineConfig, image_format: str = "png") -> None:
        self.config = config
        self.settings = config.openai
        self.model = self.model_for(config)
        self.max_in_flight = self.settings.concurrency
        self.image_format = image_format
        self.url = self.settings.base_url.rstrip("/") + "/chat/completions"
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Check that a server answers at the base URL (any HTTP answer will do), so a dead
        server stops the run at once with EngineUnavailable instead of failing every document."""
        probe = self.settings.base_url.rstrip("/") + "/models"
        try:
            httpx.get(probe, headers=self._headers(), timeout=min(10.0, self.settings.timeout_s))
        except httpx.TransportError as exc:
            raise EngineUnavailable(
                f"no server answers at {self.settings.base_url} ({type(exc).__name__}: {exc}); "
                "start it, or point --base-url at it"
            ) from exc

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.settings.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            limits = httpx.Limits(
                max_connections=self.settings.concurrency,
                max_keepalive_connections=self.settings.concurrency,
            )
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_s),
                limits=limits,
                headers=self._headers(),
            )
            self._slots = asyncio.Semaphore(self.settings.concurrency)
            self._loop = loop
        assert self._slots is not None
        return self._client, self._slots

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        client, slots = self._ensure_client()
        return await gather_per_request(
            requests, lambda request: self._generate_one(client, slots, request)
        )

    async def _generate_one(
        self, client: httpx.AsyncClient, slots: asyncio.Semaphore, request: EngineRequest
    ) -> EngineOutcome:
        body = await asyncio.to_thread(build_body, request, self.model, self.image_format)
        backoff_s = self.settings.backoff_s

        def last(state: RetryCallState) -> _Retryable:
            failed = state.outcome.result() if state.outcome is not None else None
            assert isinstance(failed, _Retryable)
            return failed

        def wait(state: RetryCallState) -> float:
            return retry_delay(state.attempt_number, backoff_s, last(state).retry_after)

        def give_up(state: RetryCallState) -> EngineOutcome:
            return last(state).failure

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=wait,
            retry=retry_if_result(lambda outcome: isinstance(outcome, _Retryable)),
            retry_error_callback=give_up,
        )
        outcome: EngineOutcome | _Retryable = await retrying(
            self._attempt, client, slots, request, body
        )
        assert not isinstance(outcome, _Retryable)  # give_up unwraps the last one
        return outcome

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        slots: asyncio.Semaphore,
        request: EngineRequest,
        body: dict[str, Any],
    ) -> EngineOutcome | _Retryable:
        """One POST, holding a concurrency slot: the outcome, or a failure worth retrying."""
        started = time.perf_counter()
        async with slots:
            try:
                response = await client.post(self.url, json=body)
            except httpx.ConnectTimeout as exc:
                return _Retryable(EngineFailure(
                    request.request_id,
                    ErrorCode.ENGINE_UNAVAILABLE,
                    f"cannot connect to {self.url}: {type(exc).__name__}",
                ))  # fmt: skip
            except httpx.TimeoutException as exc:  # the server is working on it: not retried
                return EngineFailure(
                    request.request_id,
                    ErrorCode.ENGINE_TIMEOUT,
                    f"no answer from {self.url} within {self.settings.timeout_s:g}s "
                    f"({type(exc).__name__})",
                )
            except httpx.TransportError as exc:
                return _Retryable(EngineFailure(
                    request.request_id,
                    ErrorCode.ENGINE_UNAVAILABLE,
                    f"cannot reach {self.url}: {type(exc).__name__}: {exc}",
                ))  # fmt: skip
        elapsed = time.perf_counter() - started
        if response.status_code == 200:
            try:
                payload = response.json()
            except ValueError:
                payload = response.text
            return parse_response(request.request_id, payload, elapsed)
        failure = EngineFailure(
            request.request_id,
            ErrorCode.ENGINE_ERROR,
            f"HTTP {response.status_code} from {self.url}: {response.text[:300]}",
        )
        if response.status_code not in _RETRY_STATUS:
            return failure
        return _Retryable(failure, response.headers.get("retry-after"))

    def close(self) -> None:
        """Close the HTTP pool; safe to call twice and from outside the event loop."""
        client, self._client = self._client, None
        if client is None:
            return
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            running.create_task(client.aclose())
        elif loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(client.aclose())
        # A closed loop already dropped the sockets; nothing is left to release.

    async def aclose(self) -> None:
        """Close the HTTP pool from inside the event loop."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
