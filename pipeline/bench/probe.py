"""What a benchmark run cost beyond its wall time: GPU busy fraction and memory, in all and by
process (sampled from nvidia-smi), and CPU seconds of this process by thread and of its child
processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of every live thread of this process, summed by thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    totals: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended while being read
        name = names.get(int(task.name)) or f"{comm} (native)"
        family = _family(name)
        totals[family] = totals.get(family, 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS
    return totals


def _family(name: str) -> str:
    """A pool thread's name without its number ("page-features_3" -> "page-features")."""
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def children_cpu_s() -> dict[str, float]:
    """CPU seconds of every live descendant process, summed by process name (needs psutil)."""
    try:
        import psutil
    except ImportError:
        return {}
    totals: dict[str, float] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            totals[child.name()] = totals.get(child.name(), 0.0) + times.user + times.system
        except psutil.Error:
            continue
    return totals


class _Sampled:
    """One `nvidia-smi --query-…=… -lms=N` stream, its lines split into fields as they come."""

    def __init__(self, smi: str, query: str, interval_ms: int) -> None:
        self.rows: list[list[str]] = []
        self._smi = subprocess.Popen(
            [smi, query, "--format=csv,noheader,nounits", f"-lms={interval_ms}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._smi.stdout is not None
        for line in self._smi.stdout:
            self.rows.append([part.strip() for part in line.split(",")])

    def stop(self) -> None:
        self._smi.terminate()
        self._smi.wait(timeout=5)
        self._reader.join(timeout=5)


class Probe:
    """Use as `with Probe() as probe:`; `probe.figures()` after the block."""

    def __init__(self, interval_ms: int = 200) -> None:
        self.interval_ms = interval_ms
        self._gpu: _Sampled | None = None
        self._apps: _Sampled | None = None
        self._roles: dict[int, str] = {}
        self._before: tuple[dict[str, float], dict[str, float]] = ({}, {})
        self._after: tuple[dict[str, float], dict[str, float]] = ({}, {})

    def __enter__(self) -> Probe:
        smi = shutil.which("nvidia-smi")
        if smi:
            self._gpu = _Sampled(smi, "--query-gpu=utilization.gpu,memory.used", self.interval_ms)
            self._apps = _Sampled(smi, "--query-compute-apps=pid,used_memory", self.interval_ms)
        self._before = (thread_cpu_s(), children_cpu_s())
        return self

    def __exit__(self, *exc_info: object) -> None:
        from pipeline.bench.spy import targets

        self._after = (thread_cpu_s(), children_cpu_s())
        self._roles = {pid: role for role, pid in targets(os.getpid()).items()}
        for stream in (self._gpu, self._apps):
            if stream is not None:
                stream.stop()

    def figures(self) -> dict[str, Any]:
        """GPU busy fraction and peak memory, of the GPU and of each process on it, by role
        ("main" is this process; None without nvidia-smi), and CPU seconds."""
        threads = _spent(self._before[0], self._after[0])
        children = _spent(self._before[1], self._after[1])
        samples = _numbers(self._gpu.rows if self._gpu else [])
        busy = [util for util, _ in samples]
        return {
            "gpu_busy": round(sum(busy) / len(busy) / 100, 3) if busy else None,
            "gpu_memory_peak_mib": max((mem for _, mem in samples), default=None),
            "gpu_memory_peak_mib_by_process": self._peaks_by_role(),
            "main_process_cpu_s": round(sum(threads.values()), 1),
            "cpu_s_by_thread": _top(threads),
            "cpu_s_by_child_process": _top(children),
        }

    def _peaks_by_role(self) -> dict[str, float] | None:
        if self._apps is None:
            return None
        peaks: dict[str, float] = {}
        for pid, mib in _numbers(self._apps.rows):
            role = self._roles.get(int(pid)) or f"pid {int(pid)}"
            peaks[role] = max(peaks.get(role, 0.0), mib)
        return peaks


def _numbers(rows: list[list[str]]) -> list[tuple[float, float]]:
    """The rows that hold two numbers (nvidia-smi prints "[N/A]" where it has none)."""
    pairs = []
    for row in rows:
        try:
            pairs.append((float(row[0]), float(row[1])))
        except (ValueError, IndexError):
            continue
    return pairs


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Seconds spent between the snapshots, by name (names still alive at the end)."""
    return {name: seconds - before.get(name, 0.0) for name, seconds in after.items()}


def _top(totals: dict[str, float], count: int = 8) -> dict[str, float]:
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return {name: round(seconds, 1) for name, seconds in ranked if seconds >= 0.05}
