"""render_document over real PDFs and images: orientation, budget, modes and every error code."""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
from pathlib import Path

import pymupdf
import pytest

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.inputs.discover import discover_sources
from pipeline.inputs.render import render_document
from pipeline.records import FileKind, RenderedDocument, SourceFile
from tests.fixtures_documents import (
    USER_PASSWORD,
    corner_means,
    make_bomb_png,
    make_exif_rotated_jpeg,
    make_image,
    make_pdf,
)

CONFIG = RenderConfig()


def source_of(path: Path, kind: FileKind | None = None) -> SourceFile:
    found = discover_sources([path])
    if found.sources:
        return found.sources[0]
    # For files discovery refuses: render must still cope when handed one.
    assert kind is not None, found.errors
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(path=path, sha256=digest, size=path.stat().st_size, kind=kind)


def render(path: Path, config: RenderConfig = CONFIG, **kwargs) -> RenderedDocument:
    return render_document(source_of(path), config, **kwargs)


def assert_budget(result: RenderedDocument, config: RenderConfig = CONFIG) -> None:
    assert result.error is None, result.error
    for page in result.pages:
        assert page.width % 32 == 0 and page.height % 32 == 0
        assert config.min_pixels <= page.width * page.height <= config.max_pixels
        assert len(page.pixels) == page.width * page.height * 3
        assert page.doc_id == result.source.sha256


def assert_mark_top_left(result: RenderedDocument) -> None:
    for page in result.pages:
        means = corner_means(page.to_pil())
        assert means["top_left"] < 60, (page.index, means)
        for corner in ("top_right", "bottom_left", "bottom_right"):
            assert means[corner] > 200, (page.index, corner, means)


def test_plain_pdf_renders_at_the_budget_size(document_folder: dict[str, Path]) -> None:
    result = render(document_folder["plain"])
    assert_budget(result)
    assert result.page_count == 2 and [p.index for p in result.pages] == [0, 1]
    page = result.pages[0]
    assert (page.width, page.height) == (960, 1344)
    assert page.dpi == pytest.approx(72 * 960 / 595, abs=0.01)
    assert (page.source_width, page.source_height) == (1240, 1754)
    assert min(page.pixels) < 128 < max(page.pixels)  # text is there, the page is not blank


def test_pdf_pixels_are_the_pixmap_read_only_and_outlive_the_render(
    document_folder: dict[str, Path],
) -> None:
    path = document_folder["plain"]
    page = render(path).pages[0]
    with pymupdf.open(path) as doc:
        rect = doc[0].rect
        matrix = pymupdf.Matrix(page.width / rect.width, page.height / rect.height)
        expected = doc[0].get_pixmap(matrix=matrix, alpha=False).samples
    pixels = page.pixels
    assert isinstance(pixels, memoryview) and pixels.readonly
    with pytest.raises(TypeError):
        pixels[0] = 0  # type: ignore[index]
    clone = pickle.loads(pickle.dumps(page))
    assert isinstance(clone.pixels, bytes) and clone == page
    del page
    gc.collect()
    for _ in range(3):  # other pages take whatever memory a freed pixmap gave back
        others = [render(document_folder["rotated"]).pages for _ in range(2)]
    assert len(others[0]) == 4
    assert pixels == expected


def test_rotate_is_honoured(document_folder: dict[str, Path]) -> None:
    result = render(document_folder["rotated"])
    assert_budget(result)
    assert [(p.width > p.height) for p in result.pages] == [False, True, False, True]
    assert_mark_top_left(result)


def test_page_window(pdf_factory) -> None:
    path = pdf_factory("five.pdf", pages=5)
    result = render(path, first_page=1, window_pages=2)
    assert result.page_count == 5 and [p.index for p in result.pages] == [1, 2]
    assert render(path, first_page=9).pages == ()


def test_encrypted_pdf(document_folder: dict[str, Path]) -> None:
    path = document_folder["encrypted"]
    locked = render(path)
    assert locked.error is not None and locked.error.code is ErrorCode.ENCRYPTED
    assert locked.error.stage is Stage.RENDER and str(path) in locked.error.message
    assert "--password" in locked.error.message and locked.pages == ()
    wrong = render(path, RenderConfig(passwords=("nope", "also-wrong")))
    assert wrong.error is not None and wrong.error.code is ErrorCode.WRONG_PASSWORD
    opened = render(path, RenderConfig(passwords=("nope", USER_PASSWORD)))
    assert_budget(opened)
    assert opened.page_count == 1 and len(opened.pages) == 1


def test_a_non_ascii_password_opens_in_any_unicode_form(tmp_path: Path) -> None:
    """AES-256 passwords are SASLprep'd UTF-8: the same password typed with decomposed accents
    (as some keyboards and file systems store it) opens the file too."""
    import unicodedata

    from tests.fixtures_documents import make_encrypted_pdf

    path = make_encrypted_pdf(tmp_path / "umlaut.pdf", user_password="pässwört")
    decomposed = unicodedata.normalize("NFD", "pässwört")
    assert decomposed != "pässwört"
    opened = render(path, RenderConfig(passwords=(decomposed,)))
    assert opened.error is None and opened.page_count == 1
    wrong = render(path, RenderConfig(passwords=("passwort",)))
    assert wrong.error is not None and wrong.error.code is ErrorCode.WRONG_PASSWORD


@pytest.mark.parametrize(
    ("name", "kind", "codes"),
    [
        ("truncated", FileKind.PDF, {ErrorCode.TRUNCATED}),
        ("text_as_pdf", FileKind.PDF, {ErrorCode.CORRUPT}),
        ("empty", FileKind.PDF, {ErrorCode.CORRUPT, ErrorCode.TRUNCATED}),
        ("zero_pages", FileKind.PDF, {ErrorCode.ZERO_PAGES}),
        ("huge_page", FileKind.PDF, {ErrorCode.PAGE_TOO_LARGE}),
        ("text_as_pdf", FileKind.PNG, {ErrorCode.CORRUPT}),
    ],
)
def test_bad_documents_become_error_records(
    document_folder: dict[str, Path], name: str, kind: FileKind, codes: set[ErrorCode]
) -> None:
    path = document_folder[name]
    result = render_document(source_of(path, kind), CONFIG)
    assert result.error is not None and result.error.code in codes, result.error
    assert result.error.stage is Stage.RENDER and result.pages == ()
    assert str(path) in result.error.message and result.error.path == str(path)


def test_truncated_pdf_that_repairs_renders_with_a_warning(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "cut.pdf", pages=3)
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"xref")])  # drop the xref table and trailer
    result = render(path)
    assert_budget(result)
    assert result.page_count == 3
    assert [w.code for w in result.warnings] == ["repaired"]


def test_page_area_limit_is_checked_before_rendering(pdf_factory) -> None:
    path = pdf_factory("wide.pdf", size=(3000.0, 400.0))
    result = render(path, RenderConfig(max_page_area_pt2=1_000_000.0))
    assert result.error is not None and result.error.code is ErrorCode.PAGE_TOO_LARGE
    assert result.error.page == 1 and "3000x400" in result.error.message


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation(tmp_path: Path, orientation: int) -> None:
    path = make_exif_rotated_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    result = render(path)
    assert_budget(result)
    page = result.pages[0]
    assert page.height > page.width and (page.source_width, page.source_height) == (300, 400)
    assert_mark_top_left(result)


def test_xmp_orientation_is_honoured(tmp_path: Path) -> None:
    from PIL import Image

    stored = Image.new("RGB", (200, 300), "white")
    stored.paste((0, 0, 0), (150, 225, 200, 300))  # bottom-right stored, top-left after 180°
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'
        '<rdf:Description tiff:Orientation="3"/></rdf:RDF></x:xmpmeta>'
    )
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    stored.save(tmp_path / "xmp.png", pnginfo=info)
    assert_mark_top_left(render(tmp_path / "xmp.png"))


def test_every_tiff_frame_is_a_page(document_folder: dict[str, Path]) -> None:
    result = render(document_folder["tiff"])
    assert_budget(result)
    assert result.page_count == 3 and len(result.pages) == 3
    marks = [corner_means(p.to_pil())["top_left"] for p in result.pages]
    assert marks[0] < 10 and 30 < marks[1] < 50 and 70 < marks[2] < 90
    assert result.pages[0].dpi is not None
    second = render(document_folder["tiff"], first_page=2, window_pages=5)
    assert [p.index for p in second.pages] == [2]


def test_alpha_is_flattened_onto_white(document_folder: dict[str, Path]) -> None:
    result = render(document_folder["alpha"])
    assert_budget(result)
    assert_mark_top_left(result)  # transparent black pixels became white, the mark stayed
    assert result.warnings == ()


def test_content_only_in_alpha_stays_visible(tmp_path: Path) -> None:
    from PIL import Image

    image = Image.new("RGBA", (200, 100), (255, 255, 255, 0))
    image.paste((255, 255, 255, 255), (0, 0, 50, 25))  # white mark, visible only by alpha
    image.save(tmp_path / "white_on_clear.png")
    result = render(tmp_path / "white_on_clear.png")
    means = corner_means(result.pages[0].to_pil())
    assert means["top_left"] > 200 and means["bottom_right"] < 60
    assert [w.code for w in result.warnings] == ["alpha_only_content"]


@pytest.mark.parametrize(
    ("name", "mode", "suffix"),
    [
        ("cmyk", "CMYK", ".jpg"),
        ("palette", "P", ".png"),
        ("gray", "L", ".png"),
        ("bilevel", "1", ".png"),
        ("deep", "I;16", ".png"),
        ("webp", "RGB", ".webp"),
        ("bmp", "RGB", ".bmp"),
        ("la", "LA", ".png"),
    ],
)
def test_image_modes_become_rgb(tmp_path: Path, name: str, mode: str, suffix: str) -> None:
    path = make_image(tmp_path / f"{name}{suffix}", mode)
    result = render(path)
    assert_budget(result)
    assert result.page_count == 1
    assert (result.pages[0].source_width, result.pages[0].source_height) == (240, 320)
    assert_mark_top_left(result)


def test_image_above_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    path = make_image(tmp_path / "big.png", "RGB", size=(400, 300))
    result = render(path, RenderConfig(max_image_pixels=100_000))
    assert result.error is not None and result.error.code is ErrorCode.IMAGE_TOO_LARGE
    assert str(path) in result.error.message and "400x300" in result.error.message


@pytest.mark.timeout(20)
def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path) -> None:
    path = make_bomb_png(tmp_path / "bomb.png")  # 1.6 gigapixels claimed, 1 KiB of data
    result = render(path)
    assert result.error is not None and result.error.code is ErrorCode.IMAGE_TOO_LARGE
    assert "40000x40000" in result.error.message
    from PIL import Image

    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # the process-wide guard is restored


def test_a_file_that_changed_since_discovery_is_not_rendered(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "growing.pdf", pages=1)
    source = source_of(path)
    make_pdf(path, pages=2)  # rewritten between discovery and rendering
    rendered = render_document(source, RenderConfig())
    assert rendered.error is not None and rendered.error.code is ErrorCode.CHANGED
    assert "growing.pdf" in rendered.error.message and not rendered.pages


def test_a_file_swapped_for_a_fifo_after_discovery_is_changed_at_once(tmp_path: Path) -> None:
    """A FIFO that nobody writes, put in a file's place after discovery, is refused when the
    file is read to be rendered, instead of holding the render until its timeout."""
    import threading

    path = make_pdf(tmp_path / "swapped.pdf", pages=1)
    source = source_of(path)
    path.unlink()
    os.mkfifo(path)
    outcome: list[RenderedDocument] = []
    reader = threading.Thread(target=lambda: outcome.append(render_document(source, CONFIG)))
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # let the stuck read go before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert outcome, "the render waited on the FIFO"
    error = outcome[0].error
    assert error is not None and error.code is ErrorCode.CHANGED and not outcome[0].pages
    assert "swapped.pdf: the file was replaced after it was found" in error.message


def test_later_windows_check_size_and_time_instead_of_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_pdf(tmp_path / "long.pdf", pages=3)
    source = source_of(path)
    assert source.mtime_ns == path.stat().st_mtime_ns
    hashed: list[int] = []
    real_sha256 = hashlib.sha256

    def counting_sha256(data: bytes = b"") -> object:
        hashed.append(len(data))
        return real_sha256(data)

    monkeypatch.setattr("pipeline.inputs.render.hashlib.sha256", counting_sha256)
    first = render_document(source, RenderConfig(), 0, 1)
    later = render_document(source, RenderConfig(), 1, 2)
    assert first.error is None and later.error is None
    assert [p.index for p in later.pages] == [1, 2]
    assert hashed == [source.size]  # the first window only
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp, stamp + 1_000_000_000))  # touched: same bytes, new time
    touched = render_document(source, RenderConfig(), 1, 2)
    assert touched.error is not None and touched.error.code is ErrorCode.CHANGED


def test_a_pdf_whose_name_is_not_utf8_renders(tmp_path: Path) -> None:
    made = make_pdf(tmp_path / "made.pdf", pages=2)
    path = tmp_path / os.fsdecode(b"factura-espa\xf1a.pdf")  # Latin-1 bytes, not UTF-8
    made.rename(path)
    rendered = render_document(source_of(path), RenderConfig())
    assert rendered.error is None and len(rendered.pages) == 2


def test_a_latin_1_password_given_as_bytes_opens_and_never_fails_the_others(
    tmp_path: Path,
) -> None:
    """A password that came as bytes that are not UTF-8 (Latin-1 `caf\\xe9` on a command line or
    in a passwords file, held as a surrogate escape) opens an RC4 file made with it, and in an
    AES-256 file's list of passwords it is one more wrong try, not a failure of every file."""
    from tests.fixtures_documents import make_encrypted_pdf

    as_bytes = b"caf\xe9".decode("utf-8", "surrogateescape")
    doc = pymupdf.open()
    doc.new_page()
    doc.save(tmp_path / "rc4.pdf", encryption=pymupdf.PDF_ENCRYPT_RC4_128, user_pw="café",
             owner_pw="owner")  # fmt: skip
    opened = render(tmp_path / "rc4.pdf", RenderConfig(passwords=(as_bytes,)))
    assert opened.error is None and opened.page_count == 1
    aes = make_encrypted_pdf(tmp_path / "aes.pdf", user_password="pässwört")
    others = render(aes, RenderConfig(passwords=(as_bytes, "pässwört")))
    assert others.error is None and others.page_count == 1


def test_an_image_a_decoder_refuses_is_corrupt_and_its_message_is_stable(tmp_path: Path) -> None:
    """A decoder's OSError is not the file system's: a WebP with a valid header and no image
    data is `corrupt`, not `unreadable`; an image Pillow cannot identify is named without the
    memory address of Pillow's own message, so the message is the same run after run."""
    webp = tmp_path / "junk.webp"
    webp.write_bytes(b"RIFF" + (30).to_bytes(4, "little") + b"WEBPVP8 " + bytes(22))
    junk = render(webp)
    assert junk.error is not None and junk.error.code is ErrorCode.CORRUPT
    assert "cannot decode the image" in junk.error.message
    header_only = tmp_path / "header.png"
    header_only.write_bytes(b"\x89PNG\r\n\x1a\n")
    unknown = render(header_only)
    assert unknown.error is not None and unknown.error.code is ErrorCode.CORRUPT
    assert " at 0x" not in unknown.error.message and "cannot identify" in unknown.error.message


def test_what_the_image_decoder_warns_of_is_a_warning_on_its_document(tmp_path: Path) -> None:
    """Pillow warns of a JPEG's corrupt EXIF on stderr, where a JSON log cannot parse it: the
    renderer keeps it as a `decoder_warning` on the document instead, once."""
    from PIL import Image

    path = tmp_path / "bad-exif.jpg"
    five_entries_none_there = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00"
    Image.new("RGB", (64, 64), "white").save(path, exif=five_entries_none_there)
    rendered = render(path)
    assert rendered.error is None and len(rendered.pages) == 1
    (note,) = rendered.warnings
    assert note.code == "decoder_warning" and "Corrupt EXIF data" in note.message
    assert str(path) in note.message
