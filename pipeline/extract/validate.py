"""The parse+validate stage: model text in, a validated instance or a coded failure out.

Checks run in this order, and the first that fails decides the code:
1. `finish_reason == "length"`: the answer was cut off -> TRUNCATED_OUTPUT.
2. Not JSON (after removing a ```json fence) -> INVALID_JSON.
3. Pydantic rejects it, or a value does not fit its output column (a Decimal beyond
   decimal128(18, 4), an integer beyond int64, no value where the column needs one) ->
   SCHEMA_VIOLATION, the message lists each failing field.
4. A business rule of severity "error" fails -> RULE_VIOLATION, the message lists rule codes.
Rule warnings are kept on a successful result, with one `rounded` warning per number that its
decimal128(18, 4) column stores rounded (a unit price of 0.28734 is kept as 0.2873).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.errors import ErrorCode
from pipeline.output.arrow import ValueOutOfRange, rounded_decimals
from pipeline.output.arrow_check import checked_arrow_value
from schemas.dates import validate_with_dates
from schemas.rules import RuleFinding

ROUNDED = "rounded"
"""The warning on a row with a number stored with fewer decimals than the model wrote."""

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_MAX_LISTED_ERRORS = 8


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome for one answer: an instance (and its plain data) or an error code."""

    instance: BaseModel | None
    data: dict[str, Any] | None
    warnings: tuple[RuleFinding, ...] = ()
    error_code: ErrorCode | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


def strip_fence(text: str) -> str:
    """The text inside a Markdown code fence, or the text itself, trimmed."""
    match = _FENCE.match(text)
    return (match.group(1) if match else text).strip()


def format_validation_error(exc: ValidationError, limit: int = _MAX_LISTED_ERRORS) -> str:
    """One line per failing field: `path: message (got value)`."""
    lines = []
    for item in exc.errors()[:limit]:
        path = ".".join(str(p) for p in item["loc"]) or "(root)"
        got = item.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        if len(shown) > 60:
            shown = shown[:57] + "..."
        lines.append(f"{path}: {item['msg']} (got {shown})")
    more = exc.error_count() - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)


def validate_answer(text: str, model: type[BaseModel], finish_reason: str = "stop") -> Validation:
    """Parse and validate one model answer against `model` and its business rules."""
    if finish_reason == "length":
        return Validation(
            None, None, (), ErrorCode.TRUNCATED_OUTPUT, "answer cut off at max_new_tokens"
        )
    body = strip_fence(text)
    try:
        parsed = json.loads(body, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError) as exc:
        preview = body[:80].replace("\n", " ")
        return Validation(
            None, None, (), ErrorCode.INVALID_JSON, f"not JSON: {exc} (starts {preview!r})"
        )
    try:
        json.dumps(parsed, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        # json.loads accepts "\\ud800" alone; no UTF-8 column (Parquet, SQLite) can hold it.
        return Validation(
            None, None, (), ErrorCode.INVALID_JSON, "not JSON text: a lone \\u surrogate escape"
        )
    try:
        instance, date_findings = _validate(model, parsed)
    except ValidationError as exc:
        return Validation(None, None, (), ErrorCode.SCHEMA_VIOLATION, format_validation_error(exc))
    try:
        checked_arrow_value(instance)
    except ValueOutOfRange as exc:
        return Validation(None, None, (), ErrorCode.SCHEMA_VIOLATION, f"cannot be stored: {exc}")
    data = instance.model_dump(mode="python")
    findings = date_findings + _run_rules(instance) + _rounded(instance)
    errors = [f for f in findings if f.severity == "error"]
    warnings = tuple(f for f in findings if f.severity != "error")
    if errors:
        listed = "; ".join(f"{f.code}: {f.message}" for f in errors)
        return Validation(instance, None, warnings, ErrorCode.RULE_VIOLATION, listed)
    return Validation(instance, data, warnings)


def _validate(model: type[BaseModel], parsed: Any) -> tuple[BaseModel, list[RuleFinding]]:
    """`validate_with_dates`, once more where a choice of numbers (a Literal or enum of floats)
    refused a number only because it was parsed as a Decimal: Decimal('0.07') is not the float
    0.07 a `Literal[0.07, 0.19]` holds. The number is given as that float only where the float
    writes the same digits, so no value changes."""
    try:
        return validate_with_dates(model, parsed)
    except ValidationError as exc:
        if not _choices_as_floats(parsed, exc):
            raise
    return validate_with_dates(model, parsed)


def _choices_as_floats(parsed: Any, exc: ValidationError) -> bool:
    changed = False
    for error in exc.errors():
        value = error.get("input")
        if error["type"] not in ("literal_error", "enum") or not isinstance(value, Decimal):
            continue
        if value.is_finite() and Decimal(repr(float(value))) == value:
            changed = _replace_at(parsed, error["loc"], float(value)) or changed
    return changed


def _replace_at(node: Any, loc: tuple[int | str, ...], value: Any) -> bool:
    """Set the item at the path `loc` of the parsed JSON `node`; False where it is not there
    (a path through a union names the union's member, not a key)."""
    if not loc:
        return False
    for part in loc[:-1]:
        if not _holds(node, part):
            return False
        node = node[part]
    if not _holds(node, loc[-1]):
        return False
    node[loc[-1]] = value
    return True


def _holds(node: Any, key: int | str) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _rounded(instance: BaseModel) -> list[RuleFinding]:
    return [
        RuleFinding(ROUNDED, "warning", f"{path}: {value} is stored as {stored}")
        for path, value, stored in rounded_decimals(instance)
    ]


def _run_rules(instance: BaseModel) -> list[RuleFinding]:
    check = getattr(instance, "check_rules", None)
    if not callable(check):
        return []
    try:
        findings = list(check())
    except Exception as exc:  # a broken custom rule must not crash the run
        return [RuleFinding("rules.crashed", "error", f"{type(exc).__name__}: {exc}")]
    return [_as_finding(f) for f in findings]


def _as_finding(item: Any) -> RuleFinding:
    """Findings of custom models may be any object with code, severity and message."""
    if isinstance(item, RuleFinding):
        return item
    severity = getattr(item, "severity", "error")
    return RuleFinding(
        str(getattr(item, "code", "rules.custom")),
        "warning" if severity == "warning" else "error",
        str(getattr(item, "message", item)),
    )
