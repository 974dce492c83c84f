"""docextract's own Qwen-VL image processor output against transformers' processor."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.engines.qwen_features import PatchLayout, page_features, page_patches
from tests.fixtures_model import make_pages

transformers = pytest.importorskip("transformers")


def _processor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    return transformers.Qwen2VLImageProcessor(
        patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=list(mean),
        image_std=list(std), size={"shortest_edge": 32 * 32, "longest_edge": 4096 * 32 * 32},
    )


@pytest.mark.parametrize(
    "mean, std",
    [((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
     ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))],
)
def test_pages_match_the_processor_bit_for_bit(mean, std):
    processor = _processor(mean, std)
    pages = make_pages("doc", ((64, 96), (160, 64), (32, 32)))
    ours = page_features(pages, PatchLayout.of(processor))
    theirs = processor(images=[p.to_pil() for p in pages], return_tensors="np")
    assert ours.pixel_values.dtype == np.float32
    assert ours.pixel_values.shape == theirs["pixel_values"].shape
    assert np.array_equal(ours.pixel_values, theirs["pixel_values"])
    assert np.array_equal(ours.grid_thw, theirs["image_grid_thw"])
    assert ours.tokens_per_page == [p.visual_tokens for p in pages] == [6, 10, 1]


def test_a_noisy_page_matches_too():
    """Every byte value, in every channel: the arithmetic, not only a few shades."""
    from pipeline.records import Page

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    page = Page("noise", 0, 128, 96, pixels.tobytes())
    processor = _processor()
    theirs = processor(images=[page.to_pil()], return_tensors="np")["pixel_values"]
    assert np.array_equal(page_patches(page, PatchLayout.of(processor)), theirs)


def test_a_page_the_processor_would_resize_is_refused():
    page = make_pages("doc", ((70, 64),))[0]
    with pytest.raises(ValueError, match="70x64, not a multiple of 32"):
        page_patches(page, PatchLayout())
