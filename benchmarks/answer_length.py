"""How long, in a model's tokens, the true answers of the bundled examples are.

Each truth file of `examples/truth/<schema>/` is written as sglang writes an answer: JSON
whose items and keys are joined by ", " and ": " and no other whitespace (sglang runs with
`constrained_json_disable_any_whitespace`, which it passes to xgrammar as `any_whitespace=False`
with xgrammar's default separators), keys in the schema's order, amounts as JSON numbers where
the engine schema asks for a number, then the end-of-turn token. With random weights an answer
runs to `max_new_tokens`, so the GPU bench sets that to the median of these lengths.

    python -m benchmarks.answer_length MODEL_FOLDER
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT / "examples" / "truth"


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _branch(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The branch of an anyOf that `value` takes (null for None, else the first other)."""
    options = [_resolve(option, defs) for option in node["anyOf"]]
    wanted = "null" if value is None else None
    for option in options:
        if (option.get("type") == "null") == (wanted == "null"):
            return option
    return options[0]


def as_answer(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """`value` (a truth file's JSON) with the types the engine schema `node` gives it."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        return as_answer(value, _branch(value, node, defs), defs)
    kind = node.get("type")
    if kind == "object" and isinstance(value, dict):
        properties = node.get("properties", {})
        return {key: as_answer(value.get(key), sub, defs) for key, sub in properties.items()}
    if kind == "array" and isinstance(value, list):
        return [as_answer(item, node.get("items", {}), defs) for item in value]
    if kind in ("number", "integer") and isinstance(value, str):
        return Decimal(value)
    return value


SGLANG_SEPARATORS = (", ", ": ")
"""How xgrammar joins items and keys when sglang turns any_whitespace off."""


def answer_text(
    truth: dict[str, Any], schema: dict[str, Any], separators: tuple[str, str] = SGLANG_SEPARATORS
) -> str:
    """The answer the engine would write for `truth` under the engine JSON `schema`, its items
    and keys joined by `separators`."""
    typed = as_answer(truth, schema, schema.get("$defs", {}))
    text = json.dumps(typed, ensure_ascii=False, separators=separators, default=_marked)
    return _MARKED.sub(r"\1", text)  # each amount a bare JSON number, as the truth prints it


_MARKER = "\u2063number:"
_MARKED = re.compile('"' + _MARKER + r'([-+0-9.eE]+)"')


def _marked(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MARKER}{value}"
    raise TypeError(type(value).__name__)


def answer_lengths(tokenizer: Any, truth_dir: Path = TRUTH) -> dict[str, int]:
    """{"schema/name": tokens} of every truth file's answer, the end-of-turn token included."""
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema

    lengths: dict[str, int] = {}
    for folder in sorted(p for p in truth_dir.iterdir() if p.is_dir()):
        schema = engine_json_schema(resolve_schema(folder.name).model)
        for path in sorted(folder.glob("*.json")):
            text = answer_text(json.loads(path.read_text(encoding="utf-8")), schema)
            ids = tokenizer(text, add_special_tokens=False).input_ids
            lengths[f"{folder.name}/{path.stem}"] = len(ids) + 1
    return lengths


def median_answer_tokens(model_folder: Path, truth_dir: Path = TRUTH) -> tuple[int, dict]:
    """(median tokens, every answer's tokens) with the tokenizer of `model_folder`."""
    from transformers import AutoTokenizer

    lengths = answer_lengths(AutoTokenizer.from_pretrained(model_folder), truth_dir)
    return round(statistics.median(lengths.values())), lengths


if __name__ == "__main__":
    median, each = median_answer_tokens(Path(sys.argv[1]))
    print(json.dumps({"median": median, "answers": each}, indent=2))
