"""A tiny, randomly initialised Qwen3-VL (MoE) model with its own tokenizer and processor.

Built from nothing in about a second (no downloads): a byte-level BPE tokenizer carrying the
Qwen special tokens and a Qwen3-VL style chat template, the stock image processor with patch 16 /
merge 2, and a Qwen3VLMoe model with hidden size 64, 2 layers and 4 experts. Its words are noise,
but under a grammar its output is valid JSON, which is what the engine tests need.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.records import Page
from tests.sglang_contract import SUPPORTED_SGLANG_VERSIONS

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen3-VL layout: one <|vision_start|><|image_pad|><|vision_end|> per image, in content order.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or 'image' in item or 'image_url' in item -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_CORPUS = [
    '{"name": "abc", "total": 12.5, "items": [], "date": "2024-01-31", "ok": true, "x": null}',
    "Extract the fields of this document as JSON matching the schema.",
    "invoice vendor number amount currency lines quantity price description",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;-_/()[]{}\"'",
]


def _build_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    eos, pad = "<|im_end|>", "<|endoftext|>"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        pad_token=pad,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (eos, pad)],
    )
    fast.padding_side = "left"
    fast.save_pretrained(path)


def build_tiny_qwen3vl(
    path: Path,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    image_pixels: tuple[int, int] = (32 * 32, 256 * 32 * 32),
) -> Path:
    """Write a tiny random Qwen3-VL-MoE checkpoint (model, tokenizer, processor) to `path`.

    `text` and `vision` override entries of the text and vision configs (the GPU suite makes
    the model the shapes sglang's kernels need); `image_pixels` is the image processor's
    (min, max) pixels per image.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        Qwen2VLImageProcessor,
        Qwen3VLMoeConfig,
        Qwen3VLMoeForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _build_tokenizer(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab_size = max(((len(tokenizer) + 63) // 64) * 64, (text or {}).get("vocab_size", 0))

    size = {"shortest_edge": image_pixels[0], "longest_edge": image_pixels[1]}
    image_processor = Qwen2VLImageProcessor(
        patch_size=16, merge_size=2, temporal_patch_size=2, size=size,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    video_processor = Qwen3VLVideoProcessor(
        patch_size=16, merge_size=2, temporal_patch_size=2, size=size,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)

    config = Qwen3VLMoeConfig(
        text_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "moe_intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": True,
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            **(text or {}),
            "vocab_size": vocab_size,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 64,
            "num_position_embeddings": 256,
            "deepstack_visual_indexes": [0],
            **(vision or {}),
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Qwen3VLMoeForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tiny Qwen3-VL-MoE checkpoint, built once per test session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return build_tiny_qwen3vl(tmp_path_factory.mktemp("tiny-qwen3vl"))


def make_pages(doc_id: str, sizes: tuple[tuple[int, int], ...]) -> tuple[Page, ...]:
    """Real rendered pages: a PDF whose page i is sizes[i] pixels at 72 dpi, each with its own
    background shade and a line of text, rendered by PyMuPDF to RGB Page records."""
    import pymupdf

    doc = pymupdf.open()
    for index, (width, height) in enumerate(sizes):
        page = doc.new_page(width=width, height=height)
        shade = (0.2 + 0.25 * (index % 4), 0.9 - 0.2 * (index % 3), 0.5)
        page.draw_rect(page.rect, color=shade, fill=shade)
        page.insert_text((4, 16), f"page {index + 1}", fontsize=9)
    pages = []
    for index, page in enumerate(doc):
        pix = page.get_pixmap(dpi=72, alpha=False, colorspace=pymupdf.csRGB)
        pages.append(Page(doc_id, index, pix.width, pix.height, bytes(pix.samples), dpi=72.0))
    doc.close()
    return tuple(pages)


def sglang_cache_dir() -> Path:
    """Where the downloaded sglang source is kept: $DOCEXTRACT_CACHE/sglang or .cache/sglang."""
    root = os.environ.get("DOCEXTRACT_CACHE")
    base = Path(root) if root else Path(__file__).resolve().parent.parent / ".cache"
    return base / "sglang"


def sglang_source(version: str) -> Path:
    """sglang `version`'s source (downloaded once without dependencies, then cached); skips the
    test when the package index cannot be reached."""
    from tests.sglang_contract import fetch_sglang_source

    try:
        return fetch_sglang_source(version, sglang_cache_dir())
    except OSError as exc:
        pytest.skip(f"the package index cannot be reached to fetch sglang {version}: {exc}")


@pytest.fixture(scope="session", params=SUPPORTED_SGLANG_VERSIONS)
def sglang_version(request: pytest.FixtureRequest) -> str:
    """Each supported sglang release in turn; tests that use it run once per release."""
    return str(request.param)


@pytest.fixture(scope="session")
def sglang_source_dir(sglang_version: str) -> Path:
    """The source of the sglang release `sglang_version` (so: of each supported release)."""
    return sglang_source(sglang_version)
