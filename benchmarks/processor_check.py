"""What transformers' image-token check costs per page, as transformers counts, and as lists.

    python -m benchmarks.processor_check [--pages N]

Builds the full-size model folder (Qwen3's tokenizer, benchmarks/qwen3_vl_full.py), then calls
its processor on an A4 page at the default pixel budget (960 x 1344, 1,260 visual tokens) with
a prompt as long as docextract's, the way sglang's tokenizer manager calls it (one text,
`return_tensors="pt"`). It times the whole call and the check alone, alternately with the
installed release's own check and with `count_ids_as_lists` (pipeline/engines/mm_token_check.py),
and prints the CPU milliseconds per page of each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PAGE = (960, 1344)
PROMPT_WORDS = 420  # with the page's 1,260 visual tokens, about docextract's 2,100 per page


def processed(processor: Any, text: str, page: Any) -> tuple[Any, float]:
    """The processor's output for one page, and the CPU milliseconds the call took."""
    start = time.thread_time()
    out = processor(text=[text], images=[page], padding=True, return_tensors="pt")
    return out, (time.thread_time() - start) * 1000


def check_ms(processor: Any, expanded: list[str], out: Any) -> float:
    start = time.thread_time()
    processor._check_special_mm_tokens(expanded, out, modalities=["image", "video", "audio"])
    return (time.thread_time() - start) * 1000


def measure(processor: Any, text: str, page: Any, check: Any, pages: int) -> dict[str, float]:
    """Median CPU ms per page of the processor call and of the check, with `check` in place."""
    from transformers.processing_utils import ProcessorMixin

    ProcessorMixin._check_special_mm_tokens = check  # type: ignore[method-assign]
    pad = "<|image_pad|>"
    calls, checks = [], []
    for _ in range(pages):
        out, call_ms = processed(processor, text, page)
        pads = out["input_ids"][0].tolist().count(processor.image_token_id)
        calls.append(call_ms)
        checks.append(check_ms(processor, [text.replace(pad, pad * pads)], out))
    return {"call_ms": statistics.median(calls), "check_ms": statistics.median(checks)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    import transformers
    from PIL import Image
    from transformers import AutoProcessor
    from transformers.processing_utils import ProcessorMixin

    from benchmarks.qwen3_vl_full import build
    from pipeline.engines.mm_token_check import count_ids_as_lists

    with tempfile.TemporaryDirectory() as tmp:
        processor = AutoProcessor.from_pretrained(build(Path(tmp) / "full"))
    own = ProcessorMixin._check_special_mm_tokens
    count_ids_as_lists()
    as_lists = ProcessorMixin._check_special_mm_tokens
    message = [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": " ".join(["invoice total"] * PROMPT_WORDS)},
            ],
        }
    ]
    text = processor.apply_chat_template(message, tokenize=False, add_generation_prompt=True)
    page = Image.new("RGB", PAGE, "white")
    tokens = len(processor(text=[text], images=[page], return_tensors="pt")["input_ids"][0])
    print(f"transformers {transformers.__version__}; {tokens} prompt tokens per page")
    rows: dict[str, list[dict[str, float]]] = {
        "transformers' own check": [],
        "ids counted as lists": [],
    }
    for _ in range(3):
        rows["transformers' own check"].append(measure(processor, text, page, own, args.pages))
        rows["ids counted as lists"].append(measure(processor, text, page, as_lists, args.pages))
    print("| check | processor call, CPU ms/page | the check alone |\n|---|---|---|")
    for name, runs in rows.items():
        call = [r["call_ms"] for r in runs]
        check = [r["check_ms"] for r in runs]
        print(f"| {name} | {min(call):.1f}–{max(call):.1f} | {min(check):.2f}–{max(check):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
