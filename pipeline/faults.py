"""Named points where the crash tests kill the process.

`DOCEXTRACT_KILL_AT=NAME` or `NAME:N` sends SIGKILL to this process the N-th time (default
first) the run passes the point NAME. Unset, a point costs one dictionary lookup.
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
    target, _, count = spec.partition(":")
    if target != name:
        return
    _passes[name] += 1
    if _passes[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
