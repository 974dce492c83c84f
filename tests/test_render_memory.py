"""Render memory: a frame whose decode would be too large is refused from its header, each
render process has a data limit, and running out of memory is a `render_oom` row. Real images
made with Pillow, real PDFs, real render processes."""

from __future__ import annotations

import mmap
import os
import resource
import signal
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.inputs.discover import discover_sources
from pipeline.inputs.preflight import preflight
from pipeline.inputs.render import render_document
from pipeline.inputs.renderpool import RenderPool, RenderTask
from pipeline.records import RenderedDocument, SourceFile
from tests.fixtures_documents import make_image, make_pdf

MIB = 2**20


def source_of(path: Path) -> SourceFile:
    found = discover_sources([path])
    assert not found.errors, found.errors
    return found.sources[0]


def render_squeezed(
    source: SourceFile, config: RenderConfig, first_page: int = 0, window_pages: int | None = None
) -> RenderedDocument:
    """render_document in a render process that has used all but 8 MiB of its data limit (a
    private mapping it never touches counts against the limit, not against the machine):
    enough to open a file, not to decode a large image or draw a large page."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_DATA)
    if soft != resource.RLIM_INFINITY:
        status = Path("/proc/self/status").read_text().split("VmData:")[1]
        used = int(status.split()[0]) * 1024
        private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        ballast = mmap.mmap(-1, soft - used - 8 * MIB, flags=private)  # noqa: F841 - held while rendering
    return render_document(source, config, first_page, window_pages)


def render_or_be_killed(
    source: SourceFile, config: RenderConfig, first_page: int = 0, window_pages: int | None = None
) -> RenderedDocument:
    """render_document, except that the kernel's out-of-memory killer takes files named oom*."""
    if source.path.name.startswith("oom"):
        os.kill(os.getpid(), signal.SIGKILL)
    return render_document(source, config, first_page, window_pages)


def test_a_frame_that_decodes_above_max_decoded_bytes_is_refused_from_its_header(
    tmp_path: Path,
) -> None:
    config = RenderConfig(max_decoded_bytes=MIB)
    rgba = source_of(make_image(tmp_path / "poster.png", "RGBA", size=(600, 500)))  # 1.1 MiB
    result = render_document(rgba, config)
    assert result.error is not None and result.error.code is ErrorCode.IMAGE_TOO_LARGE
    assert result.error.page == 1 and not result.pages
    message = result.error.message
    assert str(rgba.path) in message and "600x500 RGBA" in message and "1 MiB" in message
    assert "render.max_decoded_bytes" in message
    assert preflight(rgba, config).error == result.error  # the dry run says the same
    gray = source_of(make_image(tmp_path / "gray.png", "L", size=(600, 500)))  # 0.3 MiB
    assert render_document(gray, config).error is None


def test_a_jpeg_is_checked_at_the_scale_it_is_decoded_at(tmp_path: Path) -> None:
    config = RenderConfig(max_decoded_bytes=16 * MIB)
    photo = make_image(tmp_path / "photo.jpg", "RGB", size=(3000, 3000))  # 34 MiB at full scale
    assert render_document(source_of(photo), config).error is None  # decoded at 1/2: 8.6 MiB
    same = make_image(tmp_path / "photo.png", "RGB", size=(3000, 3000))
    refused = render_document(source_of(same), config).error
    assert refused is not None and refused.code is ErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize("size", [(3000, 3000), (2500, 700), (1200, 900), (20_000, 300)])
def test_the_jpeg_decode_size_is_what_pillow_draft_gives(tmp_path: Path, size) -> None:
    from pipeline.inputs.budget import fit_pixels
    from pipeline.inputs.memory_cap import jpeg_draft_size

    path = make_image(tmp_path / "photo.jpg", "RGB", size=size)
    config = RenderConfig()
    height, width = fit_pixels(
        size[1], size[0], min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    with Image.open(path) as image:
        image.draft(None, (width, height))
        assert jpeg_draft_size(size, (width, height)) == image.size


def test_the_default_limit_renders_a_600_dpi_a3_colour_scan(tmp_path: Path) -> None:
    path = tmp_path / "a3-600dpi.png"
    Image.new("RGB", (7016, 9921), (250, 250, 245)).save(path, compress_level=1)
    source = source_of(path)
    assert preflight(source, RenderConfig()).error is None
    result = render_document(source, RenderConfig())
    assert result.error is None and result.pages[0].source_width == 7016


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_render_process_that_runs_out_of_memory_gives_render_oom(tmp_path: Path) -> None:
    config = RenderConfig(max_decoded_bytes=64 * MIB, dpi=300, max_pixels=16 * 10**6, timeout_s=30)
    scan = source_of(make_image(tmp_path / "scan.png", "RGB", size=(4000, 3000)))  # 46 MiB
    pdf = source_of(make_pdf(tmp_path / "letter.pdf", pages=2))  # 25 MiB a page at 300 dpi
    with RenderPool(config, workers=1, render_fn=render_squeezed) as pool:
        results = {r.source.path.name: r for r in pool.render([RenderTask(scan, 0, 8)])}
        results |= {r.source.path.name: r for r in pool.render([RenderTask(pdf, 0, 8)])}
        crashes = pool.crashes  # each failure is a row from a process that lives on
    for name, result in results.items():
        assert result.error is not None and result.error.code is ErrorCode.RENDER_OOM, name
        assert "out of memory while rendering" in result.error.message
        assert "render.max_decoded_bytes" in result.error.message
    assert results["letter.pdf"].error.page == 1  # MuPDF's allocation failed on page 1
    assert crashes == 0


@pytest.mark.slow
def test_each_render_process_has_a_data_limit_from_the_config(tmp_path: Path) -> None:
    from pipeline.inputs.memory_cap import DataLimit

    config = RenderConfig(max_decoded_bytes=8 * MIB)
    scan = source_of(make_image(tmp_path / "scan.png", "RGB"))
    with RenderPool(config, workers=1) as pool:
        assert list(pool.render([RenderTask(scan, 0, 8)]))[0].error is None
        pid = pool._pool[0].process.pid
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
        status = Path(f"/proc/{pid}/status").read_text().split("VmData:")[1]
    soft = int(next(line for line in limits if line.startswith("Max data size")).split()[3])
    allowance = DataLimit(config).allowance(8)
    assert allowance is not None and allowance < 400 * MIB
    assert allowance < soft <= int(status.split()[0]) * 1024 + allowance


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_render_process_killed_as_for_memory_gives_render_oom_not_render_crash(
    tmp_path: Path,
) -> None:
    names = ["oom-scan.png", "good.png"]
    sources = [source_of(make_image(tmp_path / name, "RGB")) for name in names]
    with RenderPool(RenderConfig(timeout_s=30), workers=1, render_fn=render_or_be_killed) as pool:
        results = {r.source.path.name: r for r in pool.render(RenderTask(s, 0, 8) for s in sources)}
        crashes = pool.crashes
    killed = results["oom-scan.png"].error
    assert killed is not None and killed.code is ErrorCode.RENDER_OOM
    assert str(tmp_path / "oom-scan.png") in killed.message and "SIGKILL" in killed.message
    assert results["good.png"].error is None and crashes == 1


def make_jpx_pdf(path: Path, size: tuple[int, int]) -> Path:
    """A one-page PDF: a line of text over a JPEG 2000 image of `size` (MuPDF decodes JPEG 2000
    with openjpeg, which says it is out of memory and leaves the image out of the page)."""
    import io

    import pymupdf

    encoded = io.BytesIO()
    Image.new("RGB", size, (250, 250, 245)).save(encoded, "JPEG2000")
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, stream=encoded.getvalue())
    page.insert_text((72, 72), "Total 123.45")
    doc.save(path)
    return path


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_pdf_image_left_out_for_memory_gives_render_oom_not_a_page_without_it(
    tmp_path: Path,
) -> None:
    pdf = source_of(make_jpx_pdf(tmp_path / "jpx.pdf", (2500, 2500)))  # 75 MiB of tile data
    assert render_document(pdf, RenderConfig()).error is None
    with RenderPool(RenderConfig(timeout_s=30), workers=1, render_fn=render_squeezed) as pool:
        [result] = pool.render([RenderTask(pdf, 0, 8)])
    assert result.error is not None and result.error.code is ErrorCode.RENDER_OOM
    assert result.error.page == 1 and not result.pages
    assert "drew without a part it could not decode" in result.error.message
