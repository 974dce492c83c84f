"""The words of every setting a flag can set: RunConfig's field descriptions are these texts,
and so is the CLI's option help, without the CLI importing pydantic (`--help` stays fast);
with the defaults `--help` shows (a test checks them against RunConfig's)."""

from __future__ import annotations

HELP: dict[str, str] = {
    "inputs": "Files, folders (recursive) or globs.",
    "schema_ref": "Built-in name, file.py:Model, module:Model or .json.",
    "out": "Output folder (Parquet tables, ledger).",
    "engine.name": "auto, sglang, openai, transformers or null.",
    "engine.model": "Model id or local folder (default: the engine's default model).",
    "engine.openai.base_url": "OpenAI-compatible server for --engine openai.",
    "render.dpi": "Render resolution before the budget.",
    "render.max_pixels": "Pixel cap per page image.",
    "render.min_pixels": "Pixel floor per page image.",
    "render.passwords": "Passwords tried on encrypted PDFs (repeatable).",
    "render.workers": "Render processes (at most 256, each started up front); 0 means one "
    "per CPU core.",
    "render.timeout_s": "Per-file render time limit, seconds.",
    "render.text_layer": "Read each PDF page's words with their boxes while rendering, and "
    "locate every answer field on its page: the fields table.",
    "render.model_boxes": "With grounding: read each page that has no text layer (a scan, an "
    "image) once more with the model, as lines of text with their boxes, and locate the "
    "answer's values there (source model_box). Costs a second request per such page; off by "
    "default. Turns --grounding on.",
    "render.text_lines": "Read each PDF page's lines of text with their boxes while rendering "
    "(the page_text schema turns it on).",
    "review_below": "Mark the fields whose grounding confidence is under this (0 to 1) for "
    "review, and give their documents a needs_review warning; needs --grounding. Off by default.",
    "max_pages": "Pages per request (at most 100: a request's pages are held in memory "
    "together); longer documents fail or go --per-page.",
    "per_page": "One row per page.",
    "engine.max_new_tokens": "Answer length cap, in tokens.",
    "retries": "Re-asks after an invalid or truncated answer.",
    "force": "Redo documents already extracted.",
    "retry_errors": "Redo documents that failed.",
    "wait": "Wait for another run on OUT to finish.",
    "engine_restarts": "docextract run: when the engine's processes die (exit 6), start the "
    "same command again this many times, with a fresh engine; each start takes up the "
    "documents not yet committed.",
    "shard": "I/N: take the I-th of N content-hash shards.",
    "max_failure_rate": "Exit 1 above this failed fraction, of this run or of the inputs "
    "(with failures a re-run skipped).",
    "dry_run": "List every input and its fate, with a token estimate; write nothing.",
    "log_format": "auto, rich, plain or json.",
    "einvoice": "E-invoices (invoice XML, alone or attached to a PDF): prefer (row from the "
    "XML, no model), model (ignore the XML) or verify (both; differences become warnings).",
}

DEFAULTS: dict[str, str] = {
    "schema_ref": "invoice",
    "out": "out",
    "engine.name": "auto",
    "engine.openai.base_url": "http://127.0.0.1:30000/v1",
    "render.dpi": "150",
    "render.max_pixels": "1310720",
    "render.min_pixels": "65536",
    "render.workers": "0",
    "render.text_layer": "no-grounding",
    "render.model_boxes": "no-model-boxes",
    "max_pages": "8",
    "per_page": "per-document",
    "engine.max_new_tokens": "2048",
    "retries": "2",
    "shard": "0/1",
    "max_failure_rate": "0",
    "engine_restarts": "0",
    "log_format": "auto",
    "einvoice": "prefer",
}
"""RunConfig's defaults as `--help` shows them; the TOML file and DOCEXTRACT_* variables
override them as they do the defaults."""


def field_help(path: str) -> str:
    """The description of the RunConfig field at dotted `path`, e.g. "render.dpi"."""
    return HELP[path]
