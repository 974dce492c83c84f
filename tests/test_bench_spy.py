"""py-spy profiles of a benchmark's processes (pipeline/bench/spy.py), with the real py-spy."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

from pipeline.bench.spy import (
    Spy,
    find_py_spy,
    format_profile,
    read_stacks,
    targets,
    top_frames,
)

BUSY = "def burn():\n    while True:\n        sum(range(10_000))\nburn()\n"


def _titled(title: str, code: str) -> subprocess.Popen[bytes]:
    """A Python child whose command line starts with `title`, as sglang names its processes."""
    return subprocess.Popen(["bash", "-c", f'exec -a "{title}" "{sys.executable}" -c "$0"', code])


def test_targets_are_this_process_and_the_titled_descendants():
    scheduler = _titled("sglang::scheduler", "import time; time.sleep(30)")
    other = _titled("sglang::detokenizer", "import time; time.sleep(30)")
    try:
        time.sleep(0.5)
        found = targets(__import__("os").getpid())
        assert found["main"] == __import__("os").getpid()
        assert found["scheduler"] == scheduler.pid
        assert other.pid not in found.values()
    finally:
        scheduler.kill()
        other.kill()


def test_a_raw_profile_ranks_frames_by_self_and_by_total(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "loop (a.py:1);step (a.py:9);fill (g.py:3) 6\n"
        "loop (a.py:2);step (a.py:9) 3\n"
        "loop (a.py:1);recv (z.py:5) 1\n"
    )
    stacks = read_stacks(raw)
    assert stacks[("loop (a.py)", "step (a.py)", "fill (g.py)")] == 6  # line numbers dropped
    assert stacks[("loop (a.py)", "step (a.py)")] == 3
    by_self = top_frames(stacks, 2)
    assert [(r.frame, r.self_share, r.total_share) for r in by_self] == [
        ("fill (g.py)", 0.6, 0.6), ("step (a.py)", 0.3, 0.9)]  # fmt: skip
    assert top_frames(stacks, 1, by="total")[0].frame == "loop (a.py)"
    assert top_frames(Counter()) == []


@pytest.mark.slow
def test_spy_records_where_the_scheduler_spends_its_cpu(tmp_path):
    if find_py_spy() is None:
        pytest.skip("py-spy is not installed")
    busy = _titled("sglang::scheduler", BUSY)
    try:
        time.sleep(0.5)
        with Spy(tmp_path, "run") as spy:
            time.sleep(2)
    finally:
        busy.kill()
    assert set(spy.files) == {"main", "scheduler"}
    stacks = read_stacks(spy.files["scheduler"])
    assert sum(stacks.values()) > 50  # about 100 a second while it burns
    top = top_frames(stacks, 1)[0]  # sum() runs in C: its time is burn's own
    assert top.frame.startswith("burn (") and top.self_share > 0.9
    assert "by self" in format_profile(spy.files["scheduler"])


def test_without_a_folder_spy_records_nothing():
    with Spy(None, "run") as spy:
        pass
    assert spy.files == {}
