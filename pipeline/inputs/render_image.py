"""Render an image file (PNG, JPEG, TIFF with all its frames, WebP, BMP) into pages.

Frames are decoded with Pillow after their header size is checked against max_image_pixels
and max_decoded_bytes (so a decompression bomb is refused before it is decoded), turned upright
(EXIF or XMP orientation), flattened onto white and resized to the pixel budget.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.inputs.budget import AspectRatioTooLarge, fit_pixels
from pipeline.inputs.memory_cap import decoded_bytes, jpeg_draft_size, too_large_to_decode
from pipeline.inputs.render_result import (
    describe_exception,
    failed_page,
    failed_render,
    page_window,
    unusable_shape,
)
from pipeline.records import FileKind, Page, RenderedDocument, SourceFile, WarningRecord

_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_WHITE = (255, 255, 255)


def render_image(
    source: SourceFile,
    content: bytes,
    config: RenderConfig,
    first_page: int,
    window_pages: int | None,
) -> RenderedDocument:
    """Render frames [first_page, first_page + window_pages) of the image file `content`.

    What the decoder warns of (Pillow's "Corrupt EXIF data", say) becomes a `decoder_warning`
    on the document, not a line on stderr that a JSON log could not parse."""
    with pillow_guard_off(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        rendered = _decode_image(source, content, config, first_page, window_pages)
    notes = dict.fromkeys(f"{source.path}: {w.category.__name__}: {w.message}" for w in said)
    if not notes or rendered.error is not None:
        return rendered
    told = tuple(WarningRecord(ErrorCode.DECODER_WARNING.value, note) for note in notes)
    return replace(rendered, warnings=rendered.warnings + told)


@contextmanager
def pillow_guard_off() -> Iterator[None]:
    """Pillow's own size guard off: `check_frame` checks each frame's header size against
    config.max_image_pixels itself, before decoding. The guard is process-wide, and is
    restored afterwards."""
    from PIL import Image

    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def image_too_large(detail: str, config: RenderConfig) -> str:
    """The message of an image whose frame is over max_image_pixels."""
    return (
        f"image is too large to decode safely ({detail}); the limit is "
        f"{config.max_image_pixels} pixels (max_image_pixels)"
    )


def _decode_image(
    source: SourceFile,
    content: bytes,
    config: RenderConfig,
    first_page: int,
    window_pages: int | None,
) -> RenderedDocument:
    image = open_image(source, content)
    if isinstance(image, RenderedDocument):
        return image
    with image:
        total = frame_count(image, source)
        pages: list[Page] = []
        notes: list[WarningRecord] = []
        for index in page_window(total, first_page, window_pages):
            if (problem := check_frame(image, index, config)) is not None:
                return failed_page(source, *problem, index, total, pages)
            try:
                pages.append(_render_frame(image, index, source, config, notes))
            except AspectRatioTooLarge as exc:
                message = unusable_shape("frame", index, exc)
                return failed_page(source, ErrorCode.IMAGE_TOO_LARGE, message, index, total, pages)
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                return failed_page(source, *_undecodable(exc, index), index, total, pages)
        return RenderedDocument(
            source=source, pages=tuple(pages), page_count=total, warnings=tuple(notes)
        )


def open_image(source: SourceFile, content: bytes) -> Any:
    """The image file `content`, opened from its header (the caller closes it); or, where
    Pillow cannot identify it, the failed RenderedDocument that says so. Call it with Pillow's
    own size guard off (`render_image`), or a large image raises here instead."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(content))
    except UnidentifiedImageError:  # its message names a memory address, not the file
        return failed_render(
            source, ErrorCode.CORRUPT, "not a readable image (Pillow cannot identify its format)"
        )


def frame_count(image: Any, source: SourceFile) -> int:
    """The pages of an image file: every frame of a TIFF, the first frame of any other."""
    return getattr(image, "n_frames", 1) if source.kind is FileKind.TIFF else 1


def check_frame(image: Any, index: int, config: RenderConfig) -> tuple[ErrorCode, str] | None:
    """Move `image` to its frame at 0-based `index` and check, from the frame's header, that it
    can be decoded within max_image_pixels and max_decoded_bytes and has a shape the pixel
    budget fits: the code and message of why not."""
    try:
        image.seek(index)
        width, height = image.size
        if width * height > config.max_image_pixels:
            return ErrorCode.IMAGE_TOO_LARGE, image_too_large(
                f"frame {index + 1} is {width}x{height}", config
            )
        fitted = fit_pixels(
            height, width, min_pixels=config.min_pixels, max_pixels=config.max_pixels
        )
        if (too_large := _over_decoded_bytes(image, index, fitted, config)) is not None:
            return ErrorCode.IMAGE_TOO_LARGE, too_large
    except AspectRatioTooLarge as exc:
        return ErrorCode.IMAGE_TOO_LARGE, unusable_shape("frame", index, exc)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return _undecodable(exc, index)
    return None


def _over_decoded_bytes(
    image: Any, index: int, fitted: tuple[int, int], config: RenderConfig
) -> str | None:
    """Why the current frame, to be resized to `fitted` (height, width), takes more than
    max_decoded_bytes decoded, if it does; a JPEG is decoded at the reduced scale `draft`
    picks (`_render_frame`)."""
    width, height = image.size
    if image.format == "JPEG":
        width, height = jpeg_draft_size(image.size, (fitted[1], fitted[0]))
    size = decoded_bytes(width, height, image.mode, image.info)
    if size <= config.max_decoded_bytes:
        return None
    return too_large_to_decode(f"frame {index + 1} is {width}x{height}", image.mode, size, config)


def _undecodable(exc: Exception, index: int) -> tuple[ErrorCode, str]:
    truncated = "truncated" in str(exc).lower() or isinstance(exc, EOFError)
    code = ErrorCode.TRUNCATED if truncated else ErrorCode.CORRUPT
    return code, f"frame {index + 1} cannot be decoded ({describe_exception(exc)})"


def resize_frame(frame: Any, width: int, height: int) -> Any:
    """`frame` at `width` x `height`. A scan at least twice that is first reduced by a whole
    factor (box averaging, Pillow's reducing_gap 1.0), then resampled with LANCZOS: on a 300 dpi
    A4 scan about 2x faster than LANCZOS alone, at SSIM 0.991 against it (`make bench`,
    scan_resize); smaller scans are resampled with LANCZOS alone."""
    from PIL import Image

    return frame.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=1.0)


def _render_frame(
    image: Any, index: int, source: SourceFile, config: RenderConfig, notes: list[WarningRecord]
) -> Page:
    from PIL import ImageOps

    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    swapped = orientation in _SWAPPING_ORIENTATIONS
    stored_w, stored_h = image.size
    shown_w, shown_h = (stored_h, stored_w) if swapped else (stored_w, stored_h)
    height, width = fit_pixels(
        shown_h, shown_w, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    if image.format == "JPEG":  # let libjpeg decode at a reduced scale when that is enough
        image.draft(None, (height, width) if swapped else (width, height))
    frame = ImageOps.exif_transpose(image) if orientation != 1 else image
    frame = _to_rgb_or_gray(frame, source, notes)
    if frame.size != (width, height):
        frame = resize_frame(frame, width, height)
    if frame.mode != "RGB":
        frame = frame.convert("RGB")
    dpi = _image_dpi(image.info.get("dpi"), width, shown_w)
    return Page(
        doc_id=source.sha256,
        index=index,
        width=width,
        height=height,
        pixels=frame.tobytes(),
        dpi=dpi,
        source_width=shown_w,
        source_height=shown_h,
    )


def _image_dpi(stored: Any, width: int, shown_w: int) -> float | None:
    try:
        value = float(stored[0])
    except (TypeError, ValueError, IndexError):
        return None
    return round(value * width / shown_w, 2) if value > 0 else None


def _to_rgb_or_gray(frame: Any, source: SourceFile, notes: list[WarningRecord]) -> Any:
    """Any Pillow mode to "RGB" or "L" (resized before the final RGB conversion, cheaper)."""
    mode = frame.mode
    if mode in ("RGB", "L") and "transparency" not in frame.info:
        return frame
    if mode == "1":
        return frame.convert("L")
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _scale_to_gray(frame)
    if "A" in mode or "a" in mode or "transparency" in frame.info:
        return _flatten(frame if mode == "RGBA" else frame.convert("RGBA"), source, notes)
    return frame.convert("RGB")


def _scale_to_gray(frame: Any) -> Any:
    """16-bit or float samples to 8-bit gray, stretching the used range down to 0..255."""
    wide = frame.convert("F" if frame.mode == "F" else "I")
    low, high = wide.getextrema()
    if high > 255 or high < 1:
        scale = 255.0 / high if high > 0 else 1.0
        wide = wide.point(lambda value: value * scale)
    return wide.convert("L")


def _flatten(rgba: Any, source: SourceFile, notes: list[WarningRecord]) -> Any:
    """Composite onto white; if that hides everything (content drawn only in the alpha
    channel, e.g. white text on transparency), composite onto black instead."""
    from PIL import Image

    alpha = rgba.getchannel("A")
    flat = Image.new("RGB", rgba.size, _WHITE)
    flat.paste(rgba, mask=alpha)
    low, high = _band_range(flat.convert("L"))
    alpha_low, alpha_high = _band_range(alpha)
    if high - low < 8 and alpha_high - alpha_low > 128:
        flat = Image.new("RGB", rgba.size, (0, 0, 0))
        flat.paste(rgba, mask=alpha)
        notes.append(
            WarningRecord(
                "alpha_only_content",
                f"{source.path}: content is visible only through transparency; flattened onto "
                "black instead of white",
            )
        )
    return flat


def _band_range(band: Any) -> tuple[float, float]:
    low, high = band.getextrema()
    return float(low), float(high)
