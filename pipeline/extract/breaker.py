"""When an engine that was answering stops being reachable, the run stops instead of writing
every remaining document as a failure."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeGuard

from pipeline.engines.base import EngineFailure, EngineOutcome
from pipeline.errors import EngineGone, ErrorCode


def unreachable(outcome: EngineOutcome) -> TypeGuard[EngineFailure]:
    """Whether `outcome` says the engine could not be reached (after its own retries)."""
    return isinstance(outcome, EngineFailure) and outcome.code == ErrorCode.ENGINE_UNAVAILABLE


class Breaker:
    """Counts requests in a row that could not reach the engine, and when it became
    unreachable; `observe` raises EngineGone once `requests` in a row have failed so and the
    first of them is `seconds` old. Any other outcome closes it again."""

    def __init__(
        self, requests: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.requests, self.seconds, self.clock = requests, seconds, clock
        self.in_a_row = 0
        self.since: float | None = None
        self.last = ""

    def observe(self, outcomes: Sequence[EngineOutcome]) -> None:
        for outcome in outcomes:
            if not unreachable(outcome):
                self.in_a_row, self.since = 0, None
                continue
            self.in_a_row += 1
            self.since = self.clock() if self.since is None else self.since
            self.last = outcome.message
        if self.since is None or self.in_a_row < self.requests:
            return
        waited = self.clock() - self.since
        if waited >= self.seconds:
            raise EngineGone(
                f"the engine stopped answering: {self.in_a_row} requests in a row over "
                f"{waited:.0f}s could not reach it ({self.last})"
            )
