"""Stable error codes and the narrow exceptions the library raises.

Codes are part of the output contract: they land in the errors table and users filter on them,
so a code is never renamed once released.
"""

from __future__ import annotations

from enum import StrEnum


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
    RENDER_FAILED = "render_failed"
    REPAIRED = "repaired"
    TOO_MANY_PAGES = "too_many_pages"
    # engine
    ENGINE_ERROR = "engine_error"
    ENGINE_TIMEOUT = "engine_timeout"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    # validate
    TRUNCATED_OUTPUT = "truncated_output"
    INVALID_JSON = "invalid_json"
    SCHEMA_VIOLATION = "schema_violation"
    RULE_VIOLATION = "rule_violation"


class DocextractError(Exception):
    """Base class of every exception docextract raises on purpose."""


class ConfigError(DocextractError):
    """The configuration (flags, TOML file or environment) is invalid."""


class SchemaNotFound(DocextractError):
    """A schema name or reference does not resolve to a model."""


class EngineUnavailable(DocextractError):
    """The requested engine cannot start here; the message says what to do."""


class OutputLocked(DocextractError):
    """Another run holds the lock on the output folder."""
