"""Qwen-VL image processor output computed from rendered pages, without the model processor.

The Qwen2-VL family's image processor (Qwen2VLImageProcessor, used by Qwen2.5-VL and Qwen3-VL)
turns an image whose sides are multiples of `patch_size * merge_size` into `pixel_values`: one
row per `patch_size` square patch, rows ordered merge-window by merge-window, each row the
normalised patch for every channel and `temporal_patch_size` copies of the frame. A page that
docextract's budget already fitted needs no resizing, so this is a rescale, a normalisation and a
reshape, done here with numpy so it can run outside the process that feeds the engine.
`tests/test_qwen_features.py` checks it against transformers' own processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.records import Page


@dataclass(frozen=True, slots=True)
class PatchLayout:
    """The image processor settings that decide `pixel_values` (preprocessor_config.json)."""

    patch_size: int = 16
    merge_size: int = 2
    temporal_patch_size: int = 2
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    rescale_factor: float = 1 / 255

    @classmethod
    def of(cls, image_processor: Any) -> PatchLayout:
        """The layout of a transformers Qwen2-VL style image processor."""
        return cls(
            patch_size=int(image_processor.patch_size),
            merge_size=int(image_processor.merge_size),
            temporal_patch_size=int(image_processor.temporal_patch_size),
            image_mean=tuple(float(v) for v in image_processor.image_mean),  # type: ignore[arg-type]
            image_std=tuple(float(v) for v in image_processor.image_std),  # type: ignore[arg-type]
            rescale_factor=float(getattr(image_processor, "rescale_factor", 1 / 255)),
        )

    @property
    def factor(self) -> int:
        """Pixels per side of one merged visual token."""
        return self.patch_size * self.merge_size

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Per channel mean and std in byte units (divided by the rescale factor) as float32,
        shaped (3, 1, 1) to broadcast over patches."""
        # float32 throughout, as the processor computes them
        per_byte = np.float32(1.0 / self.rescale_factor)
        mean = np.array(self.image_mean, dtype=np.float32) * per_byte
        std = np.array(self.image_std, dtype=np.float32) * per_byte
        return mean.reshape(3, 1, 1), std.reshape(3, 1, 1)


@dataclass(frozen=True, slots=True)
class PageFeatures:
    """What the model's processor would produce for some pages: `pixel_values`
    (patches x channels*temporal*patch*patch, float32) and `grid_thw` (one row per page, in
    patches: frames, rows, columns)."""

    pixel_values: np.ndarray
    grid_thw: np.ndarray
    merge_size: int

    @property
    def tokens_per_page(self) -> list[int]:
        """Visual tokens of each page after merging (the image placeholders to expand)."""
        merged = self.merge_size * self.merge_size
        return [int(t * h * w) // merged for t, h, w in self.grid_thw.tolist()]


def page_patches(
    page: Page, layout: PatchLayout, mean_std: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """One page's `pixel_values` rows. Raises ValueError if its sides are not multiples of
    `layout.factor` (the processor would resize it)."""
    size, merge, frames = layout.patch_size, layout.merge_size, layout.temporal_patch_size
    if page.width % layout.factor or page.height % layout.factor:
        raise ValueError(
            f"page {page.index + 1} is {page.width}x{page.height}, not a multiple of "
            f"{layout.factor} pixels: the model's processor would resize it"
        )
    mean, std = layout.mean_std() if mean_std is None else mean_std
    rgb = np.frombuffer(page.pixels, dtype=np.uint8)
    grid_h, grid_w = page.height // size, page.width // size
    blocks = rgb.reshape(grid_h // merge, merge, size, grid_w // merge, merge, size, 3)
    # (row of windows, column of windows, row in window, column in window, channel, y, x): the
    # bytes are reordered first, a quarter of the memory the floats take
    ordered = blocks.transpose(0, 3, 1, 4, 6, 2, 5).reshape(grid_h * grid_w, 3, 1, size * size)
    out = np.empty((grid_h * grid_w, 3, frames, size * size), dtype=np.float32)
    first = out[:, :, :1]
    # The processor's arithmetic (rescale fused into the normalisation, in float32), so the
    # values match it bit for bit.
    np.subtract(ordered, mean, out=first, casting="unsafe")
    first /= std
    out[:, :, 1:] = first
    return out.reshape(grid_h * grid_w, 3 * frames * size * size)


def page_features(pages: Sequence[Page], layout: PatchLayout) -> PageFeatures:
    """The processor output for `pages`, in order, as one batch."""
    mean_std = layout.mean_std()
    rows = [page_patches(page, layout, mean_std) for page in pages]
    grid = np.array(
        [[1, p.height // layout.patch_size, p.width // layout.patch_size] for p in pages],
        dtype=np.int64,
    ).reshape(-1, 3)
    merged = rows[0] if len(rows) == 1 else np.concatenate(rows)
    return PageFeatures(merged, grid, layout.merge_size)
