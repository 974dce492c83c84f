"""Stable error codes and the narrow exceptions the library raises.

Codes are part of the output contract: they land in the errors table and users filter on them,
so a code is never renamed once released.
"""

from __future__ import annotations

import signal
from enum import IntEnum, StrEnum
from typing import ClassVar, Literal

RunEnd = Literal[
    "finished", "stopped", "interrupted", "engine_died", "engine_gone", "failed", "killed"
]
"""How a run ended: as the report, the ledger's `runs` table and the manifest record it."""


class Stage(StrEnum):
    """The pipeline stage at which an error row was produced."""

    DISCOVER = "discover"
    RENDER = "render"
    REQUEST = "request"
    ENGINE = "engine"
    VALIDATE = "validate"
    WRITE = "write"


class ErrorCode(StrEnum):
    """Every error and warning code docextract emits."""

    # discover
    NOT_FOUND = "not_found"
    UNREADABLE = "unreadable"
    EMPTY_FILE = "empty_file"
    NOT_A_DOCUMENT = "not_a_document"
    DUPLICATE = "duplicate"
    # render
    CHANGED = "changed"
    ENCRYPTED = "encrypted"
    WRONG_PASSWORD = "wrong_password"
    CORRUPT = "corrupt"
    TRUNCATED = "truncated"
    ZERO_PAGES = "zero_pages"
    PAGE_TOO_LARGE = "page_too_large"
    IMAGE_TOO_LARGE = "image_too_large"
    RENDER_TIMEOUT = "render_timeout"
    RENDER_CRASH = "render_crash"
    RENDER_OOM = "render_oom"  # the render process ran out of memory: a re-run tries it once more
    RENDER_FAILED = "render_failed"
    REPAIRED = "repaired"
    DECODER_WARNING = "decoder_warning"  # a warning the image decoder gave (a warning row)
    TOO_MANY_PAGES = "too_many_pages"
    EINVOICE_INVALID = "einvoice_invalid"  # the e-invoice XML an input carries cannot be read
    NOTHING_TO_RENDER = "nothing_to_render"  # an XML invoice asked of the model: no pages
    # engine
    ENGINE_ERROR = "engine_error"
    ENGINE_TIMEOUT = "engine_timeout"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    REQUEST_REJECTED = "request_rejected"
    KILLED_ENGINE = "killed_engine"  # the engine's processes died while it read this item alone
    # validate
    TRUNCATED_OUTPUT = "truncated_output"
    INVALID_JSON = "invalid_json"
    SCHEMA_VIOLATION = "schema_violation"
    RULE_VIOLATION = "rule_violation"
    # warnings on a documents row (besides `repaired` and the schema's rule warnings)
    NEEDS_REVIEW = "needs_review"  # a field's grounding confidence is under --review-below
    LINES_UNREAD = "lines_unread"  # --model-boxes: the model's reading of a page gave no lines


class ExitCode(IntEnum):
    """Process exit codes; cron and CI gate on them."""

    OK = 0
    FAILURES = 1  # run: failures above --max-failure-rate; eval: F1 below --min-f1
    USAGE = 2  # bad flags, configuration or schema
    ENGINE = 3  # the engine could not start, or stopped answering during the run
    LOCKED = 4  # another run holds the output folder
    INTERNAL = 5  # a defect in docextract itself: the traceback says where
    ENGINE_DIED = 6  # the engine's processes died during the run; finished work is committed
    OUTPUT = 7  # the output folder cannot be written or is damaged; committed work kept
    INTERRUPTED = 130  # SIGINT (Ctrl-C); finished work is committed
    TERMINATED = 143  # SIGTERM (cron, systemd, kill); finished work is committed


class DocextractError(Exception):
    """Base class of every exception docextract raises on purpose."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class ConfigError(DocextractError):
    """The configuration (flags, TOML file or environment) is invalid."""


class SchemaNotFound(DocextractError):
    """A schema name or reference does not resolve to a model."""


class EngineUnavailable(DocextractError):
    """The requested engine cannot start here; the message says what to do."""

    exit_code = ExitCode.ENGINE


class ModelNeeded(EngineUnavailable):
    """The engine could not start: rows read from e-invoice XML were written, the documents in
    `report.needs_model` wait for a run whose engine starts."""

    def __init__(self, cause: EngineUnavailable, report: object) -> None:
        super().__init__(str(cause))
        self.report = report


class OutputLocked(DocextractError):
    """Another run holds the lock on the output folder."""

    exit_code = ExitCode.LOCKED


class OutputNotWritable(DocextractError):
    """The output folder cannot be written: no permission, read-only, or a full disk."""

    exit_code = ExitCode.OUTPUT


class RunStopped(DocextractError):
    """A run ended before its work was done; what it had finished is committed.

    `report` is the run's report (counts so far) once the orchestrator has attached it.
    """

    ended: ClassVar[RunEnd] = "stopped"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.report: object = None


class RunInterrupted(RunStopped):
    """SIGINT or SIGTERM asked the run to stop."""

    ended = "interrupted"

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> ExitCode:  # type: ignore[override]
        return ExitCode.TERMINATED if self.signum == signal.SIGTERM else ExitCode.INTERRUPTED


class EngineGone(RunStopped):
    """The engine stopped answering during the run (a server that went away): the documents
    answered are committed, the rest are left for the next run, not written as failures."""

    ended = "engine_gone"
    exit_code = ExitCode.ENGINE


class EngineDied(RunStopped):
    """The engine's worker processes died during the run (crash, GPU fault, killed)."""

    ended = "engine_died"
    exit_code = ExitCode.ENGINE_DIED
