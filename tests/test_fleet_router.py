"""A fleet on CPU: two OpenAI-compatible workers (tests/fleet_worker.py, in place of
`sglang.launch_server`) behind the real sglang-router, two docextract shards against the router
into one output folder. Every document is extracted exactly once; and when one worker is
SIGKILLed with requests in flight, the router sends them to the other and the run finishes
with nothing lost.

sglang-router is a dev dependency (`make test` installs it); elsewhere the test runs where
`sglang_router` imports, or with SGLANG_ROUTER_PYTHON naming an interpreter that has it, and
skips otherwise. tests/gpu/test_router_fleet_gpu.py is the same fleet with real sglang servers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.fleet_helpers import (
    check_exactly_once,
    describe,
    finish_shards,
    free_port,
    router_events,
    router_python,
    start,
    start_router,
    start_shards,
    stop,
    wait_healthy,
    wait_router_ready,
    wait_unhealthy,
)
from tests.run_helpers import make_unique_pdf

ROUTER = router_python()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ROUTER is None, reason="needs sglang-router (or SGLANG_ROUTER_PYTHON)"),
    pytest.mark.timeout(240),
]
FILES = 40
SHARD_ARGS = ["--schema", "invoice", "--dpi", "40", "--workers", "1"]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet-inbox")
    for number in range(FILES):
        make_unique_pdf(root / f"doc{number:02d}.pdf", 1, f"FLEET{number}")
    return root


def _completions(log: Path) -> list[tuple[int, float]]:
    """(status, time) of each chat completion a fake worker logged (-9: it died on that one)."""
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [(row["status"], row["t"]) for row in rows if row["path"] == "/v1/chat/completions"]


def _fleet(tmp_path: Path, die_after: dict[str, int]):
    """Two fake workers "a" and "b" and the router: (router port, {name: process}, {name: url},
    router process). A worker named in `die_after` SIGKILLs itself on that many + 1 requests."""
    model = tmp_path / "model"  # a local folder, so the router looks for no tokenizer online
    model.mkdir()
    workers, urls = {}, {}
    for name in ("a", "b"):
        port = free_port()
        args = [sys.executable, "-m", "tests.fleet_worker", "--port", str(port), "--name", name,
                "--log", str(tmp_path / f"{name}.jsonl"), "--delay-s", "0.1",
                "--model-path", str(model)]  # fmt: skip
        if name in die_after:
            args += ["--die-after", str(die_after[name])]
        workers[name] = start(args, tmp_path / f"{name}.log")
        urls[name] = f"http://127.0.0.1:{port}"
    for url in urls.values():
        wait_healthy(url + "/health", list(workers.values()), timeout_s=30)
    port = free_port()
    assert ROUTER is not None
    router = start_router(ROUTER, port, list(urls.values()), tmp_path / "router.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", [router], timeout_s=60)
        wait_router_ready(port, 2, router, timeout_s=60)
    except BaseException:
        stop(router, *workers.values())
        raise
    return port, workers, urls, router


def test_two_shards_through_the_router_extract_every_document_once(inbox, tmp_path):
    port, workers, _, router = _fleet(tmp_path, die_after={})
    try:
        out = tmp_path / "out"
        shards = start_shards(inbox, out, f"http://127.0.0.1:{port}/v1", SHARD_ARGS, tmp_path)
        results = finish_shards(shards, timeout_s=180)
        served = {name: _completions(tmp_path / f"{name}.jsonl") for name in workers}
    finally:
        stop(router, *workers.values())
    print(describe("two shards, two workers:", results))
    print("  completions served:", {name: len(s) for name, s in served.items()})
    assert [r["exit"] for r in results] == [0, 0], (tmp_path / "router.log").read_text()[-3000:]
    assert sum(r["extracted"] for r in results) == FILES
    assert [r["other_shards"] for r in results] == [r["extracted"] for r in reversed(results)]
    check_exactly_once(out, "invoice", FILES)
    # Round robin: both workers did about half, and every request was answered once.
    assert all(len(s) >= FILES // 4 for s in served.values()), served
    assert sum(len(s) for s in served.values()) == FILES
    assert all(status == 200 for s in served.values() for status, _ in s)


def test_a_worker_killed_mid_run_loses_nothing(inbox, tmp_path):
    port, workers, urls, router = _fleet(tmp_path, die_after={"b": 10})
    try:
        out = tmp_path / "out"
        # docextract's own retries off, so only the router's retries can save b's requests.
        shards = start_shards(
            inbox,
            out,
            f"http://127.0.0.1:{port}/v1",
            SHARD_ARGS,
            tmp_path,
            env={"DOCEXTRACT_ENGINE__OPENAI__MAX_RETRIES": "0"},
        )
        results = finish_shards(shards, timeout_s=180)
        view = wait_unhealthy(port, urls["b"])
        served = {name: _completions(tmp_path / f"{name}.jsonl") for name in workers}
        b_exit = workers["b"].poll()
        # A plain re-run through the router, now one worker, finds nothing left to do.
        again = finish_shards(
            start_shards(inbox, out, f"http://127.0.0.1:{port}/v1", SHARD_ARGS, tmp_path, 1),
            timeout_s=120,
        )[0]
    finally:
        stop(router, *workers.values())
    answered = {name: [t for status, t in s if status == 200] for name, s in served.items()}
    died = served["b"][-1][1]
    after = sum(t > died for t in answered["a"])
    print(describe("worker b SIGKILLed on its 11th request:", results))
    print(f"  answered: a {len(answered['a'])} ({after} after b died), b {len(answered['b'])}")
    print(f"  router: {view}, {router_events(tmp_path / 'router.log')}")
    # b died by SIGKILL on its 11th request, with that one (and any unanswered) in flight ...
    assert b_exit == -9 and served["b"][-1][0] == -9 and len(answered["b"]) <= 10
    # ... mid-run: a answered a quarter of the documents or more after that. The router shares
    # requests between a and b, so a answered about as many as b's 10 before b died, and about
    # FILES - 20 after: half of FILES exactly, which a loaded machine missed by one or three.
    assert after >= FILES // 4, (after, answered)
    # ... and the router retried b's lost requests on a: both shards finished, nothing failed.
    assert [r["exit"] for r in results] == [0, 0], (tmp_path / "router.log").read_text()[-3000:]
    assert [r["failed"] for r in results] == [0, 0]
    assert [r["retries"] for r in results] == [0, 0]  # docextract never saw a failure
    check_exactly_once(out, "invoice", FILES)
    assert len(answered["a"]) + len(answered["b"]) >= FILES
    assert again["exit"] == 0 and again["skipped"] == FILES and again["extracted"] == 0
