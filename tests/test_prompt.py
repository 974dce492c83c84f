"""The prompt: shared prefix for every document, images last, a hash that tracks the schema."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from pipeline.engines.base import SamplingConfig
from pipeline.extract.catalog import SchemaSpec, resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from pipeline.extract.prompt import (
    IMAGE_PLACEHOLDER,
    build_prompt,
    build_request,
    render_prompt_text,
)
from pipeline.records import Page


def _page(doc_id: str, index: int, shade: int) -> Page:
    width, height = 64, 96
    return Page(doc_id, index, width, height, bytes([shade]) * (width * height * 3), dpi=72.0)


def test_two_documents_share_everything_before_the_first_image() -> None:
    spec = resolve_schema("invoice")
    template = build_prompt(spec)
    schema = engine_json_schema(spec.model)
    sampling = SamplingConfig(max_new_tokens=512)
    one = build_request(template, [_page("a", 0, 10)], schema, sampling, "req-a")
    two = build_request(
        template, [_page("b", 0, 200), _page("b", 1, 90)], schema, sampling, "req-b"
    )

    def before_first_image(messages: list[dict]) -> list[dict]:
        system, user = messages
        first = next(i for i, part in enumerate(user["content"]) if part["type"] == "image")
        return [system, {"role": user["role"], "content": user["content"][:first]}]

    m1, m2 = one.messages(), two.messages()
    assert before_first_image(m1) == before_first_image(m2)
    assert (
        m1[-1]["content"][-1] == m2[-1]["content"][-1] == {"type": "text", "text": template.suffix}
    )
    assert [p["type"] for p in m2[1]["content"]] == ["text", "image", "image", "text"]
    assert one.json_schema == schema and one.sampling.max_new_tokens == 512
    assert two.request_id == "req-b" and [p.index for p in two.images] == [0, 1]


def test_pages_are_sent_in_page_order() -> None:
    template = build_prompt(resolve_schema("receipt"))
    pages = [_page("d", 2, 1), _page("d", 0, 2), _page("d", 1, 3)]
    request = build_request(template, pages, template.json_schema, SamplingConfig(), "r")
    assert [p.index for p in request.images] == [0, 1, 2]


def test_prefix_holds_instructions_schema_and_notes() -> None:
    spec = resolve_schema("cn_vat_invoice")
    template = build_prompt(spec)
    assert "YYYY-MM-DD" in template.prefix
    assert '"total_with_tax_in_words"' in template.prefix
    assert "价税合计（大写）" in template.prefix
    assert "Field notes:" in template.prefix
    assert "JSON" in template.system
    assert len(template.prompt_hash) == 16
    int(template.prompt_hash, 16)


def test_prompt_is_deterministic() -> None:
    assert build_prompt(resolve_schema("invoice")) == build_prompt(resolve_schema("invoice"))


def test_hash_changes_with_the_schema() -> None:
    class Note(BaseModel):
        """A note."""

        text: str = Field(description="The text.")

    class NoteWithDate(BaseModel):
        """A note."""

        text: str = Field(description="The text.")
        day: str | None = Field(None, description="The day.")

    class NoteReworded(BaseModel):
        """A note."""

        text: str = Field(description="The whole text.")

    hashes = {
        build_prompt(SchemaSpec("note", model, "test")).prompt_hash
        for model in (Note, NoteWithDate, NoteReworded)
    }
    assert len(hashes) == 3
    builtin = {build_prompt(resolve_schema(n)).prompt_hash for n in ("invoice", "receipt")}
    assert len(builtin) == 2


def test_rendered_prompt_text() -> None:
    template = build_prompt(resolve_schema("id_card"))
    text = render_prompt_text(template, images=2)
    assert text.count(IMAGE_PLACEHOLDER) == 2
    assert text.index(template.prefix) < text.index(IMAGE_PLACEHOLDER) < text.index(template.suffix)
    schema_text = template.prefix.split("JSON schema:\n", 1)[1].split("\n\n", 1)[0]
    assert json.loads(schema_text)["properties"]["id_number"]["pattern"] == "^[0-9]{17}[0-9X]$"


@pytest.mark.parametrize(
    ("name", "words"),
    [("medical_invoice", ["医保统筹基金支付", "(paid by the insurance fund)", "合计（大写）",
                          "门诊 or 急诊 -> outpatient"]),
     ("property_certificate", ["不动产单元号", "(property unit number, 28 characters)",
                               "共有宗地面积", "使用期限"])],
)  # fmt: skip
def test_chinese_schemas_describe_fields_in_chinese_and_english(name: str, words: list) -> None:
    template = build_prompt(resolve_schema(name))
    assert "Field notes:" in template.prefix
    for word in words:
        assert word in template.prefix, word
