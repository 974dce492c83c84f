"""What a re-run does, and what a failed attempt leads to: the one home of those rules.

- The ledger remembers each committed item as "ok", "error" (a failure the next run would
  repeat) or "transient" (the engine failed, or the file was changing).
- A re-run skips "ok" unless --force, skips "error" unless --retry-errors or --force, and
  never skips "transient".
- Within a run, an answer that is not valid JSON, breaks the schema or was cut off is asked
  again, up to --retries times: a cut-off answer with twice the room, otherwise with a little
  more temperature. An engine failure marked retryable is asked again unchanged.
- A success retires the failures it makes stale: with --per-page, a page's success retires a
  failure recorded for its whole document (e.g. too_many_pages), never another page's; any
  success retires transient failures recorded for the same file under another content hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import RunConfig
from pipeline.errors import ErrorCode
from pipeline.items import is_page_item

OK, ERROR, TRANSIENT = "ok", "error", "transient"
TRANSIENT_CODES = frozenset(
    code.value
    for code in (
        ErrorCode.ENGINE_ERROR,
        ErrorCode.ENGINE_TIMEOUT,
        ErrorCode.ENGINE_UNAVAILABLE,
        ErrorCode.CHANGED,
    )
)
RETRYABLE_ANSWERS = frozenset(
    {ErrorCode.INVALID_JSON, ErrorCode.SCHEMA_VIOLATION, ErrorCode.TRUNCATED_OUTPUT}
)
TEMPERATURE_LADDER = (0.3, 0.6, 0.9)
MAX_TOKENS_GROWTH = 4  # a cut-off answer may grow to this many times --max-new-tokens


def ledger_status(table_name: str, code: str | None) -> str:
    """How the ledger remembers a row of `table_name` with error `code`."""
    if table_name == "documents":
        return OK
    return TRANSIENT if code in TRANSIENT_CODES else ERROR


def is_done(status: str | None, config: RunConfig) -> bool:
    """Whether an item committed with `status` is skipped under this config."""
    if status is None or status == TRANSIENT or config.force:
        return False
    return not (status == ERROR and config.retry_errors)


def retires_document_failure(item_id: str, status: str) -> bool:
    """Whether committing `item_id` with `status` retires its document's own failure."""
    return status == OK and is_page_item(item_id)


def retires_transient_failures(status: str) -> bool:
    """Whether committing an item with `status` retires transient failures of its file (under
    other item ids): its new content was extracted, or failed for good."""
    return status in (OK, ERROR)


@dataclass(frozen=True, slots=True)
class NextAttempt:
    """The sampling settings of the attempt after a retryable failure."""

    max_new_tokens: int
    temperature: float


def may_retry(attempts: int, retries: int) -> bool:
    """Whether an item that has had `attempts` attempts may have another."""
    return attempts <= retries


def next_attempt(
    code: ErrorCode, attempts: int, max_new_tokens: int, temperature: float, configured: int
) -> NextAttempt:
    """More room after a cut-off answer, else the next step up the temperature ladder."""
    if code is ErrorCode.TRUNCATED_OUTPUT:
        return NextAttempt(min(max_new_tokens * 2, configured * MAX_TOKENS_GROWTH), temperature)
    step = min(attempts, len(TEMPERATURE_LADDER)) - 1
    return NextAttempt(max_new_tokens, TEMPERATURE_LADDER[step])
