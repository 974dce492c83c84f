"""What one request hands `sglang.Engine.async_generate`: the prompt and the page images.

Two ways, chosen by `SGLangConfig.image_processing`:
- "sglang": the chat-templated prompt text and the pages as PIL images; sglang's tokenizer
  manager, in this process, runs the model's image processor, expands the image placeholders
  and sends the result to its scheduler.
- "docextract": docextract computes the image processor output itself (numpy, in a thread pool,
  bit for bit what the processor makes: pipeline.engines.qwen_features) and hands sglang a
  `processor_output` item with the prompt already tokenized and its placeholders expanded, so
  sglang skips both. A page the model's processor would resize, or a model that is not of the
  Qwen-VL family, goes the "sglang" way.

Either way each page goes with its key in sglang's prefix cache (`mm_hashes`, `PageKeys`, from a
hash of its pixels computed in a thread pool). Without it sglang's scheduler hashes every page's
image features itself (SHA-256 over about 30 MB of floats a page), inside the loop that
schedules the GPU: a quarter of its time on the full-size model (README, "Speed").
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.engines.base import EngineRequest
from pipeline.engines.qwen_features import PatchLayout, page_features
from pipeline.inputs.budget import fit_pixels
from pipeline.records import Page

QWEN_VL_PROCESSORS = frozenset({"Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast"})
"""Image processors whose output pipeline.engines.qwen_features reproduces."""


def processor_size(image_processor: Any, height: int, width: int) -> tuple[int, int]:
    """(height, width) that a Qwen-VL image processor resizes a `height` x `width` image to:
    sides multiples of patch x merge, within its own pixel limits."""
    factor = image_processor.patch_size * image_processor.merge_size
    size = getattr(image_processor, "size", None) or {}
    return fit_pixels(
        height,
        width,
        min_pixels=size.get("shortest_edge", factor * factor),
        max_pixels=size.get("longest_edge", height * width),
        factor=factor,
    )


PAGE_KEYS_REMEMBERED = 65_536
"""Pages whose key `PageKeys` remembers (about 10 MB)."""


class PageKeys:
    """The keys of pages' image tokens in sglang's prefix cache, which reads 30 bits of each
    (its `pad_value`): numbered in the order pages are first seen, so the same pixels get the
    same key and two different pages never share one, where 30 bits of a content hash (sglang's
    own way) would let two pages after the same prompt share cached tokens about once in a
    billion pairs. A page seen again after `remembered` others gets a new key: a cache miss,
    never another page's tokens."""

    def __init__(self, remembered: int = PAGE_KEYS_REMEMBERED) -> None:
        self._keys: OrderedDict[int, int] = OrderedDict()
        self._remembered = remembered
        self._next = 1

    def key(self, digest: int) -> int:
        """The key of the page whose `pixels_hash` is `digest`, from 1 to 2**30."""
        key = self._keys.get(digest)
        if key is not None:
            self._keys.move_to_end(digest)
            return key
        key, self._next = self._next, self._next % (1 << 30) + 1
        self._keys[digest] = key
        if len(self._keys) > self._remembered:
            self._keys.popitem(last=False)
        return key


class SGLangInputs:
    """Builds the `async_generate` keywords of a request (besides sampling_params)."""

    def __init__(
        self, processor: Any, hf_config: dict[str, Any], mode: str, threads: int = 0,
        page_keys: PageKeys | None = None,
    ) -> None:  # fmt: skip
        self.processor = processor
        self.hf_config = hf_config
        self.mode = mode
        self.image_token_id: int | None = hf_config.get("image_token_id")
        image_processor = getattr(processor, "image_processor", None)
        supported = type(image_processor).__name__ in QWEN_VL_PROCESSORS
        self.layout = PatchLayout.of(image_processor) if supported else None
        self._token_ids: dict[str, list[int]] = {}
        self.page_keys = page_keys or PageKeys()
        """One per sglang engine: another SGLangInputs for the same engine must take it over."""
        self._pool: ThreadPoolExecutor | None = None
        self._threads = threads or max(2, (os.cpu_count() or 2) // 2)

    @property
    def computes_features(self) -> bool:
        """Whether requests of plain Qwen-VL pages carry docextract's processor output."""
        return self.mode == "docextract" and self.layout is not None and (
            self.image_token_id is not None
        )

    def prompt(self, request: EngineRequest) -> str:
        """The chat-templated prompt text: one vision block per page, in page order."""
        return self.processor.apply_chat_template(  # type: ignore[no-any-return]
            request.messages(), tokenize=False, add_generation_prompt=True
        )

    async def build(self, prompt: str, request: EngineRequest) -> dict[str, Any]:
        """`prompt`/`input_ids` and `image_data` for `async_generate`."""
        pages = request.images
        if not pages:
            return {"prompt": prompt, "image_data": None}
        loop = asyncio.get_running_loop()
        digests = await loop.run_in_executor(self._executor(), pages_hashes, pages)
        keys = [self.page_keys.key(digest) for digest in digests]
        mm_hashes = [f"{key:08x}" for key in keys]
        if not (self.computes_features and all(map(self._kept_as_is, pages))):
            images = [page.to_pil() for page in pages]
            return {"prompt": prompt, "image_data": images, "mm_hashes": mm_hashes}
        item = await loop.run_in_executor(self._executor(), self._processor_output, pages)
        if len(pages) == 1:
            # sglang reads an item's own hash only for a request of one image.
            item["hash"] = keys[0]
        input_ids = self._expand(prompt, item.pop("tokens_per_page"))
        return {"input_ids": input_ids, "image_data": [item], "mm_hashes": mm_hashes}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="page-features")
        return self._pool

    def token_ids(self, prompt: str) -> list[int]:
        """The prompt's token ids, one per image placeholder (tokenized once per prompt)."""
        ids = self._token_ids.get(prompt)
        if ids is None:
            ids = list(self.processor.tokenizer(prompt, add_special_tokens=False).input_ids)
            self._token_ids[prompt] = ids
        return ids

    def _kept_as_is(self, page: Page) -> bool:
        """Whether the model's processor would pass this page through without resizing."""
        size = processor_size(self.processor.image_processor, page.height, page.width)
        return size == (page.height, page.width)

    def _processor_output(self, pages: tuple[Page, ...]) -> dict[str, Any]:
        import torch

        assert self.layout is not None
        features = page_features(pages, self.layout)
        item: dict[str, Any] = {
            "format": "processor_output",
            "pixel_values": torch.from_numpy(features.pixel_values),
            "image_grid_thw": torch.from_numpy(features.grid_thw),
            "tokens_per_page": features.tokens_per_page,
        }
        return item

    def _expand(self, prompt: str, tokens_per_page: list[int]) -> list[int]:
        """The prompt's token ids with the i-th image placeholder repeated for page i."""
        ids = self.token_ids(prompt)
        placeholder = self.image_token_id
        assert placeholder is not None
        if ids.count(placeholder) != len(tokens_per_page):
            raise ValueError(
                f"the prompt has {ids.count(placeholder)} image placeholders for "
                f"{len(tokens_per_page)} pages"
            )
        expanded: list[int] = []
        pages = iter(tokens_per_page)
        for token in ids:
            expanded.extend([token] * next(pages) if token == placeholder else [token])
        return expanded


def pages_hashes(pages: tuple[Page, ...]) -> list[int]:
    """Each page's `pixels_hash`, in order."""
    return [pixels_hash(page) for page in pages]


def pixels_hash(page: Page) -> int:
    """A 64-bit hash of a page's size and pixels: what tells pages apart (`PageKeys`)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{page.width}x{page.height}:".encode())
    digest.update(page.pixels)
    return int.from_bytes(digest.digest(), "big")
