"""benchmarks.gpu_shards with the null engine: the orchestration the GPU figures rest on. Each
arrangement extracts every document once, the shards of one OUT split them without overlap,
and pages/s counts only what came after every worker was warm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.gpu_shards import main

pytestmark = pytest.mark.slow


def test_one_process_and_two_shards_each_extract_the_workload_once(tmp_path: Path, capsys):
    saved = tmp_path / "shards.json"
    assert main(["none", "--engine", "null", "--docs", "6", "--save", str(saved)]) == 0
    figures = json.loads(saved.read_text())
    assert json.loads(capsys.readouterr().out) == figures
    one, two = figures["one process"], figures["2 processes"]
    assert one["documents"] == two["documents"] == 6
    assert one["pages"] == two["pages"] > 6  # the workload has documents of 1-3 pages
    assert [shard["shard"] for shard in two["shards"]] == ["0/2", "1/2"]
    assert sum(shard["documents"] for shard in two["shards"]) == 6
    assert all(shard["documents"] > 0 for shard in two["shards"])
    for arrangement in (one, two):
        assert arrangement["pages_per_s"] == pytest.approx(
            arrangement["pages"] / arrangement["wall_s"], rel=0.01
        )
        assert all(s["elapsed_s"] <= arrangement["wall_s"] for s in arrangement["shards"])
    ratio = figures["2 processes / one, pages/s"]
    assert ratio == pytest.approx(two["pages_per_s"] / one["pages_per_s"], abs=0.01)


def test_a_shard_whose_engine_failed_requests_measured_nothing():
    """Requests the engine never answered would make pages/s look fast: refused as figures."""
    import subprocess
    import sys

    from benchmarks.gpu_shards import _shard_figures

    def worker_printing(errors: dict) -> subprocess.Popen:
        line = json.dumps({"shard": "1/2", "errors_by_code": errors})
        code = f"print('ready'); print({line!r})"
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    assert _shard_figures(worker_printing({"validation": 5}))["shard"] == "1/2"
    with pytest.raises(SystemExit, match="shard 1/2: the engine failed requests"):
        _shard_figures(worker_printing({"engine_error": 3, "validation": 1}))
