"""The sglang engine's processes beside docextract's: real child processes, real signals."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time

import pytest

from pipeline.engines.sglang_process import (
    ChildWatch,
    check_tensor_parallel,
    explain_start_failure,
    reclaim_signals,
    signals_deferred,
    spawned_since,
)
from pipeline.errors import EngineDied

# Qwen/Qwen3-VL-30B-A3B-Instruct-FP8's config.json, the parts the check reads.
QWEN3_VL_30B_FP8 = {
    "text_config": {"moe_intermediate_size": 768, "num_experts": 128},
    "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
}


def _blocked_signals(queue) -> None:  # runs in a spawned child
    queue.put(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))


def _exit_with(code: int) -> None:  # runs in a spawned child
    time.sleep(0.2)
    os._exit(code)


def test_children_spawned_during_start_never_see_ctrl_c() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with signals_deferred():
        child = context.Process(target=_blocked_signals, args=(queue,))
        child.start()
    blocked = queue.get(timeout=60)
    child.join(timeout=60)
    assert int(signal.SIGINT) in blocked and int(signal.SIGTERM) in blocked
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # parent restored


def test_a_signal_during_start_is_not_lost() -> None:
    """Blocked in the main thread, it reaches the handler through another thread at once or
    when the block ends; either way exactly once."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        time.sleep(0.05)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(("code", "reported"), [(3, True), (0, False)])
def test_child_watch_sends_sigquit_when_a_child_fails(code: int, reported: bool) -> None:
    quits: list[int] = []
    previous = signal.signal(signal.SIGQUIT, lambda signum, frame: quits.append(signum))
    context = multiprocessing.get_context("spawn")
    before = set(multiprocessing.active_children())
    child = context.Process(target=_exit_with, args=(code,), name="scheduler")
    child.start()
    watch = ChildWatch(spawned_since(before), interval_s=0.1).start()
    try:
        deadline = time.monotonic() + 30
        while child.exitcode is None or (reported and not quits):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        assert quits == ([signal.SIGQUIT] if reported else [])
        if reported:
            assert watch.dead() == [f"scheduler (pid {child.pid}) exit code {code}"]
    finally:
        watch.stop()
        signal.signal(signal.SIGQUIT, previous)


class _TokenizerManager:
    """What sglang's TokenizerManager.auto_create_handle_loop does with signals (both releases):
    its own SIGTERM and SIGQUIT handlers on the running loop."""

    def __init__(self) -> None:
        self.sigterms = 0

    def auto_create_handle_loop(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._drain)
        loop.add_signal_handler(signal.SIGQUIT, lambda: os.kill(os.getpid(), signal.SIGKILL))

    def _drain(self) -> None:
        self.sigterms += 1


class _Engine:
    def __init__(self) -> None:
        self.tokenizer_manager = _TokenizerManager()


def test_the_run_keeps_its_signal_handlers_after_sglang_sets_up() -> None:
    seen: list[int] = []

    def mine(signum, frame) -> None:
        seen.append(signum)

    engine = _Engine()
    previous = {sig: signal.signal(sig, mine) for sig in (signal.SIGTERM, signal.SIGQUIT)}

    async def main() -> None:
        reclaim_signals(engine, asyncio.get_running_loop())
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGQUIT) is mine
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGQUIT)
        await asyncio.sleep(0.05)

    try:
        asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert seen == [signal.SIGTERM, signal.SIGQUIT]
    assert engine.tokenizer_manager.sigterms == 0


@pytest.mark.parametrize(("tp_size", "refused"), [(1, False), (2, False), (4, True), (8, True)])
def test_tensor_parallel_that_cannot_load_block_fp8_moe(tp_size: int, refused: bool) -> None:
    problem = check_tensor_parallel(QWEN3_VL_30B_FP8, tp_size)
    assert (problem is not None) == refused
    if refused:
        assert f"tp_size {tp_size}" in problem and "128" in problem and "768" in problem


def test_tensor_parallel_of_an_unquantized_model_is_not_refused() -> None:
    assert check_tensor_parallel({"text_config": {"moe_intermediate_size": 768}}, 8) is None


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "mem_fraction_static"),
        (
            RuntimeError(
                "Rank 0 scheduler died during initialization (exit code: -9). If exit code is "
                "-9 (SIGKILL), a common cause is the OS OOM killer."
            ),
            "OOM killer",
        ),
        (
            OSError("We couldn't connect to the hub and you are in offline mode"),
            "hf download Qwen/Qwen3-VL-30B-A3B-Instruct-FP8",
        ),
        (RuntimeError("Initialization failed. Please see the error messages above."), "log"),
        (EngineDied("one of sglang's processes died"), "processes died"),
    ],
)
def test_start_failures_are_explained(error: BaseException, advice: str) -> None:
    message = explain_start_failure(error, "Qwen/Qwen3-VL-30B-A3B-Instruct-FP8")
    assert advice in message


def test_an_unrelated_not_found_is_not_blamed_on_the_weights() -> None:
    message = explain_start_failure(KeyError("backend not found"), "m")
    assert "hf download" not in message and "backend not found" in message
