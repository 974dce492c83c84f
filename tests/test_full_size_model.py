"""The model folder with Qwen3-VL-30B-A3B-Instruct-FP8's architecture (benchmarks/qwen3_vl_full.py):
every published figure holds, and transformers reads it as that model."""

from __future__ import annotations

import json

import pytest

from benchmarks.qwen3_vl_full import PUBLISHED, build, check_published

pytest.importorskip("transformers")


def test_the_folder_has_the_published_architecture(tmp_path):
    from transformers import AutoConfig

    folder = build(tmp_path / "full")
    config = json.loads((folder / "config.json").read_text())
    assert check_published(config) == []
    assert not list(folder.glob("*.safetensors*"))  # random weights come from load_format=dummy
    loaded = AutoConfig.from_pretrained(folder)
    text, vision = loaded.text_config, loaded.vision_config
    assert (text.num_hidden_layers, text.num_experts, text.num_experts_per_tok) == (48, 128, 8)
    assert (vision.depth, vision.deepstack_visual_indexes) == (27, [8, 16, 24])
    assert loaded.quantization_config["weight_block_size"] == [128, 128]


def test_a_figure_that_differs_from_the_card_is_named():
    config = {"text_config": {"num_hidden_layers": 24}}
    problems = check_published(config)
    assert "text_config.num_hidden_layers: 24, published 48" in problems
    assert len(problems) == len(PUBLISHED)  # every other figure is missing


def test_the_folder_speaks_qwen3s_own_tokenizer(tmp_path):
    from transformers import AutoProcessor

    folder = build(tmp_path / "full")
    config = json.loads((folder / "config.json").read_text())
    generation = json.loads((folder / "generation_config.json").read_text())
    tokenizer = AutoProcessor.from_pretrained(folder).tokenizer
    assert len(tokenizer) == 151669  # Qwen3's 151,643 words and 26 special tokens
    assert tokenizer.convert_ids_to_tokens(config["image_token_id"]) == "<|image_pad|>"
    assert config["image_token_id"] == 151655  # the published Qwen3-VL id
    assert config["text_config"]["eos_token_id"] == 151645
    assert generation["eos_token_id"] == [151645, 151643]  # as published: <|im_end|>, <|endoftext|>
    assert tokenizer("Rechnung 2024").input_ids == [693, 2125, 2185, 220, 17, 15, 17, 19]
