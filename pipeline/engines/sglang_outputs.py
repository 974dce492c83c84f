"""sglang's answers as outcomes: one `async_generate` result, or the exception it raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.engines.base import EngineFailure, EngineOutcome, EngineResult
from pipeline.errors import ErrorCode


def map_output(
    request_id: str,
    output: Any,
    elapsed_s: float,
    decode: Callable[[list[int]], list[str]] | None = None,
) -> EngineOutcome:
    """One `async_generate` result (`{"text", "output_ids", "meta_info"}`) as an outcome; with
    `decode` (token ids -> each token's text), its log-probabilities too (`read_logprobs`)."""
    if not isinstance(output, dict) or "text" not in output:
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"unexpected output: {output!r}")
    meta = output.get("meta_info") or {}
    finish = meta.get("finish_reason")
    kind = finish.get("type") if isinstance(finish, dict) else finish
    if kind == "abort":
        detail = finish.get("message", "") if isinstance(finish, dict) else ""
        return EngineFailure(request_id, ErrorCode.ENGINE_ERROR, f"request aborted: {detail}")
    rank = meta.get("dp_rank")  # the replica that answered; may be absent with dp_size 1
    logprobs, tokens = read_logprobs(meta, decode) if decode is not None else (None, None)
    return EngineResult(
        request_id=request_id,
        text=output["text"],
        finish_reason="length" if kind == "length" else "stop",
        prompt_tokens=int(meta.get("prompt_tokens") or 0),
        completion_tokens=int(meta.get("completion_tokens") or 0),
        cached_tokens=int(meta.get("cached_tokens") or 0),
        latency_s=float(meta.get("e2e_latency") or elapsed_s),
        replica=rank if type(rank) is int else None,
        logprobs=logprobs,
        tokens=tokens,
    )


def read_logprobs(
    meta: dict[str, Any], decode: Callable[[list[int]], list[str]]
) -> tuple[tuple[float, ...] | None, tuple[str, ...] | None]:
    """The answer tokens' log-probabilities and texts from `meta_info["output_token_logprobs"]`,
    a list of `(logprob, token_id, text)` per answer token (text None unless sglang was asked
    for it; then `decode` gives it). (None, None) when they are missing or incomplete."""
    entries = meta.get("output_token_logprobs")
    if not isinstance(entries, list | tuple) or not entries:
        return None, None
    try:
        values = tuple(float(entry[0]) for entry in entries)
        ids = [int(entry[1]) for entry in entries]
        given = [entry[2] if len(entry) > 2 else None for entry in entries]
    except (TypeError, ValueError, IndexError):
        return None, None
    texts = decode(ids) if any(text is None for text in given) else given
    return values, tuple(str(text) for text in texts)


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
