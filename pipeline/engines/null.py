"""The null engine: answers every request at once with a schema-valid JSON answer.

It is a dry-run and host-ceiling engine. Its answers carry no information about the document;
they only prove that everything around the model (discovery, rendering, validation, writing)
works, and show how fast the host could go if the model were free.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from pipeline.config import EngineConfig
from pipeline.engines.base import (
    EngineBase,
    EngineFailure,
    EngineOutcome,
    EngineRequest,
    EngineResult,
)
from pipeline.errors import ErrorCode
from pipeline.items import DRY_RUN_ENGINE, DRY_RUN_MODEL

_FORMAT_EXAMPLES = {
    "date": "2000-01-01",
    "date-time": "2000-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "a@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


class _NoInstance(ValueError):
    """The schema (or one branch of it) admits no value this walker can build."""


def build_minimal_instance(schema: dict[str, Any]) -> Any:
    """The smallest value valid for a JSON schema: required fields only, empty or minimal arrays,
    zero-like numbers inside their bounds, strings matching `pattern`, `enum` or `format`,
    `$ref`/`$defs` resolved, the first viable branch of `anyOf`/`oneOf`, null where allowed.
    """
    return _walk(schema, schema, depth=0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise _NoInstance(f"external $ref not supported: {ref}")
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _walk(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if depth > 64:
        raise _NoInstance("schema nests too deeply")
    if schema is True or schema == {}:
        return None
    if not isinstance(schema, dict):
        raise _NoInstance(f"not a schema: {schema!r}")
    if "$ref" in schema:
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**_resolve(schema["$ref"], root), **rest}
        return _walk(merged, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if "$ref" in part else part
            merged = {**merged, **part}
        return _walk(merged, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _first_viable(schema[key], schema, key, root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = kind[0] if kind else None
    if kind is None:
        kind = "object" if "properties" in schema else "null"
    return _BUILDERS[kind](schema, root, depth)


def _first_viable(
    options: list[Any], schema: dict[str, Any], key: str, root: dict, depth: int
) -> Any:
    rest = {k: v for k, v in schema.items() if k != key}
    # A null branch is the smallest answer when the field allows it.
    ordered = sorted(options, key=lambda o: not (isinstance(o, dict) and o.get("type") == "null"))
    for option in ordered:
        try:
            return _walk({**rest, **option}, root, depth + 1)
        except _NoInstance:
            continue
    raise _NoInstance(f"no viable {key} branch")


def _build_object(schema: dict[str, Any], root: dict, depth: int) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {
        name: _walk(properties.get(name, {}), root, depth + 1)
        for name in schema.get("required", [])
    }


def _build_array(schema: dict[str, Any], root: dict, depth: int) -> list[Any]:
    count = int(schema.get("minItems", 0))
    prefix = schema.get("prefixItems", [])
    items = [_walk(prefix[i], root, depth + 1) for i in range(min(count, len(prefix)))]
    item_schema = schema.get("items", {})
    items += [_walk(item_schema, root, depth + 1) for _ in range(count - len(items))]
    return items


def _build_number(schema: dict[str, Any], root: dict, depth: int) -> float | int:
    integer = schema.get("type") == "integer"
    low, high = schema.get("minimum"), schema.get("maximum")
    xlow, xhigh = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    value: float = 0
    if low is not None:
        value = max(value, low)
    if xlow is not None and value <= xlow:
        value = xlow + 1 if integer or xhigh is None else (xlow + xhigh) / 2
    if high is not None:
        value = min(value, high)
    if xhigh is not None and value >= xhigh:
        value = xhigh - 1 if integer or xlow is None else (xlow + xhigh) / 2
    if integer:
        value = math.ceil(value) if low is not None or xlow is not None else math.floor(value)
        if (high is not None and value > high) or (low is not None and value < low):
            raise _NoInstance("no integer inside the bounds")
        return int(value)
    return value


def _build_string(schema: dict[str, Any], root: dict, depth: int) -> str:
    pattern = schema.get("pattern")
    example = _FORMAT_EXAMPLES.get(schema.get("format", ""))
    if example is not None and (pattern is None or re.search(pattern, example)):
        return example
    if pattern is not None:
        return example_for_pattern(pattern)
    # Engine schemas drop minLength, while the models often keep it: never answer "".
    return "a" * max(1, int(schema.get("minLength", 1)))


_BUILDERS = {
    "object": _build_object,
    "array": _build_array,
    "number": _build_number,
    "integer": _build_number,
    "string": _build_string,
    "boolean": lambda schema, root, depth: False,
    "null": lambda schema, root, depth: None,
}


def example_for_pattern(pattern: str) -> str:
    """A short string that `re.search(pattern, s)` accepts, built from the parsed regex."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found]
    except ImportError:  # Python 3.10 and older
        import sre_parse  # type: ignore[no-redef]
    text = _emit(sre_parse.parse(pattern))
    if re.search(pattern, text) is None:
        raise _NoInstance(f"cannot build a string for pattern {pattern!r}")
    return text


def _emit(parsed: Any) -> str:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(arg) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_emit_class(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            out.append(_emit(sub) * low)
        elif name == "SUBPATTERN":
            out.append(_emit(arg[-1]))
        elif name == "ATOMIC_GROUP":
            out.append(_emit(arg))
        elif name == "BRANCH":
            out.append(_emit(arg[1][0]))
        elif name in ("AT", "ASSERT", "ASSERT_NOT", "GROUPREF"):
            continue
        else:
            raise _NoInstance(f"regex construct not supported: {name}")
    return "".join(out)


_CATEGORY_CHARS = {"CATEGORY_DIGIT": "1", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " ",
                   "CATEGORY_NOT_DIGIT": "a", "CATEGORY_NOT_WORD": " ", "CATEGORY_NOT_SPACE": "a"}


def _emit_class(items: list[Any]) -> str:
    if items and str(items[0][0]) == "NEGATE":
        pattern = "[" + "^" + "".join(_class_source(i) for i in items[1:]) + "]"
        for candidate in "a0 A_-.x":
            if re.fullmatch(pattern, candidate):
                return candidate
        raise _NoInstance("negated character class admits no simple character")
    op, arg = items[0]
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY":
        return _CATEGORY_CHARS.get(str(arg), "a")
    raise _NoInstance(f"character class item not supported: {name}")


def _class_source(item: Any) -> str:
    op, arg = item
    name = str(op)
    if name == "LITERAL":
        return re.escape(chr(arg))
    if name == "RANGE":
        return re.escape(chr(arg[0])) + "-" + re.escape(chr(arg[1]))
    if name == "CATEGORY":
        return {"CATEGORY_DIGIT": r"\d", "CATEGORY_WORD": r"\w", "CATEGORY_SPACE": r"\s",
                "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_NOT_WORD": r"\W",
                "CATEGORY_NOT_SPACE": r"\S"}.get(str(arg), "")
    return ""


def estimate_prompt_tokens(request: EngineRequest) -> int:
    """Visual tokens of the pages plus about one token per four characters of text."""
    text = len(request.system) + len(request.prefix) + len(request.suffix)
    return sum(page.visual_tokens for page in request.images) + max(1, text // 4)


NULL_LOGPROB = 0.0
"""The log-probability the null engine gives its answer, asked for one: 0.0 (probability 1,
its answer is fixed), so a dry run's confidence is the text layer's alone."""


def answer_minimally(request: EngineRequest, latency_s: float = 0.0) -> EngineOutcome:
    """The null answer for one request, with estimated token counts: the schema's declared
    example when it has one (so its business rules hold), else the minimal instance. A schema
    this walker cannot satisfy becomes an `EngineFailure` for that request alone. Asked for
    log-probabilities, it gives the whole answer as one token of NULL_LOGPROB."""
    try:
        if request.example is not None:
            text = _compact(request.example)
        else:
            text = _minimal_text(json.dumps(request.json_schema, sort_keys=True))
    except (_NoInstance, KeyError, TypeError, ValueError, re.error) as exc:
        return EngineFailure(request.request_id, ErrorCode.ENGINE_ERROR, f"null engine: {exc}")
    return EngineResult(
        request_id=request.request_id,
        text=text,
        finish_reason="stop",
        prompt_tokens=estimate_prompt_tokens(request),
        completion_tokens=max(1, len(text) // 4),
        latency_s=latency_s,
        logprobs=(NULL_LOGPROB,) if request.logprobs else None,
        tokens=(text,) if request.logprobs else None,
    )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=32)
def _minimal_text(schema_text: str) -> str:
    """The minimal instance of the schema `schema_text` holds, as answer text: built once per
    schema, not once per request (a run asks with one schema)."""
    return _compact(build_minimal_instance(json.loads(schema_text)))


class NullEngine(EngineBase):
    """Answers instantly with the minimal schema-valid instance; a dry-run engine."""

    name = DRY_RUN_ENGINE
    default_model = DRY_RUN_MODEL

    def __init__(self, config: EngineConfig | None = None, max_in_flight: int = 64) -> None:
        self.model = self.model_for(config or EngineConfig())
        self.max_in_flight = max_in_flight

    async def generate(self, requests: Sequence[EngineRequest]) -> list[EngineOutcome]:
        # One turn of the loop, as any engine that answers later: the requests are in flight
        # meanwhile, and a stop that arrived since lands on them.
        await asyncio.sleep(0)
        return [answer_minimally(request) for request in requests]
