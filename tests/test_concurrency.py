"""Two runs on one output folder never corrupt it; shards split the work exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.output.lock import OutputLock
from tests.run_helpers import (
    ROOT,
    inbox_with_paths,
    null_run_args,
    paths_accounted,
    read_table,
    run_cli,
)

ARGS = null_run_args(workers=1)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return inbox_with_paths(tmp_path_factory.mktemp("concurrency") / "inbox")


def test_locked_output_exits_4_or_waits(inbox, tmp_path: Path) -> None:
    root, _ = inbox
    out = tmp_path / "out"
    with OutputLock(out):
        busy = run_cli(["run", str(root), "--out", str(out), *ARGS])
        assert busy.returncode == 4
        assert "another docextract run" in busy.stderr and "--wait" in busy.stderr
        started = time.monotonic()
        waiting = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                str(root),
                "--out",
                str(out),
                *ARGS,
                "--wait",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert waiting.poll() is None  # still queued behind the lock
    _, waited_log = waiting.communicate(timeout=120)
    assert waiting.returncode == 1 and time.monotonic() - started >= 1.5
    assert "waiting for it to finish (--wait)" in waited_log
    assert len(read_table(out, "invoice", "documents")) == 11


@pytest.mark.slow
def test_two_overlapping_runs_and_two_shards(inbox, tmp_path: Path) -> None:
    root, every_input = inbox

    def launch(out: Path, *extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(root), "--out", str(out), *ARGS, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    same = tmp_path / "same"
    first, second = launch(same, "--wait"), launch(same, "--wait")
    summaries = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=180)
        assert "Traceback" not in stderr, stderr
        summaries.append(json.loads(stdout.strip().splitlines()[-1]))
    # the inbox's broken files fail (or stand failed) in both runs, so both exit 1
    assert [first.returncode, second.returncode] == [1, 1]
    # one did the work, the other found it done
    assert sorted(s["extracted"] + s["failed"] > 0 for s in summaries) == [False, True]
    assert Counter(paths_accounted(same, "invoice")) == Counter(every_input)

    shared = tmp_path / "shards"
    shard0, shard1 = launch(shared, "--shard", "0/2"), launch(shared, "--shard", "1/2")
    outputs = [p.communicate(timeout=180) for p in (shard0, shard1)]
    assert all(p.returncode in (0, 1) for p in (shard0, shard1)), outputs
    assert not any("Traceback" in stderr for _, stderr in outputs), outputs
    assert Counter(paths_accounted(shared, "invoice")) == Counter(every_input)
