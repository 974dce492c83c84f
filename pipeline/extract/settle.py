"""What an engine outcome means for its work item: extracted, failed, or asked again.

`settle` is pure: it reads the item and the outcome and returns a decision; the caller applies
it (counts the attempt, writes the row, or queues the retry). The rules are
`pipeline.policy`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from pipeline.engines.base import EngineFailure, EngineOutcome, EngineResult
from pipeline.errors import ErrorCode, Stage
from pipeline.extract.validate import validate_answer
from pipeline.items import WorkItem
from pipeline.policy import RETRYABLE_ANSWERS, NextAttempt, may_retry, next_attempt
from pipeline.records import ErrorRecord, WarningRecord


@dataclass(frozen=True, slots=True)
class Retry:
    """Ask again, with these settings."""

    settings: NextAttempt


@dataclass(frozen=True, slots=True)
class Extracted:
    """A valid answer, with the render warnings and rule findings that go with it."""

    result: EngineResult
    instance: BaseModel
    warnings: list[WarningRecord]


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure to record, with the raw answer when there was one."""

    record: ErrorRecord
    raw: str = ""


Settlement = Retry | Extracted | Failed


def settle(
    item: WorkItem,
    outcome: EngineOutcome,
    model: type[BaseModel],
    retries: int,
    max_new_tokens: int,
) -> Settlement:
    """The decision for `item`'s attempt number `item.attempts + 1`, answered by `outcome`;
    `retries` and `max_new_tokens` are the run's settings."""
    attempts = item.attempts + 1
    retry_allowed = may_retry(attempts, retries)
    current_tokens = item.max_new_tokens or max_new_tokens
    if isinstance(outcome, EngineFailure):
        if retry_allowed and outcome.retryable:
            return Retry(NextAttempt(current_tokens, item.temperature))
        return Failed(_error(item, attempts, Stage.ENGINE, outcome.code, outcome.message))
    checked = validate_answer(outcome.text, model, outcome.finish_reason)
    if checked.error_code in RETRYABLE_ANSWERS and retry_allowed:
        return Retry(
            next_attempt(
                checked.error_code, attempts, current_tokens, item.temperature, max_new_tokens
            )
        )
    if checked.error_code is not None or checked.instance is None:
        code = checked.error_code or ErrorCode.SCHEMA_VIOLATION
        record = _error(item, attempts, Stage.VALIDATE, code, checked.message or "")
        return Failed(record, outcome.text)
    warnings = list(item.render_warnings) + [
        WarningRecord(f.code, f.message) for f in checked.warnings
    ]
    return Extracted(outcome, checked.instance, warnings)


def _error(
    item: WorkItem, attempts: int, stage: Stage, code: ErrorCode, message: str
) -> ErrorRecord:
    return ErrorRecord(
        item.source.sha256,
        item.path,
        stage,
        code,
        f"{item.path}: {message}",
        page=item.page,
        attempts=attempts,
    )
