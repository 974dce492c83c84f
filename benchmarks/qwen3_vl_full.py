"""A model folder with Qwen/Qwen3-VL-30B-A3B-Instruct-FP8's architecture and no weights.

sglang loads it with `load_format="dummy"` (random weights of the right shapes and types), so
its speed and memory on a GPU are the real model's, while its answers are noise. The config
starts from transformers' `Qwen3VLMoeConfig` defaults, takes the published checkpoint's
figures where they differ (PUBLISHED: 48 text layers, 128 experts of which 8 per token, vision
depth 27 with deepstack layers 8/16/24, block-FP8 128x128 weights), and `check_published`
compares every figure with the card. The tokenizer is the small test tokenizer with the Qwen
special tokens: prompts come out longer in tokens than with the real one, answers are as long
as `max_new_tokens` lets them be.

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


def build(folder: Path) -> Path:
    """Write the folder: config.json of the full-size model, tokenizer and processor files."""
    from tests.fixtures_model import build_tiny_qwen3vl

    folder = build_tiny_qwen3vl(Path(folder), image_pixels=IMAGE_PIXELS)
    tiny = json.loads((folder / "config.json").read_text())
    token_ids = {
        "pad": tiny["text_config"]["pad_token_id"],
        "eos": tiny["text_config"]["eos_token_id"],
        **{key: tiny[key] for key in ("image_token_id", "video_token_id",
                                      "vision_start_token_id", "vision_end_token_id")},
    }  # fmt: skip
    for weights in folder.glob("*.safetensors*"):
        weights.unlink()  # load_format="dummy" makes its own; these are the tiny model's
    config = full_size_config(token_ids)
    if problems := check_published(config):
        raise ValueError("not the published architecture: " + "; ".join(problems))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
