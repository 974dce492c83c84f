"""The JSON schema sent to the engine for constrained decoding, and its compact prompt form.

`model_json_schema()` describes what the validator accepts; the engine needs a narrower schema
that leaves the model the least room for junk and that xgrammar compiles safely:

- Decimal fields become `{"type": "number"}`. Pydantic's own form (number or any string) would
  let the model write "1.234,56 €" or prose; a JSON number can only be digits, sign, point and
  exponent. The validator parses numbers with `parse_float=Decimal`, so no binary rounding.
- Dates carry only an ISO `pattern` (YYYY-MM-DD) and times only a `pattern` (HH:MM or
  HH:MM:SS, 24-hour). A string node never has both `format` and `pattern`: when a node has both,
  only `pattern` is kept. xgrammar 0.2.x lets `format` win and ignores the pattern (its
  `format: time` even demands a zone offset), and sglang 0.5.23 refuses such a node outright
  (`srt/constrained/json_schema_validation.py`: "constraints format, pattern cannot be enforced
  together"), which fails every request with "Failed to compile json grammar".
- Only the string formats xgrammar implements stay (XGRAMMAR_STRING_FORMATS). Others, such as
  Pydantic's `path`, `binary` (bytes) or `password` (SecretStr), are dropped, and so are the
  keywords xgrammar cannot enforce (UNENFORCEABLE_KEYWORDS: `multipleOf`, `uniqueItems` from
  `set[...]`, `not`, `if`/`then`/`else`, `contains`, ...). sglang 0.5.23 refuses a schema
  with any of them; older releases pass them to xgrammar, which ignores them.
- `minLength`/`maxLength` are removed: xgrammar may emit raw control characters inside
  length-bounded strings (xgrammar issue 800). Pydantic still checks lengths afterwards.
  Patterns, enums and numeric bounds stay: they compile to tight grammars.
- Whatever is dropped here, Pydantic still checks after decoding: a value that breaks a
  dropped keyword becomes a schema violation, not bad data.
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

XGRAMMAR_STRING_FORMATS = frozenset({
    "date", "date-time", "duration", "email", "hostname", "ipv4", "ipv6", "json-pointer",
    "relative-json-pointer", "time", "uri", "uri-reference", "uri-template", "uuid",
})
"""String formats xgrammar enforces (sglang 0.5.23's `_XGRAMMAR_STRING_FORMATS`)."""

UNENFORCEABLE_KEYWORDS = frozenset({
    "contains", "dependentRequired", "dependentSchemas", "else", "if", "maxContains",
    "minContains", "multipleOf", "not", "then", "uniqueItems",
})
"""Keywords xgrammar ignores (sglang 0.5.23's `_XGRAMMAR_UNSUPPORTED_KEYWORDS`)."""

_DROPPED = UNENFORCEABLE_KEYWORDS | {"title", "default", "minLength", "maxLength", "examples"}
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = (
    "items", "additionalProperties", "propertyNames", "not", "contains", "if", "then", "else"
)
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
        return {"type": "string", "pattern": DATE_PATTERN}

    def time_schema(self, schema: core_schema.TimeSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": TIME_PATTERN}


def _clean(node: Any, drop: frozenset[str] = _DROPPED, close: bool = True) -> Any:
    """Drop keywords in `drop` at schema positions (never property names), and any `format`
    that xgrammar cannot enforce or that sits beside a `pattern`; `close` objects."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    skip = drop if _enforceable_format(node) else drop | {"format"}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _clean(sub, drop, close) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub, drop, close) for sub in value]
        elif key in skip or (not close and key == "additionalProperties" and value is False):
            continue
        elif key in _SCHEMA_VALUES:
            out[key] = _clean(value, drop, close)
        else:
            out[key] = value
    if close and isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def _enforceable_format(node: dict[str, Any]) -> bool:
    """False when the node's `format` is one xgrammar does not enforce or sits beside a
    `pattern`; True otherwise (also when there is no `format`)."""
    if "format" not in node:
        return True
    value = node["format"]
    return isinstance(value, str) and value in XGRAMMAR_STRING_FORMATS and "pattern" not in node


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
