"""The engine schema compiles with the real xgrammar and leaves the model little room for junk."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import pytest
import xgrammar as xgr
from pydantic import BaseModel, Field, SecretStr, ValidationError

from pipeline.extract.engine_schema import DATE_PATTERN, compact_schema_text, engine_json_schema
from schemas import BUILTIN_SCHEMAS
from tests.fixtures_model import sglang_source
from tests.sglang_contract import load_json_schema_validator
from tests.test_schemas import GOOD

# A byte-level vocabulary: every printable ASCII character, the bytes of UTF-8 text, and a stop
# token. Enough for xgrammar to compile a grammar and walk it character by character.
_VOCAB = [chr(c) for c in range(32, 127)] + [bytes([b]).decode("latin-1") for b in range(128, 256)]
_VOCAB += ["<|im_end|>"]
_STOP = len(_VOCAB) - 1


@pytest.fixture(scope="module")
def compiler() -> xgr.GrammarCompiler:
    info = xgr.TokenizerInfo(_VOCAB, xgr.VocabType.RAW, stop_token_ids=[_STOP])
    return xgr.GrammarCompiler(info, max_threads=1)


def _keys(node: Any) -> set[str]:
    """Keyword names used anywhere in the schema, property names excluded."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= _keys(sub)
            else:
                found.add(key)
                found |= _keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _keys(item)
    return found


def _accepts(compiled: xgr.CompiledGrammar, text: str) -> bool:
    matcher = xgr.GrammarMatcher(compiled)
    return matcher.accept_string(text) and matcher.accept_token(_STOP)


def _canonical_answer(name: str) -> str:
    """What a well-behaved model writes: every key, ISO dates, plain numbers, nulls, and the
    separators xgrammar uses when sglang disables free whitespace (", " and ": ")."""
    instance = BUILTIN_SCHEMAS[name].model_validate(GOOD[name]())
    data = instance.model_dump(mode="json")
    return json.dumps(_numbers(data), ensure_ascii=False)


def _numbers(node: Any) -> Any:
    # model_dump(mode="json") writes Decimals as strings; the engine writes numbers.
    if isinstance(node, dict):
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    if isinstance(node, str):
        try:
            float(node)
        except ValueError:
            return node
        return json.loads(node) if not node.isdigit() or len(node) < 8 else node
    return node


@pytest.mark.parametrize("name", list(BUILTIN_SCHEMAS))
def test_builtin_schema_compiles_and_has_no_length_keywords(
    name: str, compiler: xgr.GrammarCompiler
) -> None:
    schema = engine_json_schema(BUILTIN_SCHEMAS[name])
    keys = _keys(schema)
    assert not {"minLength", "maxLength", "title", "default"} & keys
    assert BUILTIN_SCHEMAS[name].model_json_schema() != schema
    xgr.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False)
    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    assert _accepts(compiled, _canonical_answer(name))


@pytest.mark.parametrize("name", list(BUILTIN_SCHEMAS))
def test_objects_are_closed_and_fully_required(name: str) -> None:
    schema = engine_json_schema(BUILTIN_SCHEMAS[name])
    objects = [schema] + [d for d in schema.get("$defs", {}).values() if "properties" in d]
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])


def test_decimal_is_number_and_dates_are_iso_strings() -> None:
    schema = engine_json_schema(BUILTIN_SCHEMAS["invoice"])
    props = schema["properties"]
    assert props["net_total"] == {"description": "Total before tax.", "type": "number"}
    assert props["amount_due"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    # A pattern and no format: xgrammar would let the format win, sglang 0.5.23 refuses both.
    assert props["issue_date"] == {
        "description": props["issue_date"]["description"],
        "type": "string",
        "pattern": DATE_PATTERN,
    }
    assert props["issue_date"]["pattern"].startswith("^\\d{4}-")


def test_grammar_rejects_local_formats_and_extra_keys(compiler: xgr.GrammarCompiler) -> None:
    schema = json.dumps(engine_json_schema(BUILTIN_SCHEMAS["bank_statement"]))
    compiled = compiler.compile_json_schema(schema, any_whitespace=False)
    good = _canonical_answer("bank_statement")
    assert _accepts(compiled, good)
    for old, new in [
        ('"opening_balance": 1000.0', '"opening_balance": "1.000,00"'),
        ('"period_start": "2024-03-01"', '"period_start": "01.03.2024"'),
        ('"period_start": "2024-03-01"', '"period_start": "2024-13-01"'),  # the pattern rules
        ('"bank_name": ', '"extra": 1, "bank_name": '),
        ('"account_number": null, ', ""),
    ]:
        assert old in good
        assert not _accepts(compiled, good.replace(old, new)), new


def test_length_bounds_removed_but_patterns_and_bounds_kept(compiler: xgr.GrammarCompiler) -> None:
    class Bounded(BaseModel):
        code: str = Field(min_length=2, max_length=4, pattern=r"^[A-Z]+$", description="A code.")
        count: int = Field(ge=0, le=9, description="A count.")
        tags: list[str] = Field(max_length=3, description="Tags.")

    schema = engine_json_schema(Bounded)
    assert schema["properties"]["code"] == {
        "description": "A code.",
        "pattern": "^[A-Z]+$",
        "type": "string",
    }
    assert schema["properties"]["count"]["maximum"] == 9
    assert schema["properties"]["tags"]["maxItems"] == 3
    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    assert _accepts(compiled, '{"code": "AB", "count": 3, "tags": ["x"]}')
    assert not _accepts(compiled, '{"code": "ab", "count": 3, "tags": []}')
    assert not _accepts(compiled, '{"code": "AB", "count": 10, "tags": []}')


def test_property_named_like_a_keyword_survives() -> None:
    class Tricky(BaseModel):
        title: str = Field(description="Document title.")
        default: int | None = Field(None, description="A default.")

    schema = engine_json_schema(Tricky)
    assert list(schema["properties"]) == ["title", "default"]
    assert schema["required"] == ["title", "default"]


def test_compact_schema_text_is_minified_with_descriptions() -> None:
    text = compact_schema_text(BUILTIN_SCHEMAS["cn_vat_invoice"])
    assert "\n" not in text and ": " not in text
    assert "发票代码 (invoice code" in text
    assert '"required"' not in text and "additionalProperties" not in text
    assert json.loads(text)["properties"]["total_amount"]["type"] == "number"


def test_time_fields_accept_what_the_validator_reads(compiler: xgr.GrammarCompiler) -> None:
    schema = engine_json_schema(BUILTIN_SCHEMAS["receipt"])
    assert "format" not in schema["properties"]["time"]["anyOf"][0]
    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    good = _canonical_answer("receipt")
    assert '"time": "08:15:00"' in good
    assert _accepts(compiled, good.replace('"08:15:00"', '"08:15"'))
    assert not _accepts(compiled, good.replace('"08:15:00"', '"8.15 Uhr"'))


def test_code_patterns_reach_the_grammar(compiler: xgr.GrammarCompiler) -> None:
    schema = engine_json_schema(BUILTIN_SCHEMAS["cn_vat_invoice"])
    for field in ("invoice_code", "invoice_number", "buyer_tax_id", "seller_tax_id"):
        assert "pattern" in schema["properties"][field], field
    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    good = _canonical_answer("cn_vat_invoice")
    assert '"invoice_code": "044031900111"' in good
    assert _accepts(compiled, good)
    assert not _accepts(compiled, good.replace('"044031900111"', '"0440 3190 0111"'))
    assert not _accepts(compiled, good.replace('"044031900111"', '"04403190011"'))


class _UserModel(BaseModel):
    """A user's model with types whose Pydantic schema xgrammar cannot enforce."""

    where: Path = Field(description="A file path.")  # format "path"
    blob: bytes = Field(description="Raw bytes.")  # format "binary"
    secret: SecretStr = Field(description="A password.")  # format "password"
    count: Annotated[int, Field(ge=0, multiple_of=5, description="Fives.")]  # multipleOf
    tags: set[str] = Field(description="Distinct tags.")  # uniqueItems
    by_path: dict[Path, int] = Field(description="Counts per path.")  # propertyNames.format
    code: str = Field(pattern=r"^[a-z]+@x$", json_schema_extra={"format": "email"})
    when: datetime = Field(description="A timestamp.")  # format "date-time": kept
    ident: UUID = Field(description="An id.")  # format "uuid": kept


def test_formats_and_keywords_xgrammar_cannot_enforce_are_dropped(
    compiler: xgr.GrammarCompiler,
) -> None:
    schema = engine_json_schema(_UserModel)
    props = schema["properties"]
    assert not {"multipleOf", "uniqueItems", "not", "if", "contains"} & _keys(schema)
    for name in ("where", "blob", "secret", "code"):
        assert "format" not in props[name], name
    assert props["code"]["pattern"] == "^[a-z]+@x$"
    assert props["by_path"]["propertyNames"] == {}  # Pydantic's {"format": "path"}, emptied
    assert props["tags"] == {"description": "Distinct tags.", "type": "array",
                             "items": {"type": "string"}}
    assert props["count"]["minimum"] == 0
    assert (props["when"]["format"], props["ident"]["format"]) == ("date-time", "uuid")

    validate = load_json_schema_validator(sglang_source("0.5.23"))
    assert validate is not None
    with pytest.raises(ValueError, match="not supported by xgrammar"):
        validate(_UserModel.model_json_schema())  # what the engine schema avoids
    validate(schema)

    compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
    answer = {"where": "a/b.pdf", "blob": "xyz", "secret": "s", "count": 7, "tags": ["a", "a"],
              "by_path": {"a": 1}, "code": "ab@x", "when": "2024-03-01T08:00:00Z",
              "ident": "12345678-1234-1234-1234-123456789abc"}
    assert _accepts(compiled, json.dumps(answer))
    with pytest.raises(ValidationError, match="multiple of 5"):  # Pydantic still checks
        _UserModel.model_validate(answer)
    assert _UserModel.model_validate({**answer, "count": 10}).tags == {"a"}
