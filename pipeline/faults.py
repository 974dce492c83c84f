"""Named points where the crash and signal tests stop the process.

`DOCEXTRACT_KILL_AT=NAME`, `NAME:N` or `NAME:N:SIGNAL` sends SIGNAL (default SIGKILL) to this
process the N-th time (default first) the run passes the point NAME, e.g.
`before-generate:5:SIGTERM`. Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passes: Counter[str] = Counter()


def fault_point(name: str) -> None:
    spec = os.environ.get("DOCEXTRACT_KILL_AT")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, signal_name = rest.partition(":")
    _passes[name] += 1
    if _passes[name] == int(count or 1):
        os.kill(os.getpid(), signal.Signals[signal_name or "SIGKILL"])
