"""The pixel budget: how big a page image may be, in pixels and in visual tokens.

Qwen3-VL sees one visual token per 32x32 pixels. `fit_pixels` reproduces the rounding of
`qwen_vl_utils.smart_resize` (same arithmetic, same float operations) without importing it, so
render workers stay free of torch. An image already at a size `fit_pixels` returns passes
through the model's own processor unchanged.
"""

from __future__ import annotations

import math

TOKEN_SIDE = 32
MAX_ASPECT_RATIO = 200


class AspectRatioTooLarge(ValueError):
    """A page or image is too thin for the model (long side / short side above 200)."""


def fit_pixels(
    height: int, width: int, *, min_pixels: int, max_pixels: int, factor: int = TOKEN_SIDE
) -> tuple[int, int]:
    """Return (height, width), both multiples of `factor`, with the pixel count inside
    [min_pixels, max_pixels] and the aspect ratio kept as closely as the rounding allows.

    Raises AspectRatioTooLarge for sides with a ratio above 200, or whose budget size would
    have a zero side (the model cannot take such an image).
    """
    if height <= 0 or width <= 0:
        raise AspectRatioTooLarge(f"image side must be positive, got {width}x{height}")
    if min_pixels > max_pixels:
        raise ValueError("min_pixels must not exceed max_pixels")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise AspectRatioTooLarge(
            f"aspect ratio {ratio:.1f} is above {MAX_ASPECT_RATIO} ({width}x{height})"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    if h_bar <= 0 or w_bar <= 0:
        raise AspectRatioTooLarge(
            f"{width}x{height} cannot fit {max_pixels} pixels with sides that are multiples "
            f"of {factor}"
        )
    return h_bar, w_bar


def visual_tokens(height: int, width: int, factor: int = TOKEN_SIDE) -> int:
    """Visual tokens for an image of this size (one per factor x factor block)."""
    return (height // factor) * (width // factor)


def points_to_pixels(points: float, dpi: float) -> int:
    """A length in PDF points (1/72 inch) at `dpi`, rounded to whole pixels (at least 1)."""
    return max(1, round(points * dpi / 72.0))
