"""Synthetic Chinese medical invoices (医疗收费电子票据) with their truth."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from pipeline.bench.docgen.canvas import Canvas
from pipeline.bench.docgen.common import (
    GeneratedDocument,
    amount_str,
    format_date,
    money,
    random_date,
)
from schemas.rules import cn_amount_in_words, id_check_character

# Charge categories with the range of their amounts in yuan.
CATEGORIES = [
    ("西药费", 20, 400),
    ("中成药费", 15, 260),
    ("中草药费", 30, 300),
    ("检查费", 40, 600),
    ("治疗费", 10, 300),
    ("化验费", 20, 350),
    ("材料费", 5, 120),
    ("诊察费", 5, 50),
]
INSURANCE_TYPES = ["城镇职工基本医疗保险", "城乡居民基本医疗保险"]
PATIENTS = [("王演示", "female"), ("张示例", "male"), ("李样本", "female"), ("赵测试", "male")]
HOSPITALS = ["示例市第一人民医院", "样本县中医医院", "演示大学附属医院"]
RED = (0.62, 0.12, 0.1)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _split_payment(rng: random.Random, total: Decimal) -> dict[str, Decimal]:
    """Fund, personal account and cash that add up to `total`; co-pay and self-pay that add up
    to what the patient paid (account plus cash)."""
    fund = money(total * Decimal(rng.randrange(45, 75)) / 100)
    account = money((total - fund) * Decimal(rng.randrange(0, 90)) / 100)
    cash = total - fund - account
    self_pay = money((account + cash) * Decimal(rng.randrange(0, 40)) / 100)
    return {
        "fund_payment": fund,
        "personal_account_payment": account,
        "cash_payment": cash,
        "copay": account + cash - self_pay,
        "self_pay": self_pay,
    }


def make_medical_invoice(rng: random.Random, name: str) -> GeneratedDocument:
    """A 医疗门诊 (or 住院) 收费电子票据 on a 210x140 mm page: items sum to the total, the fund,
    personal account and cash add up to it, and 大写 matches the figures. The invoice code and
    the insurance number use the placeholder region 99 (no real region has it)."""
    inpatient = rng.random() < 0.3
    code, number = "99" + _digits(rng, 6), _digits(rng, 10)
    check = "".join(rng.choice("0123456789abcdef") for _ in range(6))
    day = random_date(rng)
    hospital = rng.choice(HOSPITALS)
    patient, sex = rng.choice(PATIENTS)
    insurance = rng.choice(INSURANCE_TYPES)
    seq = rng.randrange(0, 50) * 2 + (1 if sex == "male" else 0)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
    first17 = f"990101{birth:%Y%m%d}{rng.randrange(10)}{seq:02d}"
    insurance_number = first17 + id_check_character(first17)
    items = [
        (category, money(Decimal(rng.randrange(low * 100, high * 100)) / 100))
        for category, low, high in rng.sample(CATEGORIES, k=rng.randrange(3, 7))
    ]
    total = sum((amount for _, amount in items), Decimal(0))
    payments = _split_payment(rng, total)
    words = cn_amount_in_words(total)

    c = Canvas(595, 397)
    kind = "住院" if inpatient else "门诊"
    c.text(297, 36, f"示例省医疗{kind}收费电子票据", 16, align="center", color=RED)
    c.line(200, 44, 395, 44, 1, RED)
    c.text(30, 64, "票据代码：", 8, color=RED)
    c.text(78, 64, code, 8.5, field="invoice_code")
    for k, (label, value, path) in enumerate(
        [
            ("票据号码：", number, "invoice_number"),
            ("校 验 码：", check, "check_code"),
            ("开票日期：", format_date(day, "zh"), "issue_date"),
        ]
    ):
        c.text(410, 64 + 14 * k, label, 8, color=RED)
        c.text(458, 64 + 14 * k, value, 8.5, field=path)
    c.text(30, 92, "交款人：", 8, color=RED)
    c.text(70, 92, patient, 9, field="patient_name")
    c.text(30, 112, "性别：", 8, color=RED)
    c.text(60, 112, "男" if sex == "male" else "女", 9)
    c.text(110, 112, "医保类型：", 8, color=RED)
    c.text(158, 112, insurance, 8.5, field="insurance_type")
    c.text(330, 112, "个人编号：", 8, color=RED)
    c.text(378, 112, insurance_number, 8.5, field="insurance_number")
    c.box(25, 120, 570, 346, color=RED)
    c.line(297, 120, 297, 262, 0.6, RED)
    for x0 in (30, 302):
        c.text(x0 + 10, 134, "项目名称", 8, color=RED)
        c.text(x0 + 150, 134, "金额（元）", 8, color=RED, align="center")
        c.text(x0 + 230, 134, "备注", 8, color=RED, align="center")
    c.line(25, 140, 570, 140, 0.6, RED)
    for k, (category, amount) in enumerate(items):
        x0, y = (30 if k % 2 == 0 else 302), 156 + 18 * (k // 2)
        c.text(x0 + 10, y, category, 9, field=f"items[{k}].category")
        c.text(x0 + 172, y, f"{amount:.2f}", 9, align="right", field=f"items[{k}].amount")
    c.line(25, 262, 570, 262, 0.6, RED)
    c.text(35, 278, "金额合计（大写）", 8.5, color=RED)
    c.text(110, 278, words, 9.5, field="total_in_words")
    c.text(400, 278, "（小写）", 8.5, color=RED)
    c.text(440, 278, f"¥{total:.2f}", 9.5, field="total")
    c.line(25, 286, 570, 286, 0.6, RED)
    c.text(35, 298, f"业务流水号：{_digits(rng, 12)}", 7.5)
    c.text(200, 298, f"{kind}号：{_digits(rng, 9)}", 7.5)
    c.text(350, 298, f"就诊日期：{format_date(day, 'zh')}", 7.5)
    labels = [
        (35, 312, "医保统筹基金支付", "fund_payment"),
        (215, 312, "个人账户支付", "personal_account_payment"),
        (395, 312, "个人现金支付", "cash_payment"),
        (35, 336, "个人自付", "copay"),
        (215, 336, "个人自费", "self_pay"),
    ]
    for x, y, label, key in labels:
        c.text(x, y, f"{label}：", 8, color=RED)
        c.text(x + 8 * len(label) + 12, y, f"{payments[key]:.2f}", 8.5, field=key)
    c.text(395, 336, "其他支付：", 8, color=RED)
    c.text(439, 336, "0.00", 8.5)
    c.text(35, 372, "收款单位（章）：", 8, color=RED)
    c.text(100, 372, hospital, 9, field="payee_name")
    c.text(330, 372, "复核人：样本", 8, color=RED)
    c.text(460, 372, "收款人：演示", 8, color=RED)
    c.page.draw_oval((150, 340, 250, 390), color=RED, width=1.2)
    truth = {
        "invoice_code": code,
        "invoice_number": number,
        "check_code": check,
        "issue_date": day.isoformat(),
        "visit_type": "inpatient" if inpatient else "outpatient",
        "payee_name": hospital,
        "patient_name": patient,
        "patient_sex": sex,
        "insurance_type": insurance,
        "insurance_number": insurance_number,
        "items": [{"category": k, "amount": amount_str(a)} for k, a in items],
        "total": amount_str(total),
        "total_in_words": words,
        **{key: amount_str(value) for key, value in payments.items()},
    }
    return GeneratedDocument(name, "medical_invoice", c.finish(), ".pdf", truth, 1, c.boxes())
