"""A fleet on one GPU: two `sglang.launch_server` processes with the tiny random Qwen3-VL-MoE,
each with a small static memory fraction, behind sglang-router; two docextract shards
(`--engine openai --base-url ROUTER/v1`) into one output folder. Every document is extracted
exactly once; then one server's process group is SIGKILLed mid-run, the run finishes on the
other, and nothing is lost. tests/test_fleet_router.py is the same fleet on CPU with fake
workers.

    make gpu-test ARGS="-k fleet"
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pipeline.output.layout import ledger_path
from tests.fleet_helpers import (
    check_exactly_once,
    describe,
    finish_shards,
    free_port,
    group_alive,
    router_events,
    router_python,
    router_workers,
    start,
    start_router,
    start_shards,
    stop,
    wait_healthy,
    wait_router_ready,
    wait_unhealthy,
)
from tests.gpu.conftest import CONTEXT_LENGTH, SCHEMA, sglang_on_gpu
from tests.run_helpers import ledger_items, make_unique_pdf

ROUTER = router_python()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not sglang_on_gpu(), reason="needs sglang and a CUDA GPU"),
    pytest.mark.skipif(ROUTER is None, reason="needs sglang-router"),
    pytest.mark.timeout(600),  # a hang guard, with room for tests beside it (make gpu-test)
    pytest.mark.xdist_group("fleet"),  # under pytest -n, both tests in one worker: one fleet
]
SERVED = "fleet-tiny"
MEM_FRACTION = 0.3  # two servers share the GPU
MAX_TOTAL_TOKENS = 65536
FILES = 48


def server_args(model: Path, port: int) -> list[str]:
    """`sglang.launch_server` for the tiny model: what docextract gives the Engine in the other
    GPU tests (random weights, 8,192-token context, schema JSON without free whitespace, CUDA
    graphs off to start faster), as command-line flags. sglang sizes its KV pool from the memory
    free when it profiles, less (1 - mem_fraction_static) of what was free when it started: of
    two servers started together the second would find the first's pool gone from the GPU and
    none left for its own. A pool capped at MAX_TOTAL_TOKENS (a few hundred MB here) leaves
    plenty for both."""
    return [sys.executable, "-m", "sglang.launch_server", "--model-path", str(model),
            "--load-format", "dummy", "--context-length", str(CONTEXT_LENGTH),
            "--mem-fraction-static", str(MEM_FRACTION),
            "--max-total-tokens", str(MAX_TOTAL_TOKENS), "--disable-cuda-graph",
            "--constrained-json-disable-any-whitespace", "--random-seed", "0",
            "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning"]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(gpu_models, tmp_path_factory):
    """Servers "a" and "b" started together on the one GPU, then the router in front:
    {"port", "servers": {name: process}, "urls": {name: url}, "router", "logs"}."""
    logs = tmp_path_factory.mktemp("fleet-logs")
    servers, urls = {}, {}
    started = time.monotonic()
    for name in ("a", "b"):
        port = free_port()
        servers[name] = start(server_args(gpu_models["bf16"], port), logs / f"server-{name}.log",
                              env={"HF_HUB_OFFLINE": "1"})  # fmt: skip
        urls[name] = f"http://127.0.0.1:{port}"
    router = None
    try:
        try:
            for url in urls.values():
                wait_healthy(url + "/health", list(servers.values()), timeout_s=240)
        except AssertionError:
            for name in servers:
                print(f"server {name}:", (logs / f"server-{name}.log").read_text()[-5000:])
            raise
        up = time.monotonic() - started
        port = free_port()
        assert ROUTER is not None
        router = start_router(ROUTER, port, list(urls.values()), logs / "router.log")
        wait_healthy(f"http://127.0.0.1:{port}/health", [router], timeout_s=60)
        wait_router_ready(port, 2, router, timeout_s=60)
        print(f"fleet: both servers healthy {up:.0f}s after starting together; "
              f"router ready {time.monotonic() - started - up:.1f}s later")  # fmt: skip
        yield {"port": port, "servers": servers, "urls": urls, "router": router, "logs": logs}
    finally:
        everything = [*servers.values(), *([router] if router else [])]
        stop(*everything)
        time.sleep(2)
        left = [p.args[:4] for p in everything if group_alive(p)]
        assert not left, f"left behind: {left}"


@pytest.fixture(scope="module")
def fleet_inbox(tmp_path_factory) -> Path:
    inbox = tmp_path_factory.mktemp("fleet-inbox")
    for number in range(FILES):
        make_unique_pdf(inbox / f"doc{number:03d}.pdf", 1, f"FLEET{number}")
    return inbox


def _shard_args(tmp_path: Path) -> list[str]:
    config = tmp_path / "docextract.toml"
    config.write_text("flush_s = 0.5\npart_rows = 8\n\n[engine.openai]\ntimeout_s = 120\n")
    return ["--schema", SCHEMA, "--model", SERVED, "--config", str(config),
            "--max-pages", "16", "--max-new-tokens", "200", "--workers", "4"]  # fmt: skip


def _check_answers(out: Path) -> None:
    from tests.run_helpers import read_table

    for row in read_table(out, "bounded", "documents"):  # constrained JSON that validated
        assert row["data"]["name"].isalpha() and 0 <= row["data"]["score"] <= 10
        assert row["engine"] == "openai" and row["completion_tokens"] > 0


def test_fleet_two_shards_through_the_router_extract_every_document_once(
    fleet, fleet_inbox, tmp_path
):
    out = tmp_path / "out"
    base = f"http://127.0.0.1:{fleet['port']}/v1"
    started = time.monotonic()
    results = finish_shards(
        start_shards(fleet_inbox, out, base, _shard_args(tmp_path), tmp_path), timeout_s=300
    )
    wall = time.monotonic() - started
    print(describe(f"two shards, two servers on one GPU ({wall:.1f}s wall, "
                   f"{FILES / wall:.2f} pages/s together):", results))  # fmt: skip
    print("router:", router_workers(fleet["port"]))
    logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("shard*.log")}
    assert [r["exit"] for r in results] == [0, 0], logs
    assert sum(r["extracted"] for r in results) == FILES
    check_exactly_once(out, "bounded", FILES)
    _check_answers(out)


def test_fleet_a_server_killed_mid_run_loses_nothing(fleet, big_inbox, tmp_path):
    files = len(list(big_inbox.iterdir()))
    out = tmp_path / "out"
    base = f"http://127.0.0.1:{fleet['port']}/v1"
    started = time.monotonic()
    shards = start_shards(big_inbox, out, base, _shard_args(tmp_path), tmp_path)
    try:
        deadline = time.monotonic() + 240
        while True:  # wait for some committed work, then kill server b and all its processes
            assert all(s.poll() is None for s in shards), "a shard ended before the kill"
            done = len(ledger_items(out)["ok"]) if ledger_path(out).exists() else 0
            if done >= files // 6:
                break
            assert time.monotonic() < deadline, "too little committed in time"
            time.sleep(0.5)
        killed_at = time.monotonic() - started
        os.killpg(fleet["servers"]["b"].pid, signal.SIGKILL)
        fleet["servers"]["b"].wait(timeout=30)
        results = finish_shards(shards, timeout_s=300)
    finally:
        stop(*[s for s in shards if s.poll() is None])
    wall = time.monotonic() - started
    view = wait_unhealthy(fleet["port"], fleet["urls"]["b"])  # the router took b out
    print(describe(f"server b SIGKILLed {killed_at:.1f}s in, {done} of {files} committed; "
                   f"{wall:.1f}s wall:", results))  # fmt: skip
    print("router:", view)
    print("router log:", router_events(fleet["logs"] / "router.log"))
    logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("shard*.log")}
    assert not group_alive(fleet["servers"]["b"])
    # The run went on on server a: both shards finished, no document failed or was doubled.
    assert [r["exit"] for r in results] == [0, 0], logs
    assert [r["failed"] for r in results] == [0, 0], logs
    assert sum(r["extracted"] for r in results) == files
    check_exactly_once(out, "bounded", files)
    _check_answers(out)
    # A plain re-run, through the router with one server left, finds nothing left to do.
    again = finish_shards(start_shards(big_inbox, out, base, _shard_args(tmp_path), tmp_path, 1),
                          timeout_s=120)[0]  # fmt: skip
    print("re-run:", json.dumps({k: again.get(k) for k in ("exit", "skipped", "extracted")}))
    assert again["exit"] == 0 and again["skipped"] == files and again["extracted"] == 0
