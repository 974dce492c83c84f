"""Peak resident memory of a whole run (parent and render workers together)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
    except OSError:
        pass
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, in KiB."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _rss_kib(current)
        stack.extend(_children(current))
    return total


def peak_tree_rss(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, int]:
    """Run `command`; return (peak KiB of its process tree, seconds, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode not in (0, 1):
        sys.stderr.write(stderr[-2000:])
    return peak, time.perf_counter() - started, process.returncode
