"""sglang's answers as outcomes: one `async_generate` result, or the exception it raised."""

from __future__ import annotations

from typing import Any

from pipeline.engines.base import EngineFailure, EngineOutcome, EngineResult
from pipeline.errors import ErrorCode


def map_output(request_id: str, output: Any, elapsed_s: float) -> EngineOutcome:
    """One `async_generate` result (`{"text", "output_ids", "meta_info"}`) as an outcome."""
    if not isinstance(output, dict) or "text" not in output:
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"unexpected output: {output!r}")
    meta = output.get("meta_info") or {}
    finish = meta.get("finish_reason")
    kind = finish.get("type") if isinstance(finish, dict) else finish
    if kind == "abort":
        detail = finish.get("message", "") if isinstance(finish, dict) else ""
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"request aborted: {detail}")
    rank = meta.get("dp_rank")  # the replica that answered; may be absent with dp_size 1
    return EngineResult(
        request_id=request_id,
        text=output["text"],
        finish_reason="length" if kind == "length" else "stop",
        prompt_tokens=int(meta.get("prompt_tokens") or 0),
        completion_tokens=int(meta.get("completion_tokens") or 0),
        cached_tokens=int(meta.get("cached_tokens") or 0),
        latency_s=float(meta.get("e2e_latency") or elapsed_s),
        replica=rank if type(rank) is int else None,
    )


def map_exception(request_id: str, exc: Exception) -> EngineFailure:
    """An exception out of `async_generate` as a failure of that request alone.

    sglang raises ValueError (or an HTTPException with a 4xx status) for a request it refuses:
    too long for the context, a grammar it cannot compile. Those fail the same way every time,
    so they are not retried.
    """
    status = getattr(exc, "status_code", None)
    refused = isinstance(exc, ValueError) or (isinstance(status, int) and 400 <= status < 500)
    code = ErrorCode.REQUEST_REJECTED if refused else ErrorCode.ENGINE_ERROR
    return EngineFailure(request_id, code, f"{type(exc).__name__}: {exc}", retryable=not refused)
