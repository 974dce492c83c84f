"""Standard streams a command can always write to, whoever reads them and whether they are open.

A nightly run's output goes wherever its caller sends it: a pipe into `head` or a logger that
may exit first, or nowhere at all (cron started with a descriptor closed). None of that is a
reason to stop a run or to change its exit code, so a reader that goes away silences the stream
instead of failing the run, and a closed descriptor is opened on /dev/null before anything else
can take its number (a file that did would receive what is printed).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, TextIO


class ForgivingStream:
    """A text stream that stops writing, rather than raising, once its reader has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._give_up(exc)
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EPIPE:
            raise exc
        try:  # later writes, buffered or not, and the flush at exit go to /dev/null
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    """Open each closed standard descriptor on /dev/null, and make stdout and stderr forgiving."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process
    if not isinstance(sys.stdout, ForgivingStream):
        sys.stdout = ForgivingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, ForgivingStream):
        sys.stderr = ForgivingStream(sys.stderr)  # type: ignore[assignment]
