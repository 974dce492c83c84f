"""The in-process sglang Engine's processes beside docextract's own: start, signals, death.

sglang runs its scheduler and detokenizer (and, with dp_size > 1, a data-parallel controller) as
child processes, and by default it handles trouble by killing the whole process tree,
docextract included (exit 137, no report, no message). docextract owns these moments instead:

- Start: SIGINT and SIGTERM are blocked in the main thread while sglang spawns its children, so
  they inherit the block: a Ctrl-C in the terminal (sent to the whole process group) reaches
  docextract only, which stops the run in order and then shuts the engine down. A signal that
  comes during the start is acted on at the latest when the start returns.
- sglang's launch-phase SIGQUIT ("a child failed") is `engine_process_died`, which raises
  EngineDied in the main thread instead of SIGKILLing docextract.
- On the first request sglang installs its own SIGTERM and SIGQUIT handlers on the event loop
  (SIGTERM drains and then exits 0; SIGQUIT kills the process tree). `reclaim_signals` puts back
  the handlers that were there before (the run's StopSignals), so SIGTERM stops the run with
  143 and SIGQUIT with EngineDied.
- docextract adopts the orphans of a crashed sglang process (`adopt_orphans`), so the engine's
  shutdown ends them with the rest of its process tree.
- `ChildWatch` notices a child that died (some releases watch only in the HTTP server) and
  sends SIGQUIT, the same signal sglang's own watchdog sends.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from pipeline.engines.weights import fetch_command
from pipeline.errors import EngineDied

log = logging.getLogger(__name__)

DEFERRED_SIGNALS = {signal.SIGINT, signal.SIGTERM}
RECLAIMED_SIGNALS = (signal.SIGTERM, signal.SIGQUIT)
PR_SET_CHILD_SUBREAPER = 36


def engine_process_died(signum: int, frame: FrameType | None) -> None:
    """sglang's `custom_sigquit_handler`: a child process failed while the engine started."""
    raise EngineDied("one of sglang's processes died; its log above says why")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread, and so in every process it spawns, while inside.

    On leaving, the old mask comes back and a signal that arrived meanwhile is delivered.
    """
    if not _in_main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def reclaim_signals(engine: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Let sglang set up its request loop now, then put back the SIGTERM and SIGQUIT handlers
    that were in place before it replaced them with its own."""
    manager = getattr(engine, "tokenizer_manager", None)
    create = getattr(manager, "auto_create_handle_loop", None)
    if create is None or not _in_main_thread():
        return
    kept = {sig: signal.getsignal(sig) for sig in RECLAIMED_SIGNALS}
    create()
    for sig, handler in kept.items():
        loop.remove_signal_handler(sig)
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def adopt_orphans() -> bool:
    """Make this process the subreaper of its descendants (Linux; False elsewhere).

    A process that an sglang process started (a compile worker, say) outlives that process
    when it crashes; it is then re-parented here instead of to init, so the engine's
    shutdown, which kills this process's whole tree, ends it too.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def spawned_since(before: set[multiprocessing.process.BaseProcess]) -> list[Any]:
    """The child processes started since `before` was taken (multiprocessing's own list)."""
    return [p for p in multiprocessing.active_children() if p not in before]


class ChildWatch:
    """Polls processes; when one has died with a failure, sends SIGQUIT to this process once."""

    def __init__(self, processes: list[Any], interval_s: float = 1.0) -> None:
        self.processes = processes
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="engine-watch", daemon=True)

    def start(self) -> ChildWatch:
        if self.processes:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s * 2)

    def dead(self) -> list[str]:
        """'name (pid N) exit code X' for each watched process that ended with a failure."""
        return [
            f"{p.name} (pid {p.pid}) exit code {p.exitcode}"
            for p in self.processes
            if not p.is_alive() and p.exitcode not in (0, None)
        ]

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            if dead := self.dead():
                log.error("sglang process died: %s", "; ".join(dead))
                os.kill(os.getpid(), signal.SIGQUIT)
                return


def explain_start_failure(exc: BaseException, model: str) -> str:
    """One message that says what to do about an engine that would not start."""
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if any(s in lowered for s in ("out of memory", "outofmemory", "not enough memory")):
        return (
            f"sglang ran out of GPU memory while starting ({text}). Lower mem_fraction_static "
            "(e.g. DOCEXTRACT_ENGINE__SGLANG__MEM_FRACTION_STATIC=0.7 or [engine.sglang] in "
            "docextract.toml), or lower context_length / max_running_requests."
        )
    if "scheduler died during initialization" in lowered:
        return (
            f"sglang's scheduler died while starting ({text}). Exit code -9 usually means the "
            "kernel's OOM killer ended it: free host memory or lower max_running_requests."
        )
    if any(
        s in lowered
        for s in (
            "does not appear to have",
            "is not a local folder and is not a valid model identifier",
            "repository not found",
            "localentrynotfounderror",
            "offline mode",
        )
    ):
        return f"the weights of {model} are not available here ({text}). {fetch_command(model)}"
    if isinstance(exc, EngineDied) or "initialization failed" in lowered:
        return f"sglang could not start with model {model}: {exc}; sglang's log above says why"
    return f"sglang could not start with model {model}: {text}"


def check_tensor_parallel(hf_config: dict[str, Any], tp_size: int) -> str | None:
    """Why `tp_size` cannot load a block-FP8 MoE model with this config.json, or None.

    Each GPU gets moe_intermediate_size / tp_size columns of every expert, and block FP8 needs
    that to be a whole number of weight blocks.
    """
    if tp_size <= 1:
        return None
    text = hf_config.get("text_config") or hf_config
    quant = hf_config.get("quantization_config") or text.get("quantization_config") or {}
    width = text.get("moe_intermediate_size")
    block = (quant.get("weight_block_size") or [None])[0]
    if not width or not block or (width % tp_size == 0 and (width // tp_size) % block == 0):
        return None
    return (
        f"tp_size {tp_size} cannot load this model: each GPU would hold {width / tp_size:g} of "
        f"its {width} MoE columns, not a multiple of the {block}-wide FP8 weight blocks. Leave "
        "tp_size at 1 (dp_size then runs one replica per GPU) or use a tp_size that divides it."
    )
