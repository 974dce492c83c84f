"""Synthetic receipts, Chinese VAT invoices and bank statements (PDF) with their truth."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from pipeline.bench.docgen.canvas import GREY, Canvas
from pipeline.bench.docgen.common import (
    GeneratedDocument,
    amount_str,
    format_date,
    format_number,
    group_iban,
    make_iban,
    money,
    random_date,
)
from schemas.rules import cn_amount_in_words

RECEIPT_SHOPS = [
    ("Corner Café Example", "3 Sample Square, Exampleton"),
    ("Bäckerei Beispiel", "Musterweg 5, 12345 Musterstadt"),
    ("Epicerie Modèle", "2 rue de l'Essai, 75999 Villeneuve-Exemple"),
]
RECEIPT_ITEMS = [
    ("Flat white", "3.20"),
    ("Croissant", "1.90"),
    ("Sparkling water", "2.10"),
    ("Sandwich ham & cheese", "4.80"),
    ("Apple juice", "2.50"),
    ("Muffin", "2.40"),
    ("Bread roll", "0.45"),
    ("Orange juice 1 l", "2.99"),
]


def make_receipt(rng: random.Random, name: str) -> GeneratedDocument:
    """A till receipt on an 80 mm page; prices include VAT and the items sum to the total."""
    shop, address = rng.choice(RECEIPT_SHOPS)
    lang = "de" if "Musterstadt" in address else "fr" if "Villeneuve" in address else "en"
    currency, symbol = ("GBP", "£") if lang == "en" else ("EUR", "€")
    day = random_date(rng)
    time = dt.time(rng.randrange(7, 20), rng.randrange(60))
    items = []
    for desc, price in rng.sample(RECEIPT_ITEMS, k=rng.randrange(3, 7)):
        qty = Decimal(rng.choice([1, 1, 1, 2, 3]))
        items.append((desc, qty, Decimal(price), money(qty * Decimal(price))))
    total = sum((i[3] for i in items), Decimal(0))
    rate = {"en": Decimal(20), "de": Decimal(7), "fr": Decimal("5.5")}[lang]
    tax = money(total * rate / (100 + rate))
    method = rng.choice(["card", "cash", "mobile"])
    height = 330 + 24 * len(items)
    canvas = Canvas(227, height)
    y = 36.0
    canvas.text(113, y, shop, 11, "hebo", "center", field="merchant_name")
    canvas.text(113, y + 14, address, 7, "helv", "center", field="merchant_address")
    printed_day = format_date(day, "de" if lang != "en" else "fr")
    canvas.text(20, y + 34, printed_day, 8, "cour", field="date")
    canvas.text(207, y + 34, time.strftime("%H:%M"), 8, "cour", "right", field="time")
    canvas.line(20, y + 42, 207, y + 42, 0.4, GREY)
    y += 58
    num = lambda v: format_number(v, lang)  # noqa: E731
    for index, (label, qty, each, line_total) in enumerate(items):
        item = f"items[{index}]"
        canvas.text(20, y, label, 8, "cour", field=f"{item}.description")
        canvas.text(207, y, num(line_total), 8, "cour", "right", field=f"{item}.total")
        if qty != 1:  # quantity and unit price are printed only for more than one
            parts = {f"{item}.quantity": str(qty), f"{item}.unit_price": num(each)}
            canvas.text(28, y + 10, f"{qty} x {num(each)}", 7, "cour", color=GREY, field=parts)
            y += 10
        y += 14
    canvas.line(20, y, 207, y, 0.4, GREY)
    canvas.text(20, y + 16, "TOTAL", 10, "cobo")
    canvas.text(207, y + 16, f"{symbol} {num(total)}", 10, "cobo", "right", field="total")
    canvas.text(20, y + 32, f"incl. VAT {rate}%", 7.5, "cour")
    canvas.text(207, y + 32, num(tax), 7.5, "cour", "right", field="tax")
    paid_with = {"card": "Card payment", "cash": "Cash", "mobile": "Mobile payment"}[method]
    canvas.text(20, y + 48, paid_with, 8, "cour")
    canvas.text(113, y + 76, "Thank you for your visit!", 8, "helv", "center")
    truth = {
        "merchant_name": shop,
        "merchant_address": address,
        "date": day.isoformat(),
        "time": time.strftime("%H:%M:00"),
        "currency": currency,
        "items": [
            {
                "description": d,
                "quantity": str(q),
                "unit_price": amount_str(p),
                "total": amount_str(t),
            }
            for d, q, p, t in items
        ],
        "tax": amount_str(tax),
        "total": amount_str(total),
        "payment_method": method,
    }
    return GeneratedDocument(name, "receipt", canvas.finish(), ".pdf", truth, 1, canvas.boxes())


CN_ITEMS = [
    ("*信息技术服务*软件维护费", "", "项", "3000.00", 6),
    ("*纸制品*复印纸", "A4 70g", "箱", "150.00", 13),
    ("*办公设备*办公椅", "KZ-200", "把", "420.00", 13),
    ("*餐饮服务*餐费", "", "次", "380.00", 6),
]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def make_cn_vat_invoice(rng: random.Random, name: str) -> GeneratedDocument:
    """A 增值税普通发票 in the usual 240x140 mm layout; 大写 matches the figures."""
    code, number, check = "0" + _digits(rng, 11), _digits(rng, 8), _digits(rng, 20)
    day = random_date(rng)
    buyer = ("示例科技有限公司", "91" + _digits(rng, 15) + "X")
    seller = ("样本贸易有限公司", "91" + _digits(rng, 16))
    items = []
    for item_name, spec, unit, price, rate in rng.sample(CN_ITEMS, k=rng.randrange(1, 4)):
        qty = Decimal(rng.randrange(1, 6))
        amount = money(qty * Decimal(price))
        items.append(
            (
                item_name,
                spec,
                unit,
                qty,
                Decimal(price),
                amount,
                Decimal(rate),
                money(amount * rate / 100),
            )
        )
    total = sum((i[5] for i in items), Decimal(0))
    total_tax = sum((i[7] for i in items), Decimal(0))
    words = cn_amount_in_words(total + total_tax)
    c = Canvas(680, 400)
    red = (0.6, 0.15, 0.1)
    c.text(340, 40, "示例省增值税普通发票", 18, align="center", color=red)
    c.line(250, 48, 430, 48, 1, red)
    for k, (label, value, path) in enumerate(
        [
            ("发票代码：", code, "invoice_code"),
            ("发票号码：", number, "invoice_number"),
            ("开票日期：", format_date(day, "zh"), "issue_date"),
            ("校验码：", " ".join(check[i : i + 5] for i in range(0, 20, 5)), "check_code"),
        ]
    ):
        c.text(470, 30 + 13 * k, label, 8, color=red)
        c.text(520, 30 + 13 * k, value, 8, field=path)
    c.box(20, 88, 660, 350, color=red)

    def party(y: float, title: str, who: tuple[str, str], role: str) -> None:
        c.box(20, y, 40, y + 52, color=red)
        for k, char in enumerate(title):
            c.text(30, y + 16 + 13 * k, char, 9, align="center", color=red)
        c.text(46, y + 14, "名        称：", 8, color=red)
        c.text(110, y + 14, who[0], 9, field=f"{role}_name")
        c.text(46, y + 28, "纳税人识别号：", 8, color=red)
        c.text(110, y + 28, who[1], 9, field=f"{role}_tax_id")
        c.text(46, y + 42, "地址、电话：", 8, color=red)
        c.text(110, y + 42, "示例市演示区样本路1号 010-00000000", 8)

    party(88, "购买方", buyer, "buyer")
    c.line(20, 140, 660, 140, 0.8, red)
    cols = [
        ("货物或应税劳务、服务名称", 24, "left"),
        ("规格型号", 190, "left"),
        ("单位", 250, "left"),
        ("数量", 320, "right"),
        ("单价", 400, "right"),
        ("金额", 480, "right"),
        ("税率", 530, "right"),
        ("税额", 650, "right"),
    ]
    for label, x, align in cols:
        c.text(x if align == "left" else x, 154, label, 8, align=align, color=red)
    y = 170
    keys = ("name", "specification", "unit", "quantity", "unit_price", "amount", "tax_rate",
            "tax_amount")  # fmt: skip
    for index, (item_name, spec, unit, qty, each, amount, rate_pc, tax) in enumerate(items):
        cells = [
            item_name,
            spec,
            unit,
            str(qty),
            f"{each:.2f}",
            f"{amount:.2f}",
            f"{rate_pc}%",
            f"{tax:.2f}",
        ]
        for (_, x, align), value, key in zip(cols, cells, keys, strict=True):
            c.text(x, y, value, 8, align=align, field=f"items[{index}].{key}")
        y += 14
    c.text(60, 262, "合        计", 9, color=red)
    c.text(480, 262, f"¥{total:.2f}", 9, align="right", field="total_amount")
    c.text(650, 262, f"¥{total_tax:.2f}", 9, align="right", field="total_tax")
    c.line(20, 270, 660, 270, 0.8, red)
    c.text(30, 286, "价税合计（大写）", 9, color=red)
    c.text(120, 286, words, 10, field="total_with_tax_in_words")
    c.text(470, 286, "（小写）", 9, color=red)
    c.text(510, 286, f"¥{total + total_tax:.2f}", 10, field="total_with_tax")
    c.line(20, 294, 660, 294, 0.8, red)
    party(296, "销售方", seller, "seller")
    c.text(30, 370, "收款人：示例", 8, color=red)
    c.text(200, 370, "复核：样本", 8, color=red)
    c.text(370, 370, "开票人：演示", 8, color=red)
    c.text(540, 370, "销售方：（章）", 8, color=red)
    truth = {
        "invoice_code": code,
        "invoice_number": number,
        "issue_date": day.isoformat(),
        "check_code": check,
        "buyer_name": buyer[0],
        "buyer_tax_id": buyer[1],
        "seller_name": seller[0],
        "seller_tax_id": seller[1],
        "items": [
            {
                "name": n,
                "specification": s or None,
                "unit": u,
                "quantity": str(q),
                "unit_price": f"{p:.2f}",
                "amount": amount_str(a),
                "tax_rate": str(r),
                "tax_amount": amount_str(t),
            }
            for n, s, u, q, p, a, r, t in items
        ],
        "total_amount": amount_str(total),
        "total_tax": amount_str(total_tax),
        "total_with_tax": amount_str(total + total_tax),
        "total_with_tax_in_words": words,
    }
    return GeneratedDocument(name, "cn_vat_invoice", c.finish(), ".pdf", truth, 1, c.boxes())


BANK_ENTRIES = [
    ("Card payment SUPERMARKT BEISPIEL", -1, "12.00", "140.00"),
    ("Direct debit Example Power Ltd", -1, "45.00", "95.00"),
    ("Salary EXAMPLE EMPLOYER", 1, "1800.00", "3200.00"),
    ("Transfer to savings", -1, "100.00", "400.00"),
    ("Standing order rent", -1, "650.00", "950.00"),
    ("Refund Sample Shop", 1, "5.00", "60.00"),
    ("ATM withdrawal", -1, "20.00", "200.00"),
]


def make_bank_statement(rng: random.Random, name: str) -> GeneratedDocument:
    """A one-page monthly statement; opening balance plus the transactions gives the closing one."""
    start = random_date(rng).replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    iban = make_iban(rng, "GB")
    holder = rng.choice(["Alex Example", "Sam Sample", "Jo Placeholder"])
    opening = money(Decimal(rng.randrange(20000, 300000)) / 100)
    rows, balance = [], opening
    days = sorted(rng.sample(range(1, end.day + 1), k=rng.randrange(5, 10)))
    for day in days:
        desc, sign, low, high = rng.choice(BANK_ENTRIES)
        amount = sign * money(Decimal(rng.uniform(float(low), float(high))))
        balance += amount
        rows.append((start.replace(day=day), desc, amount, balance))
    c = Canvas(595, 842)
    c.text(50, 60, "Northwind Example Bank", 16, "hebo", color=(0.1, 0.3, 0.5), field="bank_name")
    c.text(545, 60, "Account statement", 12, "helv", "right")
    c.text(50, 100, holder, 10, "hebo", field="account_holder")
    c.text(50, 113, "14 Sample Street, Exampleton EX1 2AB", 9)
    period = {"period_start": format_date(start, "en"), "period_end": format_date(end, "en")}
    meta: list[tuple[str, str, str | dict[str, str]]] = [
        ("Account number", iban[-8:], "account_number"),
        ("IBAN", group_iban(iban), "iban"),
        ("Period", " - ".join(period.values()), period),
        ("Currency", "GBP", "currency"),
    ]
    for k, (label, value, fields) in enumerate(meta):
        c.text(330, 100 + 13 * k, label, 8.5, color=GREY)
        c.text(545, 100 + 13 * k, value, 8.5, "hebo", "right", field=fields)
    y = 180
    heads = [
        ("Date", 50, "left"),
        ("Description", 120, "left"),
        ("Paid out", 400, "right"),
        ("Paid in", 470, "right"),
        ("Balance", 545, "right"),
    ]
    for label, x, align in heads:
        c.text(x, y, label, 8.5, "hebo", align)
    c.line(45, y + 5, 550, y + 5, 0.8)
    y += 20
    c.text(120, y, "Opening balance", 9, "hebo")
    c.text(545, y, f"{opening:,.2f}", 9, "hebo", "right", field="opening_balance")
    y += 16
    for index, (when, text, amount, bal) in enumerate(rows):
        row = f"transactions[{index}]"
        c.text(50, y, when.strftime("%d %b"), 9, field=f"{row}.date")
        c.text(120, y, text, 9, field=f"{row}.description")
        column = 400 if amount < 0 else 470  # the amount unsigned, its column gives the sign
        c.text(column, y, f"{abs(amount):,.2f}", 9, align="right", field=f"{row}.amount")
        c.text(545, y, f"{bal:,.2f}", 9, align="right", field=f"{row}.balance")
        c.line(45, y + 5, 550, y + 5, 0.2, GREY)
        y += 16
    c.text(120, y + 4, "Closing balance", 9, "hebo")
    c.text(545, y + 4, f"{balance:,.2f}", 9, "hebo", "right", field="closing_balance")
    truth = {
        "account_holder": holder,
        "bank_name": "Northwind Example Bank",
        "account_number": iban[-8:],
        "iban": iban,
        "currency": "GBP",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "opening_balance": amount_str(opening),
        "closing_balance": amount_str(balance),
        "transactions": [
            {
                "date": d.isoformat(),
                "description": s,
                "amount": amount_str(a),
                "balance": amount_str(b),
            }
            for d, s, a, b in rows
        ],
    }
    return GeneratedDocument(name, "bank_statement", c.finish(), ".pdf", truth, 1, c.boxes())
