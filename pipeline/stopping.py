"""How a run stops early without losing finished work.

A signal never kills a run in the middle of a write:
- While the orchestrator's event loop runs, `run_until_stopped` turns SIGINT, SIGTERM and
  SIGQUIT into a cancellation of the run's task. The stages unwind, the writer commits what is
  finished, and RunInterrupted (SIGINT, SIGTERM) or EngineDied (SIGQUIT: sglang and the sglang
  adapter send it when one of the engine's processes died) is raised in its place.
- Around the rest of a run, `signals_raise` makes SIGINT and SIGTERM raise RunInterrupted, so
  every context manager (output lock, ledger, engine) unwinds as it does for any exception.

A second SIGINT or SIGTERM while a run is already stopping raises RunInterrupted at once.
Handlers can only be installed from the main thread; in other threads both helpers do nothing.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from pipeline.errors import EngineDied, RunInterrupted, RunStopped

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def raise_interrupted(signum: int, frame: FrameType | None) -> None:
    """Signal handler: raise RunInterrupted for `signum` in the main thread."""
    raise RunInterrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise RunInterrupted; the old handlers come back after."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, raise_interrupted) for sig in STOP_SIGNALS[:2]}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StopSignals:
    """While active, the stop signals cancel `task` (once) and are remembered in `received`."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if _in_main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            # After an engine death, more SIGQUITs are its echoes (sglang's watchdog and
            # docextract's both send one): ignore them while the run winds down.
            echo = sig == signal.SIGQUIT and self.received == signal.SIGQUIT
            signal.signal(sig, signal.SIG_IGN if echo else handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)
        elif signum != signal.SIGQUIT:
            raise RunInterrupted(signum)

    def error(self) -> RunStopped | None:
        """The exception that says why the run stopped, or None when no signal came."""
        if self.received is None:
            return None
        if self.received == signal.SIGQUIT:
            return EngineDied(
                "the engine stopped during the run: one of its processes died (SIGQUIT); "
                "its own log above says why. If it ran out of GPU memory, lower "
                "mem_fraction_static, max_running_requests or --max-pages"
            )
        return RunInterrupted(self.received)


async def run_until_stopped(work: Coroutine[Any, Any, T]) -> T:
    """Await `work`; a stop signal cancels it and raises RunInterrupted or EngineDied instead."""
    task = asyncio.current_task()
    assert task is not None, "run_until_stopped runs inside a task"
    with StopSignals(task) as stop:
        try:
            return await work
        except asyncio.CancelledError:
            error = stop.error()
            if error is None:
                raise
            task.uncancel()
            raise error from None


async def finish_despite_cancel(work: Awaitable[T]) -> T:
    """Await `work` to its end even when the awaiting task is cancelled meanwhile (then the
    cancellation is raised after `work` finished): for commits that must not be cut short."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await future
        raise
