"""Every engine schema passes each supported sglang release's own schema pre-check.

sglang 0.5.23 checks a JSON schema before it compiles it (srt/constrained/
json_schema_validation.py) and fails the request ("Failed to compile json grammar") when the
schema holds constraints xgrammar cannot enforce. The check is pure Python, so it runs here, loaded
from the release's wheel. Releases without it (0.5.17) skip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from pipeline.extract import engine_schema
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from schemas import BUILTIN_SCHEMAS
from tests.sglang_contract import load_json_schema_validator

DATA = Path(__file__).parent / "data"

# The built-in schemas and the custom-schema examples (a Python model, the bounded model of the
# tiny-model tests, and a JSON Schema file).
SCHEMA_REFS = [
    *BUILTIN_SCHEMAS,
    f"{DATA / 'custom_schema.py'}:Model",
    f"{DATA / 'bounded_schema.py'}:Bounded",
    str(DATA / "custom_schema.json"),
]


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.fixture(scope="session")
def sglang_precheck(sglang_version: str, sglang_source_dir: Path) -> Callable[[Any], None]:
    """The release's `validate_xgrammar_json_schema`; skips for releases that have none."""
    validate = load_json_schema_validator(sglang_source_dir)
    if validate is None:
        assert _release(sglang_version) < (0, 5, 23), "0.5.23 has json_schema_validation.py"
        pytest.skip(f"sglang {sglang_version} has no JSON-schema pre-check to run "
                    "(srt/constrained/json_schema_validation.py came later)")
    return validate


@pytest.mark.parametrize("ref", SCHEMA_REFS)
def test_engine_schema_passes_sglang_precheck(ref: str, sglang_precheck) -> None:
    sglang_precheck(engine_json_schema(resolve_schema(ref).model))


def test_the_precheck_refuses_what_the_engine_schema_removes(sglang_precheck) -> None:
    """The loaded check is the real one: Pydantic's own schema of a string with both a format
    and a pattern is refused, and the engine schema of the same model is not."""

    class Dated(BaseModel):
        day: str = Field(pattern=r"^\d{4}$", json_schema_extra={"format": "date"})

    with pytest.raises(ValueError, match="format, pattern cannot be enforced together"):
        sglang_precheck(Dated.model_json_schema())
    sglang_precheck(engine_json_schema(Dated))


def test_the_engine_schema_lists_match_the_release(sglang_precheck) -> None:
    """The formats kept are ones the release enforces, and every keyword it refuses is dropped."""
    release = sglang_precheck.__globals__  # the loaded json_schema_validation module's names
    assert engine_schema.XGRAMMAR_STRING_FORMATS.issubset(release["_XGRAMMAR_STRING_FORMATS"])
    assert release["_XGRAMMAR_UNSUPPORTED_KEYWORDS"] <= engine_schema.UNENFORCEABLE_KEYWORDS
