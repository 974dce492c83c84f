"""Synthetic invoices and credit notes in several layouts and languages.

`make_invoice` draws the document with PyMuPDF and returns it with its truth in the field names of
the `invoice` schema. Line items that do not fit on a page continue on the next one; the totals
block is always on the last page. All sums are computed in Decimal and rounded half-up per tax
rate, so the truth satisfies the invoice business rules.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from pipeline.bench.docgen.canvas import GREY, LIGHT, Canvas
from pipeline.bench.docgen.common import (
    PRODUCTS,
    GeneratedDocument,
    amount_str,
    format_date,
    format_number,
    format_quantity,
    group_iban,
    make_iban,
    make_vat_id,
    money,
    pick_company,
    random_date,
)
from pipeline.bench.docgen.invoice_words import CURRENCY, LABELS, RATES

LAYOUTS = ("classic", "band", "compact")
LANGUAGES = ("en", "de", "fr", "zh")

# Table columns: key, left x, right x, alignment.
COLUMNS = (
    ("desc", 50, 270, "left"),
    ("qty", 270, 320, "right"),
    ("unit", 328, 370, "left"),
    ("price", 370, 440, "right"),
    ("vat", 440, 480, "right"),
    ("amount", 480, 545, "right"),
)


# The invoice field each table column prints.
CELL_FIELDS = {
    "desc": "description",
    "qty": "quantity",
    "unit": "unit",
    "price": "unit_price",
    "vat": "tax_rate",
    "amount": "line_total",
}


def _line_items(rng: random.Random, lang: str, count: int) -> list[dict[str, Any]]:
    rates = RATES[lang]
    products = rng.sample(PRODUCTS[lang], k=min(count, len(PRODUCTS[lang])))
    while len(products) < count:
        products.append(rng.choice(PRODUCTS[lang]))
    lines = []
    for index, (name, unit, price) in enumerate(products):
        qty = (
            Decimal(rng.choice([1, 1, 2, 3, 4, 5, 10, 12]))
            if unit not in ("h", "Std")
            else Decimal(rng.choice(["1.5", "2", "4", "7.5", "8"]))
        )
        unit_price = money(Decimal(price) * Decimal(rng.choice(["1", "1", "0.9", "1.1"])))
        rate = rates[0] if rng.random() < 0.75 else rates[1]
        suffix = f" #{index + 1}" if count > len(PRODUCTS[lang]) else ""
        lines.append(
            {
                "description": name + suffix,
                "quantity": qty,
                "unit": unit,
                "unit_price": unit_price,
                "line_total": money(qty * unit_price),
                "tax_rate": rate,
            }
        )
    return lines


def make_invoice(
    rng: random.Random,
    name: str,
    lang: str = "en",
    layout: str = "classic",
    lines: int = 4,
    credit_note: bool = False,
    prepaid: bool = False,
) -> GeneratedDocument:
    """Draw one invoice (or credit note) and return it with its truth."""
    labels = LABELS[lang]
    currency, symbol = CURRENCY[lang]
    seller = pick_company(rng, lang)
    buyer = pick_company(rng, lang, exclude=seller["name"])
    seller_vat = (
        make_vat_id(rng, seller["country"])
        if seller["country"] != "CN"
        else "91" + "".join(rng.choice("0123456789") for _ in range(15)) + rng.choice("ABCDEFG")
    )
    buyer_vat = make_vat_id(rng, buyer["country"]) if rng.random() < 0.6 and lang != "zh" else None
    iban = make_iban(rng, seller["country"]) if lang != "zh" else None
    issue = random_date(rng)
    days = rng.choice([14, 30, 45])
    due = issue + dt.timedelta(days=days)
    prefix = {"en": "INV", "de": "RE", "fr": "FA", "zh": "NO"}[lang]
    number = f"{'CN' if credit_note else prefix}-{issue.year}-{rng.randrange(1000, 99999):05d}"
    items = _line_items(rng, lang, lines)

    net = sum((i["line_total"] for i in items), Decimal(0))
    by_rate: dict[Decimal, Decimal] = {}
    for item in items:
        by_rate[item["tax_rate"]] = by_rate.get(item["tax_rate"], Decimal(0)) + item["line_total"]
    taxes = {rate: money(base * rate / 100) for rate, base in sorted(by_rate.items(), reverse=True)}
    tax = sum(taxes.values(), Decimal(0))
    grand = net + tax
    paid = money(grand * Decimal("0.3")) if prepaid else Decimal(0)
    terms = labels["terms"].format(days=days)

    canvas = Canvas(595, 842)
    pages = _draw(
        canvas,
        rng,
        lang,
        layout,
        labels,
        symbol,
        seller,
        buyer,
        seller_vat,
        buyer_vat,
        iban,
        number,
        issue,
        due,
        items,
        net,
        taxes,
        grand,
        paid,
        terms,
        credit_note,
    )
    truth = {
        "invoice_number": number,
        "kind": "credit_note" if credit_note else "invoice",
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "seller": {
            "name": seller["name"],
            "address": f"{seller['street']}, {seller['city']}",
            "vat_id": seller_vat if lang != "zh" else None,
            "tax_id": seller_vat if lang == "zh" else None,
            "iban": iban,
        },
        "buyer": {
            "name": buyer["name"],
            "address": f"{buyer['street']}, {buyer['city']}",
            "vat_id": buyer_vat,
            "tax_id": None,
            "iban": None,
        },
        "currency": currency,
        "line_items": [
            {
                "description": i["description"],
                "quantity": str(i["quantity"]),
                "unit": i["unit"],
                "unit_price": amount_str(i["unit_price"]),
                "line_total": amount_str(i["line_total"]),
                "tax_rate": str(i["tax_rate"]),
            }
            for i in items
        ],
        "net_total": amount_str(net),
        "tax_total": amount_str(tax),
        "grand_total": amount_str(grand),
        "amount_due": amount_str(grand - paid),
        "payment_terms": terms,
    }
    return GeneratedDocument(name, "invoice", canvas.finish(), ".pdf", truth, pages, canvas.boxes())


def _draw(
    canvas: Canvas,
    rng: random.Random,
    lang: str,
    layout: str,
    labels: dict[str, str],
    symbol: str,
    seller: dict[str, str],
    buyer: dict[str, str],
    seller_vat: str,
    buyer_vat: str | None,
    iban: str | None,
    number: str,
    issue: dt.date,
    due: dt.date,
    items: list[dict[str, Any]],
    net: Decimal,
    taxes: dict[Decimal, Decimal],
    grand: Decimal,
    paid: Decimal,
    terms: str,
    credit_note: bool,
) -> int:
    font = "cour" if layout == "compact" else "helv"
    bold = "cobo" if layout == "compact" else "hebo"
    num = lambda v: format_number(v, lang)  # noqa: E731
    rows_first, rows_next = 16, 34
    pages = 1 if len(items) <= rows_first else 2 + max(0, len(items) - rows_first - 1) // rows_next

    def header() -> float:
        title = labels["credit_note" if credit_note else "invoice"]
        if layout == "band":
            canvas.box(0, 0, 595, 70, fill=(0.16, 0.27, 0.45), color=None)
            canvas.text(50, 44, seller["name"], 16, bold, color=(1, 1, 1), field="seller.name")
            canvas.text(545, 44, title, 18, bold, "right", color=(1, 1, 1))
            top = 100
        else:
            canvas.text(50, 60, seller["name"], 15, bold, field="seller.name")
            canvas.text(545, 60, title, 20 if layout == "classic" else 14, bold, "right")
            top = 80
        canvas.text(50, top, seller["street"], 9, font, field="seller.address")
        canvas.text(50, top + 12, seller["city"], 9, font, field="seller.address")
        vat_field = "seller.tax_id" if lang == "zh" else "seller.vat_id"
        line = f"{labels['vat_id']}: {seller_vat}"
        canvas.text(50, top + 24, line, 9, font, field=vat_field, part=seller_vat)
        return top

    top = header()
    canvas.text(50, top + 60, labels["to"], 8, font, color=GREY)
    canvas.text(50, top + 74, buyer["name"], 10, bold, field="buyer.name")
    canvas.text(50, top + 86, buyer["street"], 9, font, field="buyer.address")
    canvas.text(50, top + 98, buyer["city"], 9, font, field="buyer.address")
    if buyer_vat:
        line = f"{labels['vat_id']}: {buyer_vat}"
        canvas.text(50, top + 110, line, 9, font, field="buyer.vat_id", part=buyer_vat)
    meta = [
        (labels["number"], number, "invoice_number"),
        (labels["date"], format_date(issue, lang), "issue_date"),
        (labels["due"], format_date(due, lang), "due_date"),
    ]
    for k, (label, value, path) in enumerate(meta):
        y = top + 74 + 13 * k
        canvas.text(400, y, label, 9, font, color=GREY)
        canvas.text(545, y, value, 9, bold, "right", field=path)

    def table_head(y: float) -> float:
        if layout == "band":
            canvas.box(45, y - 11, 550, y + 4, fill=LIGHT, color=None)
        for key, x0, x1, align in COLUMNS:
            canvas.text(x1 if align == "right" else x0, y, labels[key], 8.5, bold, align)
        canvas.line(45, y + 5, 550, y + 5, 0.8)
        return y + 19

    y = table_head(top + 140)
    page = 1
    for index, item in enumerate(items):
        capacity = rows_first if page == 1 else rows_next
        first_on_page = 0 if page == 1 else rows_first + (page - 2) * rows_next
        if index - first_on_page >= capacity:
            canvas.text(545, y + 6, labels["cont"], 8, font, "right", GREY)
            canvas.text(297, 815, labels["page"].format(i=page, n=pages), 8, font, "center", GREY)
            canvas.new_page()
            page += 1
            canvas.text(50, 50, f"{labels['number']} {number}", 9, font, color=GREY)
            y = table_head(80)
        cells = {
            "desc": item["description"],
            "qty": format_quantity(item["quantity"], lang),
            "unit": item["unit"],
            "price": num(item["unit_price"]),
            "vat": f"{item['tax_rate']}%",
            "amount": num(item["line_total"]),
        }
        if layout == "band" and index % 2:
            canvas.box(45, y - 10, 550, y + 4, fill=(0.96, 0.97, 0.99), color=None)
        for key, x0, x1, align in COLUMNS:
            path = f"line_items[{index}].{CELL_FIELDS[key]}"
            canvas.text(x1 if align == "right" else x0, y, cells[key], 9, font, align, field=path)
        if layout == "classic":
            canvas.line(45, y + 5, 550, y + 5, 0.2, GREY)
        y += 18

    y += 10
    canvas.line(330, y - 8, 550, y - 8, 0.8)
    tax_field: tuple[str, ...] = ("tax_total",) if len(taxes) == 1 else ()
    totals: list[tuple[str, str, tuple[str, ...]]] = [(labels["net"], num(net), ("net_total",))]
    totals += [
        (labels["tax"].format(rate=rate), num(amount), tax_field) for rate, amount in taxes.items()
    ]
    grand_fields = ("grand_total",) if paid else ("grand_total", "amount_due")
    totals.append((labels["grand"], f"{num(grand)} {symbol}", grand_fields))
    if paid:
        totals += [
            (labels["paid"], num(paid), ()),
            (labels["due_amt"], f"{num(grand - paid)} {symbol}", ("amount_due",)),
        ]
    for label, value, fields in totals:
        strong = label in (labels["grand"], labels["due_amt"])
        canvas.text(340, y + 6, label, 9.5, bold if strong else font)
        canvas.text(545, y + 6, value, 9.5, bold if strong else font, "right", field=fields)
        y += 15
    y += 20
    canvas.text(50, y, terms, 9, font, field="payment_terms")
    if iban:
        line = f"{labels['iban']}: {group_iban(iban)}"
        canvas.text(50, y + 14, line, 9, font, field="seller.iban", part=group_iban(iban))
    if pages > 1:
        canvas.text(297, 815, labels["page"].format(i=page, n=pages), 8, font, "center", GREY)
    if rng.random() < 0.5:
        canvas.line(50, 790, 545, 790, 0.3, GREY)
        canvas.text(
            297,
            802,
            f"{seller['name']} · {seller['street']} · {seller['city']}",
            7,
            font,
            "center",
            GREY,
        )
    return page
