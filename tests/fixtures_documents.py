"""Real documents for tests, made with PyMuPDF and Pillow.

Every `make_*` function is a plain factory (path in, path out) so any test can build exactly
what it needs; the fixtures below wrap the common ones. A "mark" is a black square drawn at the
top-left corner of the page *as displayed*: a correctly oriented render is dark there and light
in the other three corners (see `corner_means`).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

A4 = (595.0, 842.0)
MARK = 90.0  # points (PDF) or a fraction of the side for images, see below
USER_PASSWORD = "s3cret-pw"
OWNER_PASSWORD = "owner-pw"


def _write_text(page: pymupdf.Page, lines: int = 30) -> None:
    for row in range(lines):
        y = 140 + row * 20
        if y > page.rect.height - 40:
            break
        page.insert_text(
            (72, y), f"Line {row + 1}: invoice item {row * 7 % 13} x 12.50 EUR", fontsize=10
        )
        page.draw_line((72, y + 4), (page.rect.width - 72, y + 4), color=(0.6, 0.6, 0.6), width=0.5)


def make_pdf(path: Path, pages: int = 1, size: tuple[float, float] = A4, text: bool = True) -> Path:
    """A plain PDF with `pages` pages of text and rules."""
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        if text:
            _write_text(page)
    doc.save(path)
    doc.close()
    return path


def make_rotated_pdf(path: Path, rotations: tuple[int, ...] = (0, 90, 180, 270)) -> Path:
    """One A4 page per /Rotate value, each with a mark at its displayed top-left corner."""
    doc = pymupdf.open()
    for rotation in rotations:
        page = doc.new_page(width=A4[0], height=A4[1])
        page.set_rotation(rotation)
        shown = pymupdf.Rect(0, 0, MARK, MARK)
        page.draw_rect(shown * page.derotation_matrix, color=(0, 0, 0), fill=(0, 0, 0))
    doc.save(path)
    doc.close()
    return path


def make_encrypted_pdf(path: Path, user_password: str = USER_PASSWORD) -> Path:
    """An AES-256 encrypted PDF that needs `user_password` to open."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    _write_text(page, 5)
    doc.save(
        path,
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw=user_password,
        owner_pw=OWNER_PASSWORD,
    )
    doc.close()
    return path


def make_truncated_pdf(path: Path) -> Path:
    """The first 40% of a valid PDF: no xref, no trailer, no %%EOF."""
    full = path.with_suffix(".full.pdf")
    make_pdf(full, pages=2)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * 0.4)])
    return path


def make_zero_page_pdf(path: Path) -> Path:
    """A structurally valid PDF whose page tree is empty (/Count 0)."""
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Count 0/Kids[]>>"]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def make_huge_page_pdf(path: Path, side: float = 20_000.0) -> Path:
    """A PDF with one side x side point page (above the default area limit)."""
    return make_pdf(path, pages=1, size=(side, side), text=False)


def _marked_image(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """White image of `size` (as displayed) with a black mark in the top-left quarter-ish."""
    image = Image.new("RGB", size, (255, 255, 255))
    mark = (0, 0, max(1, size[0] // 4), max(1, size[1] // 4))
    image.paste((0, 0, 0), mark)
    return image.convert(mode) if mode != "RGB" else image


def make_exif_rotated_jpeg(
    path: Path, orientation: int = 6, shown: tuple[int, int] = (300, 400)
) -> Path:
    """A JPEG stored sideways with EXIF orientation 6 or 8; displayed it is `shown` (w, h)
    with the mark at the top-left."""
    displayed = _marked_image(shown)
    # Store the inverse of what the viewer applies: 6 means "rotate 90° clockwise to display".
    undo = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    stored = displayed.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


def make_tiff(path: Path, frames: int = 3, size: tuple[int, int] = (200, 260)) -> Path:
    """A multi-frame TIFF; frame i has a mark whose gray level is 40 * i."""
    images = []
    for index in range(frames):
        frame = Image.new("L", size, 255)
        frame.paste(40 * index, (0, 0, size[0] // 3, size[1] // 3))
        images.append(frame)
    images[0].save(path, "TIFF", save_all=True, append_images=images[1:], dpi=(200, 200))
    return path


def make_alpha_png(path: Path, size: tuple[int, int] = (200, 150)) -> Path:
    """RGBA PNG: fully transparent (black, alpha 0) except an opaque black top-left mark."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (0, 0, size[0] // 4, size[1] // 4))
    image.save(path, "PNG")
    return path


def make_image(
    path: Path, mode: str = "RGB", size: tuple[int, int] = (240, 320), fmt: str | None = None
) -> Path:
    """An image in a given Pillow mode (RGB, L, P, CMYK, I;16...) with the top-left mark."""
    fmt = (
        fmt
        or {
            ".jpg": "JPEG",
            ".jpeg": "JPEG",
            ".png": "PNG",
            ".webp": "WEBP",
            ".bmp": "BMP",
            ".tif": "TIFF",
            ".tiff": "TIFF",
        }[path.suffix.lower()]
    )
    base = _marked_image(size)
    if mode == "P":
        image = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    elif mode.startswith("I;16"):
        image = base.convert("L").point(lambda v: v * 257, "I").convert("I;16")
    else:
        image = base.convert(mode)
    image.save(path, fmt)
    return path


def make_bomb_png(path: Path, width: int = 40_000, height: int = 40_000) -> Path:
    """A PNG whose header claims width x height pixels over a tiny body: decoding it would
    need gigabytes, reading its header costs nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def corner_means(image: Image.Image, fraction: float = 0.1) -> dict[str, float]:
    """Mean gray level of the four corner boxes (each `fraction` of the sides)."""
    gray = image.convert("L")
    w, h = gray.size
    bw, bh = max(1, int(w * fraction)), max(1, int(h * fraction))
    boxes = {
        "top_left": (0, 0, bw, bh),
        "top_right": (w - bw, 0, w, bh),
        "bottom_left": (0, h - bh, bw, h),
        "bottom_right": (w - bw, h - bh, w, h),
    }
    means = {}
    for name, box in boxes.items():
        data = gray.crop(box).tobytes()
        means[name] = sum(data) / len(data)
    return means


def make_document_folder(root: Path) -> dict[str, Path]:
    """A folder with one of each kind of document (good and bad); returns name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    made = {
        "plain": make_pdf(root / "plain.pdf", pages=2),
        "rotated": make_rotated_pdf(root / "rotated.pdf"),
        "encrypted": make_encrypted_pdf(root / "encrypted.pdf"),
        "truncated": make_truncated_pdf(root / "truncated.pdf"),
        "zero_pages": make_zero_page_pdf(root / "zero_pages.pdf"),
        "huge_page": make_huge_page_pdf(root / "huge_page.pdf"),
        "exif": make_exif_rotated_jpeg(root / "exif6.jpg"),
        "tiff": make_tiff(root / "three.tif"),
        "alpha": make_alpha_png(root / "alpha.png"),
        "cmyk": make_image(root / "cmyk.jpg", "CMYK"),
        "palette": make_image(root / "palette.png", "P"),
        "gray": make_image(root / "gray.png", "L"),
        "webp": make_image(root / "photo.webp", "RGB"),
        "bmp": make_image(root / "scan.bmp", "RGB"),
    }
    (root / "empty.pdf").write_bytes(b"")
    (root / "notes.pdf").write_text("this is plain text, not a PDF\n")
    made["empty"] = root / "empty.pdf"
    made["text_as_pdf"] = root / "notes.pdf"
    return made


@pytest.fixture(scope="session")
def document_folder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Session-wide folder of sample documents (see make_document_folder); do not modify."""
    return make_document_folder(tmp_path_factory.mktemp("documents"))


@pytest.fixture
def pdf_factory(tmp_path: Path):
    """Call with (name, pages=1, size=A4) to get a fresh text PDF in tmp_path."""

    def build(name: str = "doc.pdf", pages: int = 1, size: tuple[float, float] = A4) -> Path:
        return make_pdf(tmp_path / name, pages=pages, size=size)

    return build


def png_bytes(image: Image.Image) -> bytes:
    """Encode an image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
