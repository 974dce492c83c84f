"""The processor's image-token check receives lists, and still refuses a mismatch."""

from __future__ import annotations

import pytest
from PIL import Image

from pipeline.engines.mm_token_check import count_ids_as_lists


class Tensorish:
    """Stands for a torch tensor: iterating it element by element is what the change avoids."""

    def __init__(self, rows):
        self.rows = rows

    def tolist(self):
        return [list(row) for row in self.rows]

    def __iter__(self):
        raise AssertionError("the check iterated the tensor")


def _recording_class():
    class Recording:
        seen: list = []

        def _check_special_mm_tokens(self, text, text_inputs, modalities):
            """The original's docstring."""
            Recording.seen.append(text_inputs["input_ids"])
            return "checked"

    return Recording


def test_the_check_gets_the_ids_as_lists_and_keeps_its_result():
    recording = _recording_class()
    assert count_ids_as_lists(recording) is True
    inputs = {"input_ids": Tensorish([(1, 7, 7)]), "attention_mask": "kept"}

    assert recording()._check_special_mm_tokens(["t"], inputs, ["image"]) == "checked"
    assert recording.seen == [[[1, 7, 7]]]
    assert recording._check_special_mm_tokens.__doc__ == "The original's docstring."
    assert inputs["input_ids"].rows == [(1, 7, 7)]  # the caller's own inputs are left alone


def test_lists_pass_through_and_a_second_install_changes_nothing():
    recording = _recording_class()
    assert count_ids_as_lists(recording) is True
    installed = recording._check_special_mm_tokens
    assert count_ids_as_lists(recording) is False
    assert recording._check_special_mm_tokens is installed
    recording()._check_special_mm_tokens(["t"], {"input_ids": [[3, 4]]}, ["image"])
    assert recording.seen == [[[3, 4]]]


def test_a_class_without_the_check_is_left_as_it_is():
    class Plain:
        pass

    assert count_ids_as_lists(Plain) is False
    assert not hasattr(Plain, "_check_special_mm_tokens")


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    count_ids_as_lists()
    return AutoProcessor.from_pretrained(tiny_model_dir)


def test_the_real_processor_reads_a_page_and_still_refuses_a_mismatch(processor):
    import torch

    prompt = "Read <|vision_start|><|image_pad|><|vision_end|> now."
    page = Image.new("RGB", (280, 196), "white")
    out = processor(text=[prompt], images=[page], padding=True, return_tensors="pt")
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    expected = int(out["image_grid_thw"].prod()) // processor.image_processor.merge_size**2
    assert int((out["input_ids"] == pad).sum()) == expected

    short = torch.tensor([[pad, pad]])
    with pytest.raises(ValueError, match="Mismatch in `image` token count"):
        processor._check_special_mm_tokens(["<|image_pad|>" * 3], {"input_ids": short}, ["image"])
