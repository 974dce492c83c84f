"""What a re-run does, and what a failed attempt leads to: the one home of those rules.

- The ledger remembers each committed item as "ok", "error" (a failure the next run would
  repeat), "transient" (the engine failed, or the file was changing) or "retry_once" (the
  render process ran out of memory, `render_oom`: perhaps only because the machine was short
  of memory at that moment).
- A re-run skips "ok" unless --force, skips "error" unless --retry-errors or --force, and
  never skips "transient" or "retry_once".
- A "retry_once" failure of an item whose committed status is already "retry_once" or
  "error" (its last attempt failed too) is committed as "error": the next plain run tries a
  render_oom once more, and a second one for the same content stands, until --retry-errors
  (`repeated_status`, applied inside the ledger's commit transaction).
- Within a run, an answer that is not valid JSON, breaks the schema or was cut off is asked
  again, up to --retries times: a cut-off answer with twice the room, otherwise with a little
  more temperature. An engine failure marked retryable is asked again unchanged.
- An item that was in flight when the engine's processes died is read by the next run after
  every other, with no other request in flight; one that was the engine's only request when it
  died is recorded as failed instead (`killed_engine`, an "error"), so that a document which
  kills the engine cannot stop every night (`read_alone`).
- A success retires the failures it makes stale: with --per-page, a page's success retires a
  failure recorded for its whole document (e.g. too_many_pages), never another page's; any
  success retires transient failures recorded for the same file under another content hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import RunConfig
from pipeline.errors import ErrorCode
from pipeline.items import document_of, is_page_item

OK, ERROR, TRANSIENT, RETRY_ONCE = "ok", "error", "transient", "retry_once"
TRANSIENT_CODES = frozenset(
    code.value
    for code in (
        ErrorCode.ENGINE_ERROR,
        ErrorCode.ENGINE_TIMEOUT,
        ErrorCode.ENGINE_UNAVAILABLE,
        ErrorCode.CHANGED,
    )
)
RETRIED_ONCE_CODES = frozenset({ErrorCode.RENDER_OOM.value})
RETRYABLE_ANSWERS = frozenset(
    {ErrorCode.INVALID_JSON, ErrorCode.SCHEMA_VIOLATION, ErrorCode.TRUNCATED_OUTPUT}
)
TEMPERATURE_LADDER = (0.3, 0.6, 0.9)
MAX_TOKENS_GROWTH = 4  # a cut-off answer may grow to this many times --max-new-tokens


def ledger_status(table_name: str, code: str | None) -> str:
    """How the ledger remembers a row of `table_name` with error `code`."""
    if table_name == "documents":
        return OK
    if code in TRANSIENT_CODES:
        return TRANSIENT
    return RETRY_ONCE if code in RETRIED_ONCE_CODES else ERROR


def repeated_status(status: str, previous: str | None) -> str:
    """How the ledger remembers an item committed with `status` whose committed status so far
    is `previous` (None: not committed): a failure retried once that fails again stands."""
    return ERROR if status == RETRY_ONCE and previous in (RETRY_ONCE, ERROR) else status


def is_done(status: str | None, config: RunConfig) -> bool:
    """Whether an item committed with `status` is skipped under this config."""
    if status is None or status in (TRANSIENT, RETRY_ONCE) or config.force:
        return False
    return not (status == ERROR and config.retry_errors)


def retires_document_failure(item_id: str, status: str) -> bool:
    """Whether committing `item_id` with `status` retires its document's own failure."""
    return status == OK and is_page_item(item_id)


def retires_transient_failures(status: str) -> bool:
    """Whether committing an item with `status` retires transient failures of its file (under
    other item ids): its new content was extracted, or failed in a way that is not
    transient."""
    return status in (OK, ERROR, RETRY_ONCE)


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


def read_alone(deaths: dict[str, int]) -> tuple[set[str], set[str]]:
    """For items in flight when the engine died (item id -> the fewest requests in flight at such
    a death): the documents to read last, one request at a time, and the items the engine died
    reading alone, which are not asked again (`killed_engine`)."""
    documents = {document_of(item_id) for item_id in deaths}
    return documents, {item_id for item_id, in_flight in deaths.items() if in_flight <= 1}
