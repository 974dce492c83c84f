"""Stopping a run in order: a second signal, an engine death's echoes, a commit that a cancel
cannot cut short. (Signals mid-run through the CLI are in test_crash.py.)"""

from __future__ import annotations

import signal

import pytest


def test_a_second_signal_while_stopping_raises_at_once() -> None:
    import asyncio

    from pipeline.errors import RunInterrupted
    from pipeline.stopping import StopSignals

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with StopSignals(task) as stop:
            stop._on_signal(signal.SIGTERM, None)
            assert stop.received == signal.SIGTERM
            with pytest.raises(RunInterrupted) as second:
                stop._on_signal(signal.SIGINT, None)
            assert second.value.exit_code == 130
            stop._on_signal(signal.SIGQUIT, None)  # sglang's watchdog may repeat itself
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(1)
            task.uncancel()

    asyncio.run(main())
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored on leaving


def test_after_an_engine_death_its_echoes_are_ignored() -> None:
    import asyncio

    from pipeline.stopping import StopSignals

    def launch_phase(signum, frame) -> None:
        raise AssertionError("must not run while the run winds down")

    previous = signal.signal(signal.SIGQUIT, launch_phase)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with StopSignals(task) as stop:
            stop._on_signal(signal.SIGQUIT, None)
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(1)
            task.uncancel()

    try:
        asyncio.run(main())
        assert signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGQUIT, previous)


def test_commit_is_not_cut_short_by_a_cancel() -> None:
    import asyncio

    from pipeline.stopping import finish_despite_cancel

    finished: list[str] = []

    async def commit() -> None:
        await asyncio.sleep(0.05)
        finished.append("commit")

    async def main() -> None:
        worker = asyncio.create_task(finish_despite_cancel(commit()))
        await asyncio.sleep(0.01)
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(main())
    assert finished == ["commit"]
