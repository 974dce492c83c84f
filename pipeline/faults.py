"""Named points where the crash, signal and soak tests break the run on purpose.

`DOCEXTRACT_KILL_AT=NAME`, `NAME:N` or `NAME:N:WHAT` acts the N-th time (default first) the run
passes the point NAME. WHAT is a signal sent to this process (default SIGKILL), e.g.
`before-generate:5:SIGTERM`, or ENOSPC to fail there as a full disk would (`after-part-rename:2:
ENOSPC`). SIGSTOP holds the run there until a SIGCONT, so a test can change the inbox at that
moment (`after-discover:1:SIGSTOP`). Several points are separated by commas. Unset, a point
costs one dictionary lookup.

The point `before-generate=NAME` is passed before each request for the file named NAME,
so `before-generate=poison.pdf:1:SIGQUIT` has the engine die whenever that file is asked.

A point passed in a render process (`render-task`, before each task it renders) counts and
acts in that process alone: `render-task:2` kills each render process at its second task, as
the kernel kills one that runs out of memory.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter
from collections.abc import Iterable

_passes: Counter[str] = Counter()


def fault_point(name: str, subjects: Iterable[str] = ()) -> None:
    """Pass the point `name` once, and `name=SUBJECT` once for each of `subjects` (read only
    when DOCEXTRACT_KILL_AT is set)."""
    spec = os.environ.get("DOCEXTRACT_KILL_AT")
    if not spec:
        return
    _pass(name, spec)
    for subject in subjects:
        _pass(f"{name}={subject}", spec)


def _pass(point: str, spec: str) -> None:
    points = (part.partition(":") for part in spec.split(","))
    mine = [rest for target, _, rest in points if target == point]
    if not mine:
        return
    _passes[point] += 1
    for rest in mine:
        count, _, what = rest.partition(":")
        if _passes[point] == int(count or 1):
            _act(what)


def _act(what: str) -> None:
    if what == "ENOSPC":
        raise OSError(errno.ENOSPC, "No space left on device (DOCEXTRACT_KILL_AT)")
    os.kill(os.getpid(), signal.Signals[what or "SIGKILL"])
