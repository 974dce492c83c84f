"""The reference for docextract on sglang: `sglang.Engine` driven directly, nothing else.

`drive` sends every document as one `async_generate` request (its prompt text, its pages as PIL
images, the JSON schema in the sampling params), all at once, and lets sglang batch them: what
someone who knows sglang writes in a few lines. `docextract bench --engine sglang` calls it on
the same pages, prompt and schema as its own run, on the same engine, and prints both.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ReferenceRequest:
    """One document as sglang takes it."""

    prompt: str
    images: list[Any]  # PIL images, one per page
    sampling_params: dict[str, Any]


async def drive(engine: Any, requests: Sequence[ReferenceRequest]) -> dict[str, Any]:
    """Run `requests` through `engine` (a started sglang.Engine) all at once; figures."""
    started = time.perf_counter()
    done_at: list[float] = []

    async def one(request: ReferenceRequest) -> dict[str, Any]:
        output = await engine.async_generate(
            prompt=request.prompt,
            image_data=request.images,
            sampling_params=request.sampling_params,
        )
        done_at.append(time.perf_counter() - started)
        return output  # type: ignore[no-any-return]

    outputs = await asyncio.gather(*(one(request) for request in requests))
    elapsed = time.perf_counter() - started
    pages = sum(len(request.images) for request in requests)
    meta = [output.get("meta_info") or {} for output in outputs]
    return {
        "documents": len(requests),
        "pages": pages,
        "elapsed_s": round(elapsed, 2),
        "pages_per_s": round(pages / elapsed, 3),
        "first_result_s": round(min(done_at), 3) if done_at else None,
        "latency_p50_s": round(statistics.median(done_at), 3) if done_at else None,
        "output_tokens_per_page": round(
            sum(int(m.get("completion_tokens") or 0) for m in meta) / max(pages, 1), 1
        ),
        "prompt_tokens_per_page": round(
            sum(int(m.get("prompt_tokens") or 0) for m in meta) / max(pages, 1), 1
        ),
    }
