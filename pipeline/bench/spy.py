"""Sampling profiles of the processes a benchmark run drives, taken with py-spy.

`Spy(folder, label)` records, while its block runs, this process and every descendant whose
name is one of `TARGETS` (sglang's scheduler), each as py-spy's raw collapsed stacks in
`folder/<label>.<role>.txt` ("frame;frame;... count" a line, outermost frame first).
`top_frames` reads such a file back as the frames that held the CPU the most: by samples in
the frame itself (self) and by samples anywhere under it (total).

py-spy is a separate program (`pip install py-spy`); where it is missing, Spy records nothing
and says so once.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TARGETS = {"sglang::scheduler": "scheduler"}
"""Process titles (as sglang sets them) to record, and the role each is filed under."""

RATE_HZ = 100

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_LINE_NUMBER = re.compile(r":\d+\)$")


def process_title(pid: int) -> str:
    """A process's title: the first word of its command line ("" once it has ended)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.split(b"\0", 1)[0].decode(errors="replace").strip()


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, read from /proc (children before grandchildren)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        children = [c for p in frontier for c in sorted(parents.get(p, []))]
        found += children
        frontier = children
    return found


def targets(root: int) -> dict[str, int]:
    """{role: pid}: `root` as "main", and its descendants named in TARGETS (a second process of
    a role, as with several data-parallel replicas, is filed as role1, role2, ...)."""
    found = {"main": root}
    for pid in descendants(root):
        title = process_title(pid)
        for prefix, role in TARGETS.items():
            if title.startswith(prefix):
                name, n = role, 0
                while name in found:
                    n += 1
                    name = f"{role}{n}"
                found[name] = pid
    return found


def find_py_spy() -> str | None:
    """The py-spy program: on PATH, else beside this Python (a virtual environment's bin)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


class Spy:
    """Use as `with Spy(folder, label):` around the code to profile; `files` after it."""

    def __init__(self, folder: Path | None, label: str, rate_hz: int = RATE_HZ) -> None:
        self.folder = folder
        self.label = label
        self.rate_hz = rate_hz
        self.files: dict[str, Path] = {}
        self._recorders: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Spy:
        if self.folder is None:
            return self
        program = find_py_spy()
        if program is None:
            log.warning("py-spy is not installed: no profile of %s", self.label)
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for role, pid in targets(os.getpid()).items():
            path = self.folder / f"{self.label}.{role}.txt"
            command = [
                program, "record", "--pid", str(pid), "--rate", str(self.rate_hz),
                "--format", "raw", "--output", str(path), "--nonblocking",
            ]  # fmt: skip
            self._recorders.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            self.files[role] = path
        return self

    def __exit__(self, *exc_info: object) -> None:
        for recorder in self._recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for recorder in self._recorders:
            try:
                recorder.wait(timeout=60)
            except subprocess.TimeoutExpired:
                recorder.kill()
        self.files = {role: path for role, path in self.files.items() if path.exists()}


@dataclass(frozen=True, slots=True)
class FrameShare:
    """One frame's share of a profile's samples."""

    frame: str
    self_share: float
    total_share: float


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy raw output as {stack (outermost first, line numbers dropped): samples}."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        frames = tuple(_LINE_NUMBER.sub(")", f) for f in match["stack"].split(";"))
        stacks[frames] += int(match["count"])
    return stacks


def _counts(stacks: Counter[tuple[str, ...]]) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, samples in each frame itself, samples anywhere under each frame)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    for frames, n in stacks.items():
        own[frames[-1]] += n
        for frame in set(frames):
            under[frame] += n
    return max(sum(stacks.values()), 1), own, under


def top_frames(
    stacks: Counter[tuple[str, ...]], count: int = 25, by: str = "self"
) -> list[FrameShare]:
    """The `count` frames with the most samples `by` "self" (in the frame itself) or "total"
    (anywhere under it)."""
    samples, own, under = _counts(stacks)
    ranked = (own if by == "self" else under).most_common(count)
    return [FrameShare(frame, own[frame] / samples, under[frame] / samples) for frame, _ in ranked]


def format_profile(path: Path, count: int = 25) -> str:
    """A text table of a raw profile: samples, then the top frames by self and by total."""
    stacks = read_stacks(path)
    lines = [f"{path.name}: {sum(stacks.values())} samples at {RATE_HZ} Hz"]
    for by in ("self", "total"):
        lines.append(f"  by {by}:   self  total  frame")
        rows = top_frames(stacks, count, by)
        lines += [f"        {r.self_share:6.1%} {r.total_share:6.1%}  {r.frame}" for r in rows]
    return "\n".join(lines)
