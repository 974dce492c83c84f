"""`docextract run --engine-restarts N`: after the engine's processes died, the same command
again, in this process, with a fresh engine.

A dead sglang engine leaves this process with its CUDA context and the engine's share of its
state; a fresh process is the clean start. So the run, once it has committed what it settled
and ended (`engine_died`), replaces this process with its own command line (`os.execve`), the
count of restarts so far in DOCEXTRACT_ENGINE_RESTART. The new run skips what is committed and
takes up the rest, as any re-run does.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from pipeline.stopping import STOP_SIGNALS

RESTART_COUNT = "DOCEXTRACT_ENGINE_RESTART"
"""How many times this command has been started again after its engine died (unset: 0)."""


def restarts_done() -> int:
    """The restarts behind this process (0 for the command as the user started it)."""
    text = os.environ.get(RESTART_COUNT, "")
    return int(text) if text.isdigit() else 0


def start_again() -> NoReturn:
    """Replace this process with its own command line, one more restart counted.

    Output still buffered is written first. Every descriptor above stderr is closed on exec:
    one of the GPU driver's that a library opened without close-on-exec would otherwise keep
    the dead engine's memory held in the new process. The stop signals go back to their
    defaults and none stays blocked, since an ignored or blocked signal stays so across exec
    (the run ignores the dead engine's echoes of SIGQUIT while it winds down)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    _close_on_exec()
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    env = {**os.environ, RESTART_COUNT: str(restarts_done() + 1)}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def _close_on_exec() -> None:
    listing = Path("/proc/self/fd")
    if not listing.is_dir():
        return  # no /proc: Python's own descriptors are close-on-exec already (PEP 446)
    for entry in listing.iterdir():
        fd = int(entry.name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue  # the descriptor of the listing itself, closed by now
