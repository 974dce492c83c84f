"""Signals stop a run in order: finished work committed, a summary, a documented exit code,
the run record saying how it ended, and a next run that finishes exactly once."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.run_helpers import (
    inbox_with_paths,
    ledger_items,
    null_run_args,
    paths_accounted,
    read_table,
    run_cli,
)

ARGS = null_run_args(workers=2)
SMALL_PARTS = {"DOCEXTRACT_PART_ROWS": "2"}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return inbox_with_paths(tmp_path_factory.mktemp("stopping") / "inbox")


def _run_record(out: Path) -> tuple[str, dict]:
    db = sqlite3.connect(out / "ledger.sqlite")
    (run_id, status), = db.execute("SELECT run_id, status FROM runs").fetchall()
    db.close()
    return status, json.loads((out / "runs" / f"{run_id}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_name", "exit_code", "ended", "says"),
    [
        ("SIGTERM", 143, "interrupted", "stopped by SIGTERM"),
        ("SIGINT", 130, "interrupted", "stopped by SIGINT"),
        ("SIGQUIT", 6, "engine_died", "one of its processes died"),
    ],
)
def test_signal_mid_run_commits_and_says_how_the_run_ended(
    inbox, tmp_path: Path, signal_name: str, exit_code: int, ended: str, says: str
) -> None:
    root, every_input = inbox
    out = tmp_path / "out"
    stopped = run_cli(
        ["run", str(root), "--out", str(out), *ARGS],
        env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": f"before-generate:6:{signal_name}"},
    )
    assert stopped.returncode == exit_code, stopped.stderr
    assert says in stopped.stderr and "committed" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    summary = json.loads(stopped.stdout.strip().splitlines()[-1])
    assert summary["ended"] == ended
    status, record = _run_record(out)
    assert status == ended and record["ended"] == ended
    committed = ledger_items(out)
    settled = record["extracted"] + record["failed"]
    assert settled == len(committed["ok"]) + len(committed["error"])
    assert 0 < len(committed["ok"]) < len(every_input)  # stopped mid-run, work kept
    assert sorted(committed["ok"]) == sorted(r["item_id"] for r in read_table(out, "invoice",
                                                                              "documents"))

    resumed = run_cli(["run", str(root), "--out", str(out), *ARGS], env=SMALL_PARTS)
    assert resumed.returncode == 1, resumed.stderr  # the broken inputs still fail
    assert Counter(paths_accounted(out, "invoice")) == Counter(every_input)


def test_a_second_signal_while_stopping_raises_at_once() -> None:
    import asyncio

    from pipeline.errors import RunInterrupted
    from pipeline.stopping import StopSignals

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        with StopSignals(task) as stop:
            stop._on_signal(signal.SIGTERM, None)
            assert stop.received == signal.SIGTERM
            with pytest.raises(RunInterrupted) as second:
                stop._on_signal(signal.SIGINT, None)
            assert second.value.exit_code == 130
            stop._on_signal(signal.SIGQUIT, None)  # sglang's watchdog may repeat itself
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(1)
            task.uncancel()

    asyncio.run(main())
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored on leaving


def test_commit_is_not_cut_short_by_a_cancel() -> None:
    import asyncio

    from pipeline.stopping import finish_despite_cancel

    finished: list[str] = []

    async def commit() -> None:
        await asyncio.sleep(0.05)
        finished.append("commit")

    async def main() -> None:
        worker = asyncio.create_task(finish_despite_cancel(commit()))
        await asyncio.sleep(0.01)
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(main())
    assert finished == ["commit"]
