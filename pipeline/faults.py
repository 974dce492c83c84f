"""Named points where the crash, signal and soak tests break the run on purpose.

`DOCEXTRACT_KILL_AT=NAME`, `NAME:N` or `NAME:N:WHAT` acts the N-th time (default first) the run
passes the point NAME. WHAT is a signal sent to this process (default SIGKILL), e.g.
`before-generate:5:SIGTERM`, or ENOSPC to fail there as a full disk would (`after-part-rename:2:
ENOSPC`). Unset, a point costs one dictionary lookup.

A point passed in a render process (`render-task`, before each task it renders) counts and
acts in that process alone: `render-task:2` kills each render process at its second task, as
the kernel kills one that runs out of memory.
"""

from __future__ import annotations

import errno
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
    count, _, what = rest.partition(":")
    _passes[name] += 1
    if _passes[name] != int(count or 1):
        return
    if what == "ENOSPC":
        raise OSError(errno.ENOSPC, "No space left on device (DOCEXTRACT_KILL_AT)")
    os.kill(os.getpid(), signal.Signals[what or "SIGKILL"])
