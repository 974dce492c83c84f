"""The JSON schema sent to the engine for constrained decoding, and its compact prompt form.

`model_json_schema()` describes what the validator accepts; the engine needs a narrower schema
that leaves the model the least room for junk and that xgrammar compiles safely:

- Decimal fields become `{"type": "number"}`. Pydantic's own form (number or any string) would
  let the model write "1.234,56 €" or prose; a JSON number can only be digits, sign, point and
  exponent. The validator parses numbers with `parse_float=Decimal`, so no binary rounding.
- Dates are strings with `format: date` and an ISO `pattern` (YYYY-MM-DD). Times carry only a
  `pattern` (HH:MM or HH:MM:SS, 24-hour): xgrammar's `format: time` demands an RFC 3339 time
  with a zone offset and wins over the pattern.
- `minLength`/`maxLength` are removed: xgrammar may emit raw control characters inside
  length-bounded strings (xgrammar issue 800). Pydantic still checks lengths afterwards.
  Patterns, enums and numeric bounds stay: they compile to tight grammars.
- Every object gets `additionalProperties: false` and lists all its properties as required, so
  the model writes every key, in order, with `null` for what is missing (the validator applies
  defaults for the optional ones).
- `title` and `default` keywords are dropped to save tokens; descriptions stay.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

DATE_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"

_DROPPED = frozenset({"title", "default", "minLength", "maxLength", "examples"})
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


class _EngineSchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator with engine-friendly forms for decimals, dates and times."""

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        result: dict[str, Any] = {"type": "number"}
        for key, name in _BOUNDS.items():
            if schema.get(key) is not None:
                result[name] = float(schema[key])  # type: ignore[literal-required]
        return result

    def date_schema(self, schema: core_schema.DateSchema) -> JsonSchemaValue:
        return {"type": "string", "format": "date", "pattern": DATE_PATTERN}

    def time_schema(self, schema: core_schema.TimeSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": TIME_PATTERN}


def _clean(node: Any, drop: frozenset[str] = _DROPPED, close: bool = True) -> Any:
    """Drop keywords in `drop` at schema positions (never property names); `close` objects."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _clean(sub, drop, close) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub, drop, close) for sub in value]
        elif key in drop or (not close and key == "additionalProperties" and value is False):
            continue
        elif key in _SCHEMA_VALUES:
            out[key] = _clean(value, drop, close)
        else:
            out[key] = value
    if close and isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def engine_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema the engine constrains its output to (see the module docstring)."""
    schema = model.model_json_schema(schema_generator=_EngineSchemaGenerator)
    return _clean(schema)


def compact_schema_text(model: type[BaseModel]) -> str:
    """Minified engine schema with descriptions, for the prompt.

    `required` lists and `additionalProperties: false` are left out: the grammar enforces them
    and the prompt says that every key is written.
    """
    schema = _clean(engine_json_schema(model), frozenset({"required"}), close=False)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
