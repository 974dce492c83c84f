"""Crash safety: SIGKILL a run at several points; the next run completes the work, each item
exactly once, and the ledger agrees with the Parquet files. Signals stop a run in order:
finished work committed, a summary, a documented exit code, the run record saying how it ended."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from pipeline.output.layout import ledger_path, manifests_dir, runs_dir, state_dir
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
    return inbox_with_paths(tmp_path_factory.mktemp("crash") / "inbox")


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    [
        "after-render:3",  # during rendering
        "before-generate:5",  # during inference, after some parts were committed
        "after-part-rename:2",  # between a part's rename and its ledger commit
        "after-ledger-commit:3",  # right after a commit
    ],
)
def test_killed_run_loses_nothing_and_duplicates_nothing(inbox, tmp_path: Path, point: str) -> None:
    root, every_input = inbox
    out = tmp_path / "out"
    killed = run_cli(
        ["run", str(root), "--out", str(out), *ARGS],
        env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": point},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = _parquet_hashes(out)

    resumed = run_cli(["run", str(root), "--out", str(out), *ARGS], env=SMALL_PARTS)
    assert resumed.returncode == 1, resumed.stderr  # the broken inputs still fail
    assert {path: _parquet_hashes(out).get(path) for path in left} == left  # untouched
    _assert_manifests_account_for_every_part(out, killed=1)
    assert Counter(paths_accounted(out, "invoice")) == Counter(every_input)
    documents = read_table(out, "invoice", "documents")
    errors = read_table(out, "invoice", "errors")
    items = ledger_items(out)
    assert sorted(items["ok"]) == sorted(r["item_id"] for r in documents)
    assert sorted(items["error"]) == sorted(r["item_id"] for r in errors)
    assert not list(out.glob("invoice/*/.*.tmp"))
    assert not list((state_dir(out) / "tmp").rglob("*.tmp"))

    third = run_cli(["run", str(root), "--out", str(out), *ARGS], env=SMALL_PARTS)
    assert third.returncode == 1, third.stderr  # nothing new, but the broken inputs stand failed
    assert read_table(out, "invoice", "documents") == documents


def _parquet_hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*.parquet")
    }


def _assert_manifests_account_for_every_part(out: Path, killed: int) -> None:
    """Each part is listed, with its checksum, by the manifest of the run that wrote it; the
    killed run's manifest was written by the next run."""
    manifests = [json.loads(p.read_text()) for p in manifests_dir(out).glob("*.json")]
    assert sorted(m["status"] for m in manifests).count("killed") == killed
    listed = {
        part["path"]: part["sha256"] for m in manifests for part in m["parts"]
        if f"part-{m['run_id']}-" in part["path"]
    }
    assert listed == _parquet_hashes(out)


def _run_record(out: Path) -> tuple[str, dict]:
    db = sqlite3.connect(ledger_path(out))
    (run_id, status), = db.execute("SELECT run_id, status FROM runs").fetchall()
    db.close()
    return status, json.loads((runs_dir(out) / f"{run_id}.json").read_text())


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
    assert json.loads(stopped.stdout.strip().splitlines()[-1])["ended"] == ended  # summary
    log = [json.loads(line) for line in stopped.stderr.splitlines() if line.startswith("{")]
    assert [e["ended"] for e in log if e["event"] == "finish"] == [ended]
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
