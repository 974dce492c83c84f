"""The output session: one run's hold on OUT, on a real folder, real locks and a real ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.errors import OutputLocked
from pipeline.output.layout import ledger_path, manifests_dir, state_dir
from pipeline.output.ledger import Ledger
from pipeline.output.lock import is_run_live
from pipeline.output.session import OutputSession


def test_entering_holds_the_folder_and_marks_the_run_live_until_it_leaves(tmp_path: Path):
    with OutputSession(tmp_path, "run-a", "invoice") as session:
        assert ledger_path(tmp_path).is_file()
        assert set(session.reconciled.values()) == {0}  # nothing left behind to settle
        assert is_run_live(tmp_path, "run-a")
        assert not session.is_other_live("run-a") and not session.is_other_live("run-b")
        with pytest.raises(OutputLocked), OutputSession(tmp_path, "run-b", "invoice"):
            pass
        assert is_run_live(tmp_path, "run-a")  # the refused run released nothing of ours
    assert not is_run_live(tmp_path, "run-a")
    with OutputSession(tmp_path, "run-c", "invoice"):  # the folder is free again
        pass


def test_entering_moves_an_out_of_the_older_layout_first(tmp_path: Path):
    with Ledger(tmp_path):
        pass  # a ledger, written where the older layout kept it
    os.replace(ledger_path(tmp_path), tmp_path / "ledger.sqlite")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "old-run.json").write_text("{}")
    with OutputSession(tmp_path, "run-a", "invoice"):
        assert ledger_path(tmp_path).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".docextract"]
    assert (state_dir(tmp_path) / "runs" / "old-run.json").is_file()


def test_a_begun_run_ends_in_the_ledger_and_its_manifest(tmp_path: Path):
    with OutputSession(tmp_path, "run-a", "invoice") as session:
        session.begin()
        session.end("interrupted", [], {"schema": "invoice"})
        started, finished, status = session.ledger.run_record("run-a") or (0, None, "")
    assert status == "interrupted" and finished is not None
    manifest = json.loads((manifests_dir(tmp_path) / "run-a.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["config"] == {"schema": "invoice"}


def test_a_manifest_that_cannot_be_written_is_left_to_the_ledger_only_for_a_begun_run(
    tmp_path: Path,
):
    begun, idle = tmp_path / "begun", tmp_path / "idle"
    with OutputSession(begun, "run-a", "invoice") as session:
        session.begin()
        manifests_dir(begun).mkdir(parents=True, exist_ok=True)
        manifests_dir(begun).rmdir()
        manifests_dir(begun).write_text("a file where the folder goes")
        session.end("finished", [], {})  # the next run writes it from the ledger
        assert session.ledger.run_record("run-a")[2] == "finished"  # type: ignore[index]
    with OutputSession(idle, "run-b", "invoice") as session:
        manifests_dir(idle).write_text("a file where the folder goes")
        with pytest.raises(OSError):
            session.end("finished", [], {})  # no ledger row would recover it


def test_a_run_that_died_running_is_recorded_as_killed_and_a_live_one_is_not(tmp_path: Path):
    with Ledger(tmp_path) as ledger:
        ledger.start_run("run-killed")  # its process is gone: it holds no live mark
    with OutputSession(tmp_path, "run-a", "invoice", shard=(0, 2)) as first:
        first.begin()
        with OutputSession(tmp_path, "run-b", "invoice", shard=(1, 2)) as second:
            killed = second.ledger.run_record("run-killed") or (0.0, 0.0, "")
            live = second.ledger.run_record("run-a") or (0.0, 0.0, "")
    assert killed[1:] == (None, "killed")  # no finish time: nobody saw it end
    assert live[1:] == (None, "running")
