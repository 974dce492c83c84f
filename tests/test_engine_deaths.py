"""A document that kills the engine cannot stop every night: the items in flight at an engine's
death are read by the next run after the others, one request at a time, and one the engine dies
on alone is recorded as failed (`killed_engine`) instead of asked again. Real PDFs, a real
ledger file, real Parquet; the engine's death is its real signal, SIGQUIT, sent by the test
engine to this process while the poison document is in flight."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineOutcome, EngineRequest
from pipeline.engines.null import NullEngine
from pipeline.errors import EngineDied
from pipeline.items import DRY_RUN_MODEL, page_item_id
from pipeline.output.ledger import CommittedItem, ItemKey, Ledger
from pipeline.policy import read_alone
from pipeline.run import run_extraction
from tests.run_helpers import make_unique_pdf, read_table


def _key(item_id: str, model: str = "m") -> ItemKey:
    return ItemKey(item_id, "invoice", "p", model)


def test_the_ledger_keeps_each_items_fewest_companions_until_it_is_committed(tmp_path):
    with Ledger(tmp_path) as ledger:
        ledger.record_engine_death([_key("a"), _key("b"), _key("c")], "run-1")
        ledger.record_engine_death([_key("b")], "run-2")
        ledger.record_engine_death([_key("a", model="other")], "run-2")
        assert ledger.engine_deaths("invoice", "p", "m") == {"a": 3, "b": 1, "c": 3}
        ledger.commit_part("part-1.parquet", [CommittedItem(_key("b"), "error", "b.pdf")], "run-3")
        assert ledger.engine_deaths("invoice", "p", "m") == {"a": 3, "c": 3}
    with Ledger(tmp_path) as reopened:  # on disk: the next run sees them
        assert reopened.engine_deaths("invoice", "p", "other") == {"a": 1}


def test_suspects_are_read_by_document_and_only_a_lone_one_is_left_out():
    page3, page1 = page_item_id("d2", 3), page_item_id("d2", 1)
    documents, killers = read_alone({"d1": 4, page3: 1, page1: 2})
    assert documents == {"d1", "d2"}
    assert killers == {page3}


class PoisonedEngine(NullEngine):
    """The null engine, holding each call a moment, that dies (SIGQUIT to this process, as
    sglang's processes do) whenever the request for `poison` is in flight, once at least
    `crowd` requests are. Records each request's item and how many were in flight with it."""

    def __init__(self, poison: str, crowd: int) -> None:
        super().__init__(max_in_flight=4)
        self.poison, self.crowd = poison, crowd
        self.in_flight = 0
        self.asked: list[tuple[str, int]] = []

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        self.in_flight += len(requests)
        try:
            ids = [request.request_id.split("#")[0] for request in requests]
            self.asked += [(item_id, self.in_flight) for item_id in ids]
            if self.poison in ids:
                for _ in range(100):  # the others' requests come in meanwhile
                    if self.in_flight >= self.crowd:
                        break
                    await asyncio.sleep(0.01)
                os.kill(os.getpid(), signal.SIGQUIT)
                await asyncio.sleep(30)  # cancelled: the run stops
            await asyncio.sleep(0.05)
            return await super().generate(requests)
        finally:
            self.in_flight -= len(requests)


@pytest.fixture
def sigquit_restored():
    previous = signal.getsignal(signal.SIGQUIT)
    yield
    signal.signal(signal.SIGQUIT, previous)  # a run ignores a dead engine's echoes after it


def test_a_document_that_kills_the_engine_is_read_alone_then_left_out(tmp_path, sigquit_restored):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    paths = [make_unique_pdf(inbox / f"{n:02}.pdf", 1, f"POISON{n}") for n in range(8)]
    poison = _sha256(paths[1])
    out = tmp_path / "out"
    flags = {"inputs": [str(inbox)], "out": out, "log_format": "json",
             "render": {"dpi": 40, "workers": 1},
             "engine": {"name": "null", "first_wave": 0}}  # fmt: skip
    config = load_config(flags, env={})

    def start() -> tuple[PoisonedEngine, EngineDied | None]:
        engine = PoisonedEngine(poison, crowd=3)
        try:
            run_extraction(config, engine)
        except EngineDied as died:
            return engine, died
        return engine, None

    first, died = start()
    assert died is not None and died.report.in_flight_at_death >= 3
    identity = ("invoice", died.report.prompt_hash, DRY_RUN_MODEL)
    with Ledger(out) as ledger:
        suspects = ledger.engine_deaths(*identity)
    assert poison in suspects and set(suspects.values()) == {died.report.in_flight_at_death}

    second, died = start()  # the others first, then each suspect alone: the poison dies alone
    assert died is not None and died.report.in_flight_at_death == 1
    order = [item_id for item_id, _ in second.asked]
    innocent = [item_id for item_id in order if item_id not in suspects]
    assert innocent and order[: len(innocent)] == innocent  # the suspects come last
    assert all(count == 1 for item_id, count in second.asked if item_id in suspects)

    dry = run_extraction(load_config({**flags, "dry_run": True}, env={}), NullEngine())
    fates = {entry["path"]: (entry["fate"], entry["code"]) for entry in dry.planned}
    assert fates[str(paths[1])] == ("fail", "killed_engine")  # a dry run foretells it
    assert {fates[str(path)] for path in paths if path != paths[1]} <= {
        ("extract", None), ("already done", None)
    }

    third, died = start()
    assert died is None and poison not in [item_id for item_id, _ in third.asked]
    [error] = read_table(out, "invoice", "errors")
    assert (error["doc_id"], error["code"]) == (poison, "killed_engine")
    assert "--retry-errors" in error["message"] and error["source_path"] == str(paths[1])
    documents = read_table(out, "invoice", "documents")
    assert sorted(row["doc_id"] for row in documents) == sorted(
        _sha256(path) for path in paths if path != paths[1]
    )
    with Ledger(out) as ledger:
        assert ledger.engine_deaths(*identity) == {}  # committed: forgotten


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_with_per_page_a_dry_run_foretells_the_pages_the_engine_died_on_alone(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    two, one = (
        make_unique_pdf(inbox / "two.pdf", 2, "TWO"),
        make_unique_pdf(inbox / "one.pdf", 1, "ONE"),
    )
    out = tmp_path / "out"
    flags = {"inputs": [str(inbox)], "out": out, "per_page": True, "render": {"dpi": 40},
             "engine": {"name": "null"}}  # fmt: skip

    def dry_run() -> tuple[dict[str, dict], str]:
        report = run_extraction(load_config({**flags, "dry_run": True}, env={}), NullEngine())
        return {Path(entry["path"]).name: entry for entry in report.planned}, report.prompt_hash

    before, prompt_hash = dry_run()
    with Ledger(out) as ledger:  # each killed the engine while its only request
        for item_id in (page_item_id(_sha256(two), 2), page_item_id(_sha256(one), 1)):
            ledger.record_engine_death(
                [ItemKey(item_id, "invoice", prompt_hash, DRY_RUN_MODEL)], "r"
            )
    after, _hash = dry_run()
    assert (after["one.pdf"]["fate"], after["one.pdf"]["code"]) == ("fail", "killed_engine")
    assert after["one.pdf"]["problem"].startswith("page 1: ")
    assert "--retry-errors" in after["one.pdf"]["problem"]
    # its other page is extracted; the one the engine died on is the entry's problem
    assert (after["two.pdf"]["fate"], after["two.pdf"]["code"]) == ("extract", "killed_engine")
    assert after["two.pdf"]["problem"].startswith("page 2: ")
    shown = CliRunner().invoke(app, ["run", str(inbox), "--out", str(out), "--engine", "null",
                                     "--dpi", "40", "--per-page", "--dry-run"])  # fmt: skip
    [line] = [line for line in shown.stdout.splitlines() if "two.pdf" in line]
    assert "error killed_engine: page 2: " in line and "1 would fail" in shown.stdout
    page_tokens = before["two.pdf"]["visual_tokens"] // 2  # both pages are the same size
    assert after["two.pdf"]["visual_tokens"] == page_tokens > 0

    run_extraction(load_config(flags, env={}), NullEngine())  # the run does as foretold
    errors = {
        (row["doc_id"], row["page"], row["code"]) for row in read_table(out, "invoice", "errors")
    }
    assert errors == {(_sha256(two), 2, "killed_engine"), (_sha256(one), 1, "killed_engine")}
    assert [row["doc_id"] for row in read_table(out, "invoice", "documents")] == [_sha256(two)]
