"""The request stage: one prompt per schema, and one engine request per document.

Everything but the images is identical for all documents of a schema: the system message, the
prefix (instructions, compact schema, field notes) and the suffix. A prefix cache (SGLang's radix
cache) therefore computes the shared text once; the per-document part is only the images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.engines.base import EngineRequest, SamplingConfig
from pipeline.extract.catalog import SchemaSpec
from pipeline.extract.engine_schema import compact_schema_text, engine_json_schema
from pipeline.items import WorkItem
from pipeline.records import Page

SYSTEM_PROMPT = (
    "You read images of business documents and extract their data. You answer with exactly one "
    "JSON object that follows the given JSON schema, and nothing else."
)

INSTRUCTIONS = """\
Extract the data of the document shown in the images below into one JSON object.

Document type: {name}. {summary}

Rules:
- Write every key of the schema. Use null when a value is not on the document and [] for a list \
with no entries. Never guess or invent values.
- Copy names, numbers and identifiers exactly as printed.
- Dates as YYYY-MM-DD; times as HH:MM:SS (24-hour).
- Amounts, quantities and rates as JSON numbers: a dot as decimal separator, no thousands \
separators, no currency symbols (1234.56, not "1.234,56 €"). Negative amounts with a minus sign.
- Enumerated fields take exactly one of the listed values.
- A document may span several images, given in page order; read all of them.

JSON schema:
{schema}"""

SUFFIX = "Answer with the JSON object for the document in these images."

IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """The text parts shared by every request of one schema.

    `prompt_hash` is the first 16 hex digits of sha256 over system, prefix, suffix and the engine
    schema JSON: it changes whenever anything the model is conditioned on changes.
    """

    system: str
    prefix: str
    suffix: str
    prompt_hash: str
    json_schema: dict[str, Any]
    example: dict[str, Any] | None = None


def _summary(model: type) -> str:
    doc = (model.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def build_prompt(spec: SchemaSpec) -> PromptTemplate:
    """The prompt for every document of `spec`: instructions, compact schema and field notes."""
    prefix = INSTRUCTIONS.format(
        name=spec.name, summary=_summary(spec.model), schema=compact_schema_text(spec.model)
    )
    notes = tuple(getattr(spec.model, "prompt_notes", ()) or ())
    if notes:
        prefix += "\n\nField notes:\n" + "\n".join(f"- {note}" for note in notes)
    schema = engine_json_schema(spec.model)
    schema_json = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256("\x00".join((SYSTEM_PROMPT, prefix, SUFFIX, schema_json)).encode())
    return PromptTemplate(
        system=SYSTEM_PROMPT,
        prefix=prefix,
        suffix=SUFFIX,
        prompt_hash=digest.hexdigest()[:16],
        json_schema=schema,
        example=schema_example(spec.model),
    )


def schema_example(model: type) -> dict[str, Any] | None:
    """The first example a schema model declares in `model_config["json_schema_extra"]`."""
    extra = (getattr(model, "model_config", None) or {}).get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    first = examples[0] if isinstance(examples, list) and examples else None
    return first if isinstance(first, dict) else None


def build_request(
    template: PromptTemplate,
    pages: Sequence[Page],
    json_schema: dict[str, Any],
    sampling: SamplingConfig,
    request_id: str,
    logprobs: bool = False,
) -> EngineRequest:
    """One engine request: the shared prompt around the pages of one document, in page order;
    `logprobs` asks for the answer tokens' log-probabilities (runs with grounding)."""
    return EngineRequest(
        request_id=request_id,
        system=template.system,
        prefix=template.prefix,
        images=tuple(sorted(pages, key=lambda page: page.index)),
        suffix=template.suffix,
        json_schema=json_schema,
        sampling=sampling,
        example=template.example,
        logprobs=logprobs,
    )


def render_prompt_text(template: PromptTemplate, images: int = 1) -> str:
    """The prompt as the model reads it, with `IMAGE_PLACEHOLDER` for each image."""
    placeholders = "\n".join([IMAGE_PLACEHOLDER] * images)
    return (
        f"[system]\n{template.system}\n\n[user]\n{template.prefix}\n\n"
        f"{placeholders}\n\n{template.suffix}\n"
    )


@dataclass(frozen=True, slots=True)
class RequestBuilder:
    """Engine requests for work items: the run's prompt, engine schema and sampling; with
    `logprobs` (grounding on) each asks for its answer tokens' log-probabilities."""

    template: PromptTemplate
    json_schema: dict[str, Any]
    max_new_tokens: int
    seed: int
    logprobs: bool = False

    def __call__(self, item: WorkItem) -> EngineRequest:
        """The request of `item`'s next attempt; its id names the item and the attempt."""
        sampling = SamplingConfig(
            max_new_tokens=item.max_new_tokens or self.max_new_tokens,
            temperature=item.temperature,
            seed=self.seed + item.attempts,
        )
        request_id = f"{item.item_id}#{item.attempts}"
        return build_request(
            self.template, item.pages, self.json_schema, sampling, request_id, self.logprobs
        )
