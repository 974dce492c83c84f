"""A fleet for the router tests: workers behind sglang-router, docextract shards against it, and
the exactly-once check over one output folder. Used on CPU (tests/test_fleet_router.py, fake
workers) and on the GPU (tests/gpu/test_router_fleet_gpu.py, real sglang servers)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.run_helpers import ROOT, ledger_items, read_table

# Health checks every second and a worker out after two misses, so a dead one leaves the
# rotation within seconds (the defaults are 60 s and 3); 15 s per check, because sglang's
# /health generates one token and waits at least a second for it, longer on a busy server. A
# request that fails on one worker is retried on the next (the router's own retries, 5 by
# default).
ROUTER_FLAGS = [
    "--policy", "round_robin",
    "--health-check-interval-secs", "1",
    "--health-failure-threshold", "2",
    "--health-check-timeout-secs", "15",
    "--worker-startup-check-interval", "1",
    "--worker-startup-timeout-secs", "120",
    "--log-level", "warn",
]  # fmt: skip


def router_python() -> str | None:
    """An interpreter that can import sglang_router: this one, or $SGLANG_ROUTER_PYTHON
    (e.g. a venv holding only `pip install sglang-router`)."""
    import importlib.util

    if importlib.util.find_spec("sglang_router") is not None:
        return sys.executable
    other = os.environ.get("SGLANG_ROUTER_PYTHON")
    if other and subprocess.run([other, "-c", "import sglang_router"]).returncode == 0:
        return other
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A process in its own group (so `stop` ends its children too), output to `log`."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(*processes: subprocess.Popen) -> None:
    """SIGKILL each process's group and reap it: nothing is left behind."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=30)


def group_alive(process: subprocess.Popen) -> bool:
    """Whether any process of `process`'s group still runs (zombies waiting for a parent that
    does not reap them do not count)."""
    import psutil

    for other in psutil.process_iter():
        try:
            if os.getpgid(other.pid) == process.pid and other.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def wait_healthy(url: str, processes: list[subprocess.Popen], timeout_s: float) -> float:
    """Wait until GET `url` answers 200; seconds waited. Fails if a process died meanwhile."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        dead = [p.args for p in processes if p.poll() is not None]
        assert not dead, f"exited while starting: {dead}"
        try:
            if httpx.get(url, timeout=10).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f}s")


def start_router(python: str, port: int, workers: list[str], log: Path) -> subprocess.Popen:
    args = [python, "-m", "sglang_router.launch_router", "--worker-urls", *workers,
            "--host", "127.0.0.1", "--port", str(port), *ROUTER_FLAGS]  # fmt: skip
    return start(args, log, env={"RUST_LOG": "warn"})


def router_workers(port: int) -> list[dict]:
    """The router's view of its workers: url and health."""
    payload = httpx.get(f"http://127.0.0.1:{port}/workers", timeout=5).json()
    return [{"url": w["url"], "healthy": w["is_healthy"]} for w in payload["workers"]]


def wait_router_ready(port: int, count: int, process: subprocess.Popen, timeout_s: float) -> None:
    """Wait until the router reports `count` healthy workers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the router exited while starting"
        try:
            if sum(w["healthy"] for w in router_workers(port)) == count:
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the router did not report {count} healthy workers in {timeout_s}s")


def wait_unhealthy(port: int, url: str, timeout_s: float = 15) -> list[dict]:
    """The router's view of its workers once it has taken `url` out of the rotation."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = router_workers(port)
        if [w["healthy"] for w in view if w["url"] == url] == [False]:
            return view
        assert time.monotonic() < deadline, f"the router still counts {url} healthy: {view}"
        time.sleep(0.5)


def start_shards(
    inbox: Path,
    out: Path,
    base_url: str,
    extra: list[str],
    logs: Path,
    count: int = 2,
    env: dict[str, str] | None = None,
) -> list[subprocess.Popen]:
    """`count` docextract shards, started together, against one base URL and one OUT (one
    plain run when `count` is 1)."""
    # Environment overrides reach each shard's RunConfig (DOCEXTRACT_ENGINE__OPENAI__...).
    shards = []
    for index in range(count):
        args = [sys.executable, "-m", "pipeline", "run", str(inbox), "--out", str(out),
                "--engine", "openai", "--base-url", base_url,
                "--log-format", "json", *extra]  # fmt: skip
        args += ["--shard", f"{index}/{count}"] if count > 1 else []
        shards.append(
            subprocess.Popen(
                args,
                cwd=ROOT,
                env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})},
                stdout=subprocess.PIPE,
                stderr=(logs / f"shard{index}-{len(list(logs.glob('shard*.log')))}.log").open("w"),
                text=True,
                start_new_session=True,
            )
        )
    return shards


def finish_shards(shards: list[subprocess.Popen], timeout_s: float) -> list[dict]:
    """Each shard's exit code and JSON summary, once all have ended."""
    results = []
    for shard in shards:
        stdout, _ = shard.communicate(timeout=timeout_s)
        lines = stdout.strip().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        results.append({"exit": shard.returncode, **summary})
    return results


def check_exactly_once(out: Path, schema: str, files: int) -> dict[str, int]:
    """Every input document once in the documents table and once in the ledger as ok; no
    error rows, no item in two tables. Returns the counts."""
    documents = read_table(out, schema, "documents")
    errors = read_table(out, schema, "errors")
    ids = Counter(row["item_id"] for row in documents)
    doubled = [item for item, seen in ids.items() if seen > 1]
    assert not doubled, f"extracted more than once: {doubled}"
    assert not errors, [(e["source_path"], e["code"], e["message"]) for e in errors]
    committed = ledger_items(out)
    assert set(ids) == committed["ok"] and not committed["error"]
    assert len({row["source_path"] for row in documents}) == files == len(ids)
    return {"documents": len(ids), "errors": len(errors)}


def router_events(log: Path) -> dict[str, int]:
    """What the router's log says it did: requests it failed to send to a worker (and so
    retried on another) and failed health checks (at --log-level warn)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    patterns = {
        "failed_sends": "Failed to send",
        "failed_health_checks": "health check failed",
    }
    return {name: text.count(pattern) for name, pattern in patterns.items()}


def describe(label: str, results: list[dict]) -> str:
    """One line per shard with the figures a reader wants."""
    lines = [label]
    for index, result in enumerate(results):
        lines.append(
            f"  shard {index}/{len(results)}: exit {result['exit']}, {result.get('ended')}, "
            f"{result.get('extracted')} extracted, {result.get('failed')} failed, "
            f"{result.get('retries')} retries, {result.get('pages')} pages in "
            f"{result.get('elapsed_s')} s = {result.get('pages_per_s')} pages/s"
        )
    return "\n".join(lines)
