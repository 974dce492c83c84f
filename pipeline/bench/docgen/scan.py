"""Turn generated PDFs into images: clean renders, "scans" (tilt, blur, noise, JPEG), ID cards."""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

from pipeline.bench.docgen.canvas import GREY, Canvas
from pipeline.bench.docgen.common import GeneratedDocument
from schemas.rules import id_check_character

FORMATS = {".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF"}


def render_images(pdf: bytes, dpi: int) -> list[Any]:
    """Render every page of a PDF to an RGB PIL image."""
    import pymupdf
    from PIL import Image

    images = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page in doc:
            pix = page.get_pixmap(dpi=dpi, alpha=False)
            images.append(Image.frombytes("RGB", (pix.width, pix.height), pix.samples))
    return images


def degrade_image(
    image: Any, rng: random.Random, strength: float = 1.0, light: float = 1.0
) -> Any:
    """Make a clean render look scanned: tilt up to ±1.5°, slight blur, sensor noise, grey paper
    (tilt, blur and noise grow with `strength`). `light` below 1 dims the page as a photo taken
    in poor light: the near edge gets `light` of the brightness, the far edge less again."""
    import numpy as np
    from PIL import Image, ImageFilter

    angle = rng.uniform(-1.5, 1.5) * strength
    image = image.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255)
    )
    image = image.filter(ImageFilter.GaussianBlur(radius=0.4 + 0.4 * strength))
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 5 * strength, pixels.shape[:2])
    paper = 0.96 - 0.03 * rng.random()
    pixels = (pixels * paper + noise[..., None]).astype(np.float32)
    if light < 1.0:
        height, width = pixels.shape[:2]
        across = np.linspace(1.0, 0.8, width, dtype=np.float32)[None, :]
        down = np.linspace(1.0, 0.9, height, dtype=np.float32)[:, None]
        pixels *= (light * across * down)[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode_images(images: list[Any], suffix: str, quality: int = 70) -> bytes:
    """Encode page images as JPEG/PNG (first page only) or multi-page TIFF."""
    fmt = FORMATS[suffix]
    buffer = io.BytesIO()
    if fmt == "TIFF":
        grey = [im.convert("L") for im in images]
        grey[0].save(
            buffer,
            format="TIFF",
            save_all=True,
            append_images=grey[1:],
            compression="tiff_adobe_deflate",
            dpi=(150, 150),
        )
    elif fmt == "JPEG":
        images[0].save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        images[0].save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def to_scan(
    doc: GeneratedDocument,
    rng: random.Random,
    suffix: str = ".jpg",
    dpi: int = 110,
    strength: float = 1.0,
    light: float = 1.0,
) -> GeneratedDocument:
    """The same document as a degraded scan (see `degrade_image`); JPEG and PNG keep only the
    first page."""
    images = [degrade_image(im, rng, strength, light) for im in render_images(doc.content, dpi)]
    pages = len(images) if suffix == ".tif" else 1
    return GeneratedDocument(
        doc.name, doc.schema, encode_images(images[:pages], suffix), suffix, doc.truth, pages,
        doc.boxes,
    )


ETHNICITIES = ["汉", "汉", "汉", "回", "满"]


def make_id_card(
    rng: random.Random, name: str, suffix: str = ".png", degrade: bool = False
) -> GeneratedDocument:
    """Front side of a fictional resident ID card as an image.

    The number uses the placeholder region 990101 (no real region has it), a birth date that
    matches the printed one, an odd/even sequence digit for male/female and a valid check
    character. Name and address are plainly invented.
    """
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(365 * 45))
    sex = rng.choice(["male", "female"])
    person = rng.choice(["张示例", "李样本", "王演示", "赵测试"])
    address = rng.choice(["示例省虚构市演示区样本路1号", "样本省示例市测试街道演示小区2栋3号"])
    seq = rng.randrange(0, 50) * 2 + (1 if sex == "male" else 0)
    first17 = f"990101{birth:%Y%m%d}{rng.randrange(10)}{seq:02d}"
    id_number = first17 + id_check_character(first17)
    c = Canvas(428, 270)
    c.box(4, 4, 424, 266, fill=(0.93, 0.95, 0.97), color=(0.7, 0.75, 0.8), width=1)
    c.box(300, 40, 400, 170, fill=(0.85, 0.86, 0.88), color=None)
    c.page.draw_circle((350, 90), 26, color=None, fill=(0.7, 0.7, 0.72))
    c.page.draw_oval((305, 120, 395, 200), color=None, fill=(0.7, 0.7, 0.72))
    c.box(300, 168, 400, 172, fill=(0.93, 0.95, 0.97), color=None)
    c.text(30, 50, "姓名", 10, color=GREY)
    c.text(75, 50, person, 13, field="name")
    c.text(30, 80, "性别", 10, color=GREY)
    c.text(75, 80, "男" if sex == "male" else "女", 11)
    c.text(130, 80, "民族", 10, color=GREY)
    ethnicity = rng.choice(ETHNICITIES)
    c.text(170, 80, ethnicity, 11, field="ethnicity")
    c.text(30, 110, "出生", 10, color=GREY)
    c.text(75, 110, f"{birth.year} 年 {birth.month} 月 {birth.day} 日", 11, field="birth_date")
    c.text(30, 140, "住址", 10, color=GREY)
    c.text(75, 140, address[:14], 11, field="address")
    if len(address) > 14:
        c.text(75, 156, address[14:], 11, field="address")
    c.text(30, 230, "公民身份号码", 10, color=GREY)
    c.text(120, 230, id_number, 14, "cobo", field="id_number")
    c.text(350, 190, "样本 SPECIMEN", 9, align="center", color=(0.8, 0.2, 0.2))
    boxes = c.boxes()
    image = render_images(c.finish(), dpi=144)[0]
    if degrade:
        image = degrade_image(image, rng, 0.6)
    truth = {
        "name": person,
        "sex": sex,
        "ethnicity": ethnicity,
        "birth_date": birth.isoformat(),
        "address": address,
        "id_number": id_number,
    }
    content = encode_images([image], suffix)
    return GeneratedDocument(name, "id_card", content, suffix, truth, 1, boxes)
