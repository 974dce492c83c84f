"""A simulated GPU: a fixed number of batch slots, a fixed service time, null-engine answers.

Used to measure how well the orchestrator feeds an engine: `full_batch_fraction()` tells what
share of the busy time every batch slot was occupied.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pipeline.engines.base import EngineBase, EngineOutcome, EngineRequest, EngineResult
from pipeline.engines.null import answer_minimally


class SimulatedEngine(EngineBase):
    """Serves at most `max_batch` requests at once, each for `latency_s` (+ `per_token_s` per
    estimated completion token), and answers like the null engine."""

    name = "simulated"
    default_model = model = "simulated"

    def __init__(self, latency_s: float, max_batch: int, per_token_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.latency_s = latency_s
        self.max_batch = max_batch
        self.per_token_s = per_token_s
        self.max_in_flight = max_batch * 2
        self.served = 0
        self.images_per_request: list[int] = []
        self._slots: asyncio.Semaphore | None = None
        self._active = 0
        self._first: float | None = None
        self._last: float | None = None
        self._full_since: float | None = None
        self._full_total = 0.0

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_batch)
        now = time.perf_counter()
        if self._first is None:
            self._first = now
        # Counts only: holding the requests would hold every page image of the run.
        self.images_per_request.extend(len(request.images) for request in requests)
        return list(await asyncio.gather(*(self._serve(request) for request in requests)))

    async def _serve(self, request: EngineRequest) -> EngineOutcome:
        assert self._slots is not None
        async with self._slots:
            start = time.perf_counter()
            self._change_active(+1, start)
            outcome = answer_minimally(request)
            tokens = outcome.completion_tokens if isinstance(outcome, EngineResult) else 0
            try:
                await asyncio.sleep(self.latency_s + self.per_token_s * tokens)
            finally:
                end = time.perf_counter()
                self._change_active(-1, end)
                self._last = end
                self.served += 1
        if isinstance(outcome, EngineResult):
            outcome = EngineResult(
                request_id=outcome.request_id,
                text=outcome.text,
                finish_reason=outcome.finish_reason,
                prompt_tokens=outcome.prompt_tokens,
                completion_tokens=outcome.completion_tokens,
                latency_s=end - start,
            )
        return outcome

    def _change_active(self, delta: int, now: float) -> None:
        if self._active == self.max_batch and self._full_since is not None:
            self._full_total += now - self._full_since
            self._full_since = None
        self._active += delta
        if self._active == self.max_batch:
            self._full_since = now

    def full_batch_fraction(self) -> float:
        """Share of the time from the first request to the last answer during which all
        `max_batch` slots were busy (0.0 before any answer)."""
        if self._first is None or self._last is None or self._last <= self._first:
            return 0.0
        full = self._full_total
        if self._full_since is not None:
            full += time.perf_counter() - self._full_since
        return min(1.0, full / (self._last - self._first))
