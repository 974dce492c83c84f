"""How much memory rendering one file may take, and what running out of it becomes.

Two limits keep one hostile file from taking the machine, both from
`render.max_decoded_bytes`:

- Before an image frame is decoded, the bytes it takes decoded (width x height from its
  header, times the bytes a pixel takes while it is rendered) are checked against the limit;
  a larger frame is an `image_too_large` row and is never decoded. A one-colour 14000x14000
  RGBA PNG of 762 KB decodes to 748 MiB and is refused; a 600 dpi A3 RGB scan (7016x9921,
  266 MiB) is rendered.
- Each render process gets a data limit (RLIMIT_DATA: its heap and private memory, not the
  shared buffers that carry its pages; `DataLimit`) of what it used once started plus
  DATA_LIMIT_FACTOR times the limit, its window of pages at the pixel budget and
  DATA_LIMIT_SLACK: what no header shows fails inside that process, not the machine.

Running out of memory (a MemoryError, a MuPDF allocation that failed, or a render process
killed by SIGKILL, as the kernel's out-of-memory killer does) is a `render_oom` row, which a
re-run tries once more (`pipeline.policy`).
"""

from __future__ import annotations

import re
import signal
import sys
from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode

DATA_LIMIT_FACTOR = 4  # decoding, flattening and resizing hold up to 3.5 frames' worth at once
PAGE_BYTES_PER_PIXEL = 8  # a page's pixels at the budget and a copy, at four bytes a pixel
DATA_LIMIT_SLACK = 256 << 20  # MuPDF's store of fonts and images (256 MiB at most)
RETRIED_ONCE = "a first render_oom is tried once more by the next plain run"
_ONE_BYTE_MODES = frozenset({"1", "L"})
_MUPDF_ALLOCATION = re.compile(r"\b(malloc|calloc|realloc)\b.*\bfailed\b")
# What MuPDF says when it leaves out a page's image that it could not allocate memory to decode
# (it goes on drawing the rest): its own allocator, or a codec's (openjpeg for JPEG 2000).
_DROPPED_FOR_MEMORY = re.compile(
    rf"{_MUPDF_ALLOCATION.pattern}|exceeds system limits|out of memory", re.I
)


def decoded_bytes(width: int, height: int, mode: str, info: dict[str, Any]) -> int:
    """The bytes an image frame of this header takes while it is rendered: one a pixel for
    a gray or bilevel frame without transparency, else four (Pillow holds RGB, RGBA, CMYK and
    16-bit frames in four bytes a pixel, and converts palette frames to RGB or RGBA)."""
    per_pixel = 1 if mode in _ONE_BYTE_MODES and "transparency" not in info else 4
    return width * height * per_pixel


def jpeg_draft_size(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The size a JPEG of `size` is decoded at when Pillow's `draft` asks for `target`:
    libjpeg scales down by 1/2, 1/4 or 1/8 while it decodes, as far as `target` allows."""
    scale = min(size[0] // target[0], size[1] // target[1])
    step = next((step for step in (8, 4, 2) if scale >= step), 1)
    return -(-size[0] // step), -(-size[1] // step)


def mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def too_large_to_decode(what: str, mode: str, size: int, config: RenderConfig) -> str:
    """The message of a frame (`what`: "frame 2 is 14000x14000") that decodes to `size`
    bytes, above max_decoded_bytes."""
    return (
        f"image is too large to decode safely ({what} {mode}, {mib(size)} decoded); the limit "
        f"is {mib(config.max_decoded_bytes)} (render.max_decoded_bytes)"
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says an allocation failed: a MemoryError, or MuPDF's "malloc (N bytes)
    failed"."""
    return isinstance(exc, MemoryError) or bool(_MUPDF_ALLOCATION.search(str(exc)))


def dropped_for_memory(mupdf_said: str) -> str | None:
    """The first of MuPDF's messages (`mupdf_said`, one a line) that says part of a page was
    left out for want of memory, if one does."""
    said = mupdf_said.splitlines()
    return next((line for line in said if _DROPPED_FOR_MEMORY.search(line)), None)


def out_of_memory(where: str, config: RenderConfig) -> str:
    """The message of a render that ran out of memory `where` ("rendering page 3")."""
    return (
        f"out of memory while {where}: a render process may use about "
        f"{DATA_LIMIT_FACTOR} x {mib(config.max_decoded_bytes)} (render.max_decoded_bytes) "
        f"and its window of pages beyond what it starts with; {RETRIED_ONCE}"
    )


class DataLimit:
    """A render process's data limit (RLIMIT_DATA, Linux only), set for each task from what
    the process used once started: DATA_LIMIT_FACTOR x max_decoded_bytes for decoding, the
    task's window of pages at the pixel budget (PAGE_BYTES_PER_PIXEL each) and
    DATA_LIMIT_SLACK. A task without a window (the whole document, however long) has none."""

    def __init__(self, config: RenderConfig) -> None:
        self.config = config
        self.baseline = _data_in_use() if sys.platform.startswith("linux") else None

    def allowance(self, window_pages: int | None) -> int | None:
        """The bytes a task over `window_pages` pages may use beyond the baseline."""
        if window_pages is None:
            return None
        pages = window_pages * PAGE_BYTES_PER_PIXEL * self.config.max_pixels
        return DATA_LIMIT_FACTOR * self.config.max_decoded_bytes + pages + DATA_LIMIT_SLACK

    def set_for(self, window_pages: int | None) -> int | None:
        """Set the limit for a task over `window_pages` pages; returns it (None: no limit)."""
        import resource

        allowance = self.allowance(window_pages)
        if self.baseline is None:
            return None
        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = hard if allowance is None else self.baseline + allowance
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
        except (ValueError, OSError):
            return None
        return None if limit == resource.RLIM_INFINITY else limit


def _data_in_use() -> int | None:
    """This process's VmData (heap and private memory), in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def worker_death(exitcode: int | None) -> tuple[ErrorCode, str]:
    """The code and message of a render process that died with `exitcode` during a task:
    killed by SIGKILL (what the kernel's out-of-memory killer sends) is `render_oom`; any other
    death is `render_crash`."""
    if exitcode == -signal.SIGKILL:
        return ErrorCode.RENDER_OOM, (
            "the render process was killed (SIGKILL), most likely by the kernel for lack of "
            f"memory (fewer render processes, --workers, need less); {RETRIED_ONCE}"
        )
    return ErrorCode.RENDER_CRASH, (
        f"the render process died (exit code {exitcode}); the file may be malformed in a way "
        "that crashes the renderer"
    )
