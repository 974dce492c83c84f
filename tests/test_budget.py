"""fit_pixels against qwen_vl_utils.smart_resize, and the A4 table of DESIGN.md §3."""

from __future__ import annotations

import itertools

import pytest

from pipeline.config import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
from pipeline.inputs.budget import AspectRatioTooLarge, fit_pixels, points_to_pixels, visual_tokens

SIDES = [
    1,
    2,
    15,
    16,
    17,
    31,
    32,
    33,
    47,
    48,
    49,
    63,
    64,
    100,
    150,
    595,
    842,
    999,
    1000,
    1240,
    1754,
    2480,
    3508,
    5000,
    9999,
    20000,
    40000,
]
BUDGETS = [
    (DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS),
    (4 * 32 * 32, 16384 * 32 * 32),
    (256 * 32 * 32, 256 * 32 * 32),
    (32 * 32, 4 * 32 * 32),
    (100_000, 2_000_000),
]


def test_fit_pixels_equals_smart_resize_over_a_wide_grid() -> None:
    smart_resize = pytest.importorskip("qwen_vl_utils").smart_resize
    compared = raised = 0
    for (height, width), (low, high) in itertools.product(itertools.product(SIDES, SIDES), BUDGETS):
        try:
            expected = smart_resize(height, width, factor=32, min_pixels=low, max_pixels=high)
        except ValueError:
            with pytest.raises(AspectRatioTooLarge):
                fit_pixels(height, width, min_pixels=low, max_pixels=high)
            raised += 1
            continue
        if min(expected) <= 0:  # smart_resize gives a zero side: unusable, we refuse it
            with pytest.raises(AspectRatioTooLarge):
                fit_pixels(height, width, min_pixels=low, max_pixels=high)
            raised += 1
            continue
        got = fit_pixels(height, width, min_pixels=low, max_pixels=high)
        assert got == expected, (height, width, low, high)
        assert got[0] % 32 == 0 and got[1] % 32 == 0
        compared += 1
    assert compared > 2500 and raised > 50


@pytest.mark.parametrize(
    ("dpi", "max_pixels", "size", "tokens"),
    [
        (72, 16384 * 1024, (608, 832), 494),
        (100, 16384 * 1024, (832, 1184), 962),
        (150, 16384 * 1024, (1248, 1760), 2145),
    ],
)
def test_a4_table(dpi: int, max_pixels: int, size: tuple[int, int], tokens: int) -> None:
    width = points_to_pixels(595, dpi)
    height = points_to_pixels(842, dpi)
    h, w = fit_pixels(height, width, min_pixels=DEFAULT_MIN_PIXELS, max_pixels=max_pixels)
    assert (w, h) == size
    assert visual_tokens(h, w) == tokens


def test_a4_at_150_dpi_is_capped_by_the_default_budget() -> None:
    h, w = fit_pixels(
        points_to_pixels(842, 150),
        points_to_pixels(595, 150),
        min_pixels=DEFAULT_MIN_PIXELS,
        max_pixels=DEFAULT_MAX_PIXELS,
    )
    assert (w, h) == (960, 1344)
    assert 1200 <= visual_tokens(h, w) <= 1280


def test_tiny_page_is_raised_to_the_floor() -> None:
    h, w = fit_pixels(21, 21, min_pixels=DEFAULT_MIN_PIXELS, max_pixels=DEFAULT_MAX_PIXELS)
    assert h * w >= DEFAULT_MIN_PIXELS and (h, w) == (256, 256)


@pytest.mark.parametrize(("height", "width"), [(1, 201), (10_000, 20), (0, 10)])
def test_unusable_shapes_raise_a_narrow_error(height: int, width: int) -> None:
    with pytest.raises(AspectRatioTooLarge):
        fit_pixels(height, width, min_pixels=DEFAULT_MIN_PIXELS, max_pixels=DEFAULT_MAX_PIXELS)
