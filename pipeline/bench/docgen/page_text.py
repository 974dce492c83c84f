"""A born-digital page of text in several languages and scripts, for the page_text schema.

Each line is laid out with its font's own metrics, so the truth knows every line's box without
reading the PDF back: from the left edge of its first character to the end of its advance (the
glyph widths the PDF states), and from the font's ascender above the baseline to its descender
below.
"""

from __future__ import annotations

import random
from typing import Any

from pipeline.bench.docgen.common import GeneratedDocument
from schemas.page_text import on_grid

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0  # A4 in points

# (script, lines), all drawn in MuPDF's built-in CJK font (Droid Sans Fallback), which has
# Latin, Cyrillic and Greek letters too, embedded as a subset.
_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Latin", (
        "Delivery note 2024-0117 / Lieferschein",
        "Größe: 12 Stück, Preis à 3,50 EUR",
        "Référence client : FR-88231, échéance 30 jours",
        "Total due: 1,284.90 EUR",
    )),
    ("Han", (
        "发票号码 12345678 合计 人民币壹仟贰佰元整",
        "統一發票 營業稅 新臺幣",
        "收货地址：上海市浦东新区世纪大道100号",
    )),
    ("Kana", ("請求書 ご利用金額 カタカナ ひらがな", "お支払期限 2024年5月31日")),
    ("Hangul", ("세금계산서 합계 금액", "공급받는자 등록번호 123-45-67890")),
    ("Cyrillic", ("Счёт № 17 от 5 мая", "Итого к оплате: 12 400,00 руб.")),
    ("Greek", ("Τιμολόγιο αριθ. 42", "Σύνολο: 310,00 EUR")),
)  # fmt: skip

SCRIPTS = tuple(script for script, _lines in _LINES)
"""The scripts the page is written in."""


def make_mixed_language_page(rng: random.Random, name: str) -> GeneratedDocument:
    """One A4 page: two to three lines of each script, shuffled, each at its own baseline and
    indent and in its own size; the truth is every line with its box, top to bottom."""
    import pymupdf

    font = pymupdf.Font("cjk")
    chosen = [
        text
        for _script, texts in _LINES
        for text in rng.sample(texts, min(len(texts), rng.choice((2, 3))))
    ]
    rng.shuffle(chosen)
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_WIDTH, height=PAGE_HEIGHT)
    writer = pymupdf.TextWriter(page.rect)
    truth_lines = []
    baseline = 72.0
    for text in chosen:
        size = float(rng.choice((10, 11, 12, 14)))
        left = float(rng.choice((56, 56, 72, 96)))
        writer.append((left, baseline), text, font=font, fontsize=size)
        box = (
            left / PAGE_WIDTH,
            (baseline - font.ascender * size) / PAGE_HEIGHT,
            (left + advance(font, text, size)) / PAGE_WIDTH,
            (baseline - font.descender * size) / PAGE_HEIGHT,
        )
        truth_lines.append({"text": text, "bbox_2d": on_grid(box)})
        baseline += size * 2.2
    writer.write_text(page)
    doc.subset_fonts()
    # Fixed metadata and no fresh file id: the same seed gives the same bytes.
    doc.set_metadata({"producer": "docextract docgen", "creator": "docextract docgen"})
    content = doc.tobytes(garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return GeneratedDocument(name, "page_text", content, ".pdf", {"lines": truth_lines})


def advance(font: Any, text: str, size: float) -> float:
    """How far `text` reaches at `size`, as the PDF states it: each glyph's width cut to whole
    thousandths of the font size (the font's /W or /Widths), added up."""
    thousandths = sum(int(font.glyph_advance(ord(char)) * 1000) for char in text)
    return thousandths * size / 1000

