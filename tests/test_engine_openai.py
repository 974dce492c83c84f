"""The OpenAI-compatible engine against a real HTTP server started on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipeline.config import EngineConfig, OpenAIConfig
from pipeline.engines.base import EngineFailure, EngineRequest, EngineResult, SamplingConfig
from pipeline.engines.openai import OpenAIEngine, retry_delay
from pipeline.errors import EngineUnavailable, ErrorCode
from tests.fixtures_model import make_pages

SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "number"}},
    "required": ["total"],
}


def _completion(text: str = '{"total": 1}', finish: str = "stop") -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": 321, "completion_tokens": 7,
                  "prompt_tokens_details": {"cached_tokens": 300}},
    }


class FakeServer:
    """Answers from a script of (status, headers, body, delay_s); default: a 200 completion."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, dict[str, str], Any, float]] = deque()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.delay_s = 0.0
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.paths.append(self.path)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                    step = server.script.popleft() if server.script else None
                status, headers, payload, delay = step or (200, {}, _completion(), server.delay_s)
                try:
                    time.sleep(delay)
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server.lock:
                        server.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.stop()


def _engine(server: FakeServer, **settings: Any) -> OpenAIEngine:
    options = {"base_url": server.base_url, "backoff_s": 0.01, "api_key_env": "DOCX_TEST_KEY"}
    options.update(settings)
    return OpenAIEngine(EngineConfig(name="openai", model="test-model",
                                     openai=OpenAIConfig(**options)))


def _request(request_id: str, pages=(), max_new_tokens: int = 64) -> EngineRequest:
    return EngineRequest(request_id, "system text", "prefix text", tuple(pages), "suffix text",
                         SCHEMA, SamplingConfig(max_new_tokens=max_new_tokens, seed=7))


def _decode(url: str) -> Image.Image:
    head, data = url.split(",", 1)
    assert head == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_three_pages_are_one_request_with_images_in_page_order(server, monkeypatch):
    monkeypatch.setenv("DOCX_TEST_KEY", "sekret")
    pages = make_pages("doc", ((64, 64), (96, 64), (64, 128)))
    engine = _engine(server)
    outcome = asyncio.run(engine.generate([_request("r1", pages, max_new_tokens=99)]))[0]
    assert len(server.bodies) == 1 and server.paths == ["/v1/chat/completions"]
    body = server.bodies[0]
    assert server.headers[0]["Authorization"] == "Bearer sekret"
    assert body["model"] == "test-model" and body["max_tokens"] == 99 and body["seed"] == 7
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "extraction", "schema": SCHEMA, "strict": True},
    }
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    parts = user["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url", "text"]
    for part, page in zip(parts[1:4], pages, strict=True):
        image = _decode(part["image_url"]["url"])
        assert image.size == (page.width, page.height)
        assert image.tobytes() == page.pixels  # PNG is lossless: the very same pixels
    assert isinstance(outcome, EngineResult)
    assert (outcome.text, outcome.finish_reason) == ('{"total": 1}', "stop")
    tokens = (outcome.prompt_tokens, outcome.completion_tokens, outcome.cached_tokens)
    assert tokens == (321, 7, 300)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_statuses_are_retried(server, status):
    server.script.append((status, {"Retry-After": "0"}, {"error": "busy"}, 0.0))
    server.script.append((status, {}, {"error": "busy"}, 0.0))
    outcome = asyncio.run(_engine(server).generate([_request("r")]))[0]
    assert isinstance(outcome, EngineResult), outcome
    assert len(server.bodies) == 3


def test_client_errors_are_not_retried(server):
    server.script.append((400, {}, {"error": "bad schema"}, 0.0))
    outcome = asyncio.run(_engine(server).generate([_request("r")]))[0]
    assert isinstance(outcome, EngineFailure) and outcome.code == ErrorCode.ENGINE_ERROR
    assert "400" in outcome.message and len(server.bodies) == 1


def test_retries_give_up_after_max_retries(server):
    server.script.extend([(500, {}, {"error": "down"}, 0.0)] * 5)
    outcome = asyncio.run(_engine(server, max_retries=2).generate([_request("r")]))[0]
    assert isinstance(outcome, EngineFailure) and "500" in outcome.message
    assert len(server.bodies) == 3


def test_timeout_becomes_engine_timeout(server):
    server.script.append((200, {}, _completion(), 1.0))
    started = time.perf_counter()
    outcome = asyncio.run(_engine(server, timeout_s=0.2).generate([_request("slow")]))[0]
    assert isinstance(outcome, EngineFailure) and outcome.code == ErrorCode.ENGINE_TIMEOUT
    assert time.perf_counter() - started < 1.0


def test_unreachable_server_fails_after_retries():
    engine = OpenAIEngine(EngineConfig(openai=OpenAIConfig(
        base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01)))
    outcome = asyncio.run(engine.generate([_request("r")]))[0]
    assert isinstance(outcome, EngineFailure) and outcome.code == ErrorCode.ENGINE_UNAVAILABLE


def test_start_checks_that_a_server_answers(server):
    _engine(server).start()  # any HTTP answer counts, even a 404 for /models
    dead = OpenAIEngine(EngineConfig(openai=OpenAIConfig(base_url="http://127.0.0.1:9/v1")))
    with pytest.raises(EngineUnavailable, match="no server answers at http://127.0.0.1:9/v1"):
        dead.start()


def test_a_run_against_a_dead_server_stops_at_once_with_exit_3(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from tests.run_helpers import make_unique_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(3):
        make_unique_pdf(inbox / f"d{number}.pdf", 1, f"DEAD{number}")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(inbox), "--out", str(out), "--engine", "openai",
                                      "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 3, result.output
    assert "no server answers at http://127.0.0.1:9/v1" in result.output
    assert not list(out.glob("invoice/errors/*.parquet"))  # no document was tried


def test_concurrency_bound_holds(server):
    server.delay_s = 0.05
    engine = _engine(server, concurrency=3)
    outcomes = asyncio.run(engine.generate([_request(f"r{i}") for i in range(12)]))
    assert all(isinstance(o, EngineResult) for o in outcomes)
    assert [o.request_id for o in outcomes] == [f"r{i}" for i in range(12)]
    assert server.max_active == 3
    assert engine.max_in_flight == 3


def test_length_finish_and_malformed_answers(server):
    server.script.append((200, {}, _completion('{"tot', "length"), 0.0))
    server.script.append((200, {}, {"unexpected": True}, 0.0))
    first, second = asyncio.run(_engine(server, concurrency=1).generate(
        [_request("a"), _request("b")]))
    assert isinstance(first, EngineResult) and first.finish_reason == "length"
    assert isinstance(second, EngineFailure) and second.request_id == "b"


def test_retry_after_is_honoured_and_backoff_grows():
    assert retry_delay(1, 1.0, "3") == 3.0
    assert 0.5 <= retry_delay(1, 1.0, None) <= 1.0
    assert 4.0 <= retry_delay(4, 1.0, None) <= 8.0


def test_a_request_waiting_to_retry_gives_its_slot_back(server):
    """With one slot, the request told to come back later lets the next one through first."""
    server.script.append((503, {"Retry-After": "0.5"}, {"error": "busy"}, 0.0))
    engine = _engine(server, concurrency=1)
    first, second = asyncio.run(engine.generate([_request("a", max_new_tokens=64),
                                                 _request("b", max_new_tokens=65)]))
    assert isinstance(first, EngineResult) and isinstance(second, EngineResult)
    assert [body["max_tokens"] for body in server.bodies] == [64, 65, 64]


def test_a_server_that_goes_away_mid_run_stops_it_with_exit_3_and_loses_nothing(
    tmp_path, monkeypatch
):
    """The server answers four requests and is gone: the run keeps retrying for
    unreachable_s, then stops with exit 3; the answered documents are committed, none is
    written as engine_unavailable, and the next run (the server back) does the rest, each
    document exactly once."""
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from tests.run_helpers import ledger_items, make_unique_pdf, read_table

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for number in range(12):
        make_unique_pdf(inbox / f"g{number:02d}.pdf", 1, f"GONE{number}")
    monkeypatch.setenv("DOCEXTRACT_ENGINE__UNREACHABLE_S", "1")
    monkeypatch.setenv("DOCEXTRACT_ENGINE__OPENAI__BACKOFF_S", "0.01")
    monkeypatch.setenv("DOCEXTRACT_ENGINE__OPENAI__CONCURRENCY", "2")
    monkeypatch.setenv("DOCEXTRACT_PART_ROWS", "1")
    server = FakeServer()
    server.delay_s = 0.05

    def stop_after_four() -> None:
        while len(server.bodies) < 4:
            time.sleep(0.01)
        server.stop()

    threading.Thread(target=stop_after_four, daemon=True).start()
    run = ["run", str(inbox), "--out", str(out), "--engine", "openai", "--retries", "0",
           "--workers", "1", "--dpi", "40"]  # fmt: skip
    gone = CliRunner().invoke(app, [*run, "--base-url", server.base_url])
    assert gone.exit_code == 3, gone.output
    assert "the engine stopped answering" in gone.stderr and "Traceback" not in gone.output
    errors = read_table(out, "invoice", "errors")
    assert errors and {row["code"] for row in errors} == {"schema_violation"}  # the answers
    assert len(errors) <= 4
    back = FakeServer()
    try:
        again = CliRunner().invoke(app, [*run, "--base-url", back.base_url])
    finally:
        back.stop()
    assert again.exit_code == 1, again.output  # every answer fails the invoice schema
    rows = read_table(out, "invoice", "errors")
    assert sorted(Path(r["source_path"]).name for r in rows) == [f"g{n:02d}.pdf" for n in range(12)]
    assert len(ledger_items(out)["error"]) == 12


def test_the_model_a_server_says_answered_is_recorded_and_a_different_one_is_said(
    server, tmp_path
):
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from tests.run_helpers import make_unique_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "SERVED")
    served = {**_completion(), "model": "org/other-model"}
    server.script.append((200, {}, served, 0.0))
    args = ["run", str(inbox), "--engine", "openai", "--base-url", server.base_url,
            "--model", "test-model", "--retries", "0", "--log-format"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "json", "--out", str(tmp_path / "one")])
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["model"], summary["answers_by_served_model"]) == (
        "test-model", {"org/other-model": 1}
    )
    server.script.append((200, {}, served, 0.0))
    plain = CliRunner().invoke(app, [*args, "plain", "--out", str(tmp_path / "two")])
    assert "the server said org/other-model answered" in " ".join(plain.output.split())
    server.script.append((200, {}, {**_completion(), "model": "test-model"}, 0.0))
    same = CliRunner().invoke(app, [*args, "plain", "--out", str(tmp_path / "three")])
    assert "the server said" not in same.output
