"""The breaker that stops a run whose engine went away, on a clock the test moves."""

from __future__ import annotations

import pytest

from pipeline.engines.base import EngineFailure, EngineResult
from pipeline.errors import EngineGone, ErrorCode, ExitCode
from pipeline.extract.breaker import Breaker


def _gone(n: int) -> EngineFailure:
    return EngineFailure(f"r{n}", ErrorCode.ENGINE_UNAVAILABLE, "cannot reach http://h/v1")


def test_it_trips_once_enough_requests_failed_and_long_enough_ago():
    now = [100.0]
    breaker = Breaker(requests=3, seconds=30, clock=lambda: now[0])
    breaker.observe([_gone(1), _gone(2), _gone(3), _gone(4)])  # many, but not for long
    now[0] = 129.0
    breaker.observe([_gone(5)])
    now[0] = 131.0
    with pytest.raises(EngineGone, match="6 requests in a row over 31s") as caught:
        breaker.observe([_gone(6)])
    assert caught.value.exit_code == ExitCode.ENGINE and caught.value.ended == "engine_gone"


def test_one_answer_closes_it_and_other_failures_do_not_count():
    now = [0.0]
    breaker = Breaker(requests=2, seconds=10, clock=lambda: now[0])
    breaker.observe([_gone(1), _gone(2)])
    now[0] = 20.0
    breaker.observe([EngineResult("r3", "{}", "stop", 1, 1)])  # the server is back
    breaker.observe([_gone(4)])
    now[0] = 40.0
    breaker.observe([EngineFailure("r5", ErrorCode.ENGINE_TIMEOUT, "slow"), _gone(6)])
    assert breaker.in_a_row == 1  # the timeout answered: only r6 counts
    now[0] = 60.0
    with pytest.raises(EngineGone):
        breaker.observe([_gone(7)])
