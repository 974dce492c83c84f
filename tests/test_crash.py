"""Crash safety: SIGKILL a run at several points; the next run completes the work, each item
exactly once, and the ledger agrees with the Parquet files. Signals stop a run in order:
finished work committed, a summary, a documented exit code, the run record saying how it ended.

`docextract run --engine-restarts N`: a run whose engine died starts again in the same process
(exec of its own command line) and takes up what is not committed, at most N times. The engine's
death is sglang's signal for it, SIGQUIT, sent by the run to itself at its k-th request
(DOCEXTRACT_KILL_AT=before-generate:k:SIGQUIT), in every start alike, or at each request for
one file (before-generate=NAME:1:SIGQUIT): a document that kills the engine."""

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
    assert [e["ended"] for e in _events(stopped.stderr, "finish")] == [ended]
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


def _events(stderr: str, name: str) -> list[dict]:
    lines = (json.loads(line) for line in stderr.splitlines() if line.startswith("{"))
    return [event for event in lines if event.get("event") == name]


def _runs_ended(out: Path) -> list[str]:
    db = sqlite3.connect(ledger_path(out))
    ended = [status for (status,) in db.execute("SELECT status FROM runs ORDER BY rowid")]
    db.close()
    return ended


@pytest.mark.slow
def test_a_run_whose_engine_dies_starts_again_and_finishes_every_document(inbox, tmp_path):
    root, every_input = inbox
    out = tmp_path / "out"
    done = run_cli(
        ["run", str(root), "--out", str(out), *ARGS, "--engine-restarts", "9"],
        env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": "before-generate:4:SIGQUIT"},
    )
    assert done.returncode == 1, done.stderr  # the end of a whole run: the broken inputs fail
    restarts = _events(done.stderr, "restart")
    assert len(restarts) >= 1
    assert [e["restart"] for e in restarts] == list(range(1, len(restarts) + 1))
    assert all(e["of"] == 9 and e["reason"] == "engine_died" for e in restarts)
    assert "Traceback" not in done.stderr
    # each start ended as its log says: every one but the last with its engine dead
    finishes = [e["ended"] for e in _events(done.stderr, "finish")]
    assert finishes == ["engine_died"] * len(restarts) + ["finished"]
    assert _runs_ended(out) == finishes
    # every input once, in the tables and in the ledger alike
    assert Counter(paths_accounted(out, "invoice")) == Counter(every_input)
    items = ledger_items(out)
    assert sorted(items["ok"]) == sorted(r["item_id"] for r in read_table(out, "invoice",
                                                                          "documents"))


@pytest.mark.slow
def test_a_document_that_kills_the_engine_each_time_costs_the_night_one_failure(inbox, tmp_path):
    root, every_input = inbox
    out = tmp_path / "out"
    poison = str(root / "doc03.pdf")
    done = run_cli(
        ["run", str(root), "--out", str(out), *ARGS, "--engine-restarts", "2"],
        env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": "before-generate=doc03.pdf:1:SIGQUIT"},
    )
    assert done.returncode == 1, done.stderr  # the broken inputs, and now the poison, fail
    finishes = [e["ended"] for e in _events(done.stderr, "finish")]
    assert finishes in (["engine_died", "finished"], ["engine_died"] * 2 + ["finished"])
    # each death says what the next start does with the requests in flight: read them one at
    # a time, or, when the poison was the engine's only one, record it as failed
    said = [e["message"] for e in _events(done.stderr, "restart")]
    assert "one request in flight" in said[-1] and "killed_engine" in said[-1]
    assert all("one at a time" in message for message in said[:-1])
    errors = {row["source_path"]: row["code"] for row in read_table(out, "invoice", "errors")}
    assert errors[poison] == "killed_engine"
    assert Counter(paths_accounted(out, "invoice")) == Counter(every_input)


def _installed_command(args: list[str], env: dict[str, str]):
    """The `docextract` command itself (its script beside this Python), as a user starts it."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).parent / "docextract"
    if not script.exists():
        pytest.skip("no docextract script beside this Python")
    return subprocess.run([str(script), *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", ["python -m pipeline", "docextract"])
def test_restarts_stop_at_their_number_with_the_engines_exit_code(inbox, tmp_path, command):
    root, _ = inbox
    out = tmp_path / "out"
    start = run_cli if command == "python -m pipeline" else _installed_command
    stopped = start(
        ["run", str(root), "--out", str(out), *ARGS, "--engine-restarts", "1"],
        env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": "before-generate:2:SIGQUIT"},
    )
    assert stopped.returncode == 6, stopped.stderr
    assert [e["restart"] for e in _events(stopped.stderr, "restart")] == [1]
    [fatal] = _events(stopped.stderr, "fatal")
    assert fatal["exit_code"] == 6 and "one of its processes died" in fatal["message"]
    assert _runs_ended(out) == ["engine_died", "engine_died"]
    assert len(ledger_items(out)["ok"]) > 0  # what each start settled is kept
    assert "--engine-restarts" not in fatal["message"]  # it was set, and is used up


@pytest.mark.slow
def test_without_restarts_the_engines_death_names_the_option(inbox, tmp_path):
    root, _ = inbox
    stopped = run_cli(["run", str(root), "--out", str(tmp_path / "out"), *ARGS],
                      env={**SMALL_PARTS, "DOCEXTRACT_KILL_AT": "before-generate:2:SIGQUIT"})
    assert stopped.returncode == 6, stopped.stderr
    assert not _events(stopped.stderr, "restart")
    [fatal] = _events(stopped.stderr, "fatal")
    assert fatal["message"].endswith("(--engine-restarts N starts it again at once)")
    # what the next run does, then with the requests the dead engine had, in that order
    [finish] = _events(stopped.stderr, "finish")
    in_flight = finish["in_flight_at_death"]
    assert in_flight >= 1  # the death came before a request: it, and any still out, are in flight
    then = (
        "it records the one request in flight at the death as failed (killed_engine) instead "
        "of asking it again" if in_flight == 1
        else f"it reads the {in_flight} requests in flight last, one at a time"
    )  # fmt: skip
    message = fatal["message"]
    assert f"are committed, and the next run takes up the rest: {then} (--engine-" in message


RESTARTED = """
import os, signal
from pipeline.cli.restart import restarts_done, start_again
if restarts_done() == 0:
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)  # as a run ignores the dead engine's echoes
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    kept = os.dup2(os.open(os.devnull, os.O_RDONLY), 50, inheritable=True)  # as a C library
    print(kept, flush=True)  # may open the GPU driver's files: inherited across exec
    start_again()
blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
print(restarts_done(), signal.getsignal(signal.SIGQUIT) is signal.SIG_DFL,
      signal.SIGTERM in blocked, sorted(int(fd) for fd in os.listdir("/proc/self/fd")))
"""


def test_start_again_is_the_same_command_with_clean_signals_and_no_inherited_files():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RESTARTED], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    count, default_quit, term_blocked, open_fds = second.split(" ", 3)
    assert (count, default_quit, term_blocked) == ("1", "True", "False")
    assert int(first) not in json.loads(open_fds)
