"""A stand-in for one `sglang.launch_server` behind sglang-router, for the fleet test on CPU.

It answers the endpoints the router probes (/health, /health_generate, /get_server_info,
/get_model_info, /v1/models) and /v1/chat/completions with the smallest JSON the request's
`response_format` schema allows (the null engine's answer), after `--delay-s`, so several
requests are in flight at once. With `--die-after N` it SIGKILLs itself when completion request
N+1 arrives, leaving that request and the others in flight without an answer: a server that
dies mid-run. Every request is appended to `--log` as one JSON line (path, status, time).

    python -m tests.fleet_worker --port 31001 --name a --log a.jsonl [--die-after 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.engines.null import build_minimal_instance

MODEL = "tiny-qwen3-vl"


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A chat-completions answer holding the smallest instance of the request's schema."""
    schema = body["response_format"]["json_schema"]["schema"]
    text = json.dumps(build_minimal_instance(schema))
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }


def serve(
    port: int, name: str, log: Path, delay_s: float, die_after: int | None, model_path: str
) -> None:
    lock = threading.Lock()
    completions = 0
    info = {
        "model_path": model_path,
        "tokenizer_path": model_path,
        "served_model_name": MODEL,
        "is_generation": True,
        "dp_size": 1,
        "tp_size": 1,
        "name": name,
    }

    def record(path: str, status: int) -> None:
        with lock, log.open("a") as handle:
            handle.write(json.dumps({"path": path, "status": status, "t": time.time()}) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            record(self.path, status)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            path = self.path.split("?")[0]
            if path in ("/health", "/health_generate", "/readiness", "/liveness"):
                self._send(200, {"status": "ok"})
            elif path in ("/get_server_info", "/server_info", "/get_model_info", "/model_info"):
                self._send(200, info)
            elif path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._send(404, {"error": f"no {path}"})

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            nonlocal completions
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = self.path.split("?")[0]
            if path != "/v1/chat/completions":
                self._send(404, {"error": f"no {path}"})
                return
            with lock:
                completions += 1
                number = completions
            if die_after is not None and number > die_after:
                record(path, -9)
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(delay_s)
            self._send(200, completion(json.loads(raw)))

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    httpd.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--delay-s", type=float, default=0.05)
    parser.add_argument("--die-after", type=int, default=None)
    parser.add_argument("--model-path", default=MODEL, help="what /model_info reports")
    args = parser.parse_args()
    serve(args.port, args.name, args.log, args.delay_s, args.die_after, args.model_path)


if __name__ == "__main__":
    main()
