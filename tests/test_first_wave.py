"""The first wave: until the engine's first answer, a run keeps only `engine.first_wave`
requests in flight, so an engine that prefills all it holds before decoding any answers a few
documents within seconds; then it fills the engine. Real PDFs, real rendering, real Parquet."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.config import EngineConfig, load_config
from pipeline.engines.base import EngineOutcome, EngineRequest
from pipeline.engines.null import NullEngine
from pipeline.run import run_extraction
from tests.run_helpers import make_unique_pdf, read_table


class CountingEngine(NullEngine):
    """The null engine, holding each call a moment and counting the requests in flight."""

    def __init__(self, config: EngineConfig | None = None, max_in_flight: int = 64) -> None:
        super().__init__(config, max_in_flight)
        self.in_flight = 0
        self.answers = 0
        self.most_before_first_answer = 0
        self.most = 0
        self.calls = 0

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        self.calls += 1
        self.in_flight += len(requests)
        self.most = max(self.most, self.in_flight)
        if not self.answers:
            self.most_before_first_answer = max(self.most_before_first_answer, self.in_flight)
        await asyncio.sleep(0.3)
        self.in_flight -= len(requests)
        self.answers += 1
        return await super().generate(requests)


def _config(inbox: Path, out: Path, first_wave: int):  # type: ignore[no-untyped-def]
    return load_config(
        {
            "inputs": [str(inbox)],
            "out": out,
            "log_format": "plain",
            "render": {"dpi": 40, "workers": 1},
            "engine": {"name": "null", "first_wave": first_wave},
        },
        env={},
    )


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wave") / "inbox"
    folder.mkdir()
    for n in range(16):
        make_unique_pdf(folder / f"{n:02}.pdf", 1, f"W{n}")
    return folder


@pytest.mark.parametrize("first_wave", [2, 0])
def test_the_first_wave_holds_until_the_first_answer_then_the_engine_fills(
    inbox: Path, tmp_path: Path, first_wave: int
) -> None:
    engine = CountingEngine(max_in_flight=16)
    report = run_extraction(_config(inbox, tmp_path / "out", first_wave), engine)
    assert (report.extracted, report.failed) == (16, 0)
    assert len(read_table(tmp_path / "out", "invoice", "documents")) == 16
    if first_wave:
        assert engine.most_before_first_answer <= first_wave < engine.most
    else:  # all at once: nothing holds the requests back
        assert engine.most_before_first_answer > 2


def test_a_run_whose_documents_all_fail_to_render_ends_with_a_first_wave(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(6):
        (inbox / f"broken-{n}.pdf").write_bytes(b"%PDF-1.7\n" + bytes([n]) * 64)
    engine = CountingEngine(max_in_flight=16)
    report = run_extraction(_config(inbox, tmp_path / "out", 1), engine)
    assert (report.extracted, report.failed, engine.calls) == (0, 6, 0)
    assert len(read_table(tmp_path / "out", "invoice", "errors")) == 6


def test_the_default_first_wave_is_the_measured_one() -> None:
    # 32 brought the full-size model's first result from 18 s to 7.4 s for about 1 % of
    # pages/s (README, Speed); a change must come with a new measurement.
    assert EngineConfig().first_wave == 32
