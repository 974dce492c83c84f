"""Synthetic Chinese real-property certificates (不动产权证书, two pages) with their truth."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from pipeline.bench.docgen.canvas import GREY, Canvas
from pipeline.bench.docgen.common import GeneratedDocument, amount_str, format_date, money
from pipeline.bench.docgen.common import random_date as random_day

# (abbreviation, district, its county-level division code, registration authority)
DISTRICTS = [
    ("京", "朝阳区", "110105", "北京市规划和自然资源委员会"),
    ("沪", "浦东新区", "310115", "上海市浦东新区规划和自然资源局"),
    ("粤", "天河区", "440106", "广州市规划和自然资源局"),
    ("川", "武侯区", "510107", "成都市武侯区不动产登记中心"),
]
HOLDERS = ["张示例", "李样本", "王演示", "赵测试", "陈虚构"]
STREETS = ["示例路", "样本街", "演示大道", "虚构巷"]
RED = (0.7, 0.15, 0.12)
BROWN = (0.45, 0.3, 0.15)
PREAMBLE = [
    "根据《中华人民共和国民法典》等法律法规，",
    "为保护不动产权利人合法权益，对不动产权利人",
    "申请登记的本证所列不动产权利，经审查核实，",
    "准予登记，颁发此证。",
]


def make_property_certificate(rng: random.Random, name: str) -> GeneratedDocument:
    """The two inner pages of a 不动产权证书: the registration authority's page (preamble, seal,
    date), then the rights page (number, holders, location, 28-character unit number, areas,
    term of use). Names and streets are invented; the unit number is well formed."""
    abbr, district, region, authority = rng.choice(DISTRICTS)
    issued = random_day(rng)
    number = f"{abbr}({issued.year}){district}不动产权第{rng.randrange(1, 200000):07d}号"
    holders = rng.sample(HOLDERS, k=rng.choice((1, 2)))
    sharing = "单独所有" if len(holders) == 1 else rng.choice(["共同共有", "按份共有"])
    building, floor, flat = rng.randrange(1, 30), rng.randrange(2, 18), rng.randrange(1, 4)
    location = (
        f"{district}{rng.choice(STREETS)}{rng.randrange(1, 300)}号院{building}号楼"
        f"{floor}层{floor}0{flat}"
    )
    unit = (
        f"{region}{rng.randrange(1, 20):03d}{rng.randrange(1, 20):03d}GB"
        f"{rng.randrange(1, 10000):05d}F{building:04d}{floor * 100 + flat:04d}"
    )
    land = money(Decimal(rng.randrange(200000, 2000000)) / 100)
    own = money(Decimal(rng.randrange(4500, 16000)) / 100)
    shared = money(own * Decimal(rng.randrange(8, 20)) / 100)
    start = dt.date(rng.randrange(1995, 2016), rng.randrange(1, 13), 1)
    end = start.replace(year=start.year + 70) - dt.timedelta(days=1)

    c = Canvas(420, 595)
    c.box(14, 14, 406, 581, color=BROWN, width=1.2)
    c.text(210, 70, "中华人民共和国", 12, align="center", color=BROWN)
    c.text(210, 96, "不动产权证书", 20, align="center", color=BROWN)
    for k, line in enumerate(PREAMBLE):
        c.text(60, 170 + 24 * k, line, 10.5)
    c.text(250, 330, "登记机构（章）", 10.5)
    c.page.draw_circle((300, 360), 46, color=RED, width=1.6)
    c.text(300, 350, "★", 14, align="center", color=RED)
    size = 6.5 if len(authority) > 12 else 7.5
    c.text(300, 378, authority, size, align="center", color=RED, field="registration_authority")
    c.text(240, 430, format_date(issued, "zh"), 10.5, field="issue_date")
    c.text(210, 520, "中华人民共和国自然资源部监制", 8, align="center", color=GREY)
    c.text(
        210, 540, f"编号 NO {region[:2]}{rng.randrange(10**9):09d}", 8, align="center", color=RED
    )
    c.text(360, 560, "样本 SPECIMEN", 8, align="center", color=RED)

    c.new_page()
    c.box(14, 14, 406, 581, color=BROWN, width=1.2)
    c.text(210, 50, number, 11, align="center", field="certificate_number")
    area = f"共有宗地面积{land:.2f}㎡/房屋建筑面积{own + shared:.2f}㎡"
    other = [
        f"专有建筑面积：{own:.2f}㎡，分摊建筑面积：{shared:.2f}㎡",
        "房屋结构：钢筋混凝土结构",
        f"房屋总层数：{floor + rng.randrange(1, 12)}层，所在层：{floor}层",
    ]
    term = {"term_start": format_date(start, "zh"), "term_end": format_date(end, "zh")}
    kind, nature, use = "国有建设用地使用权/房屋所有权", "出让/商品房", "城镇住宅用地/住宅"
    holder_fields = {f"right_holders[{k}]": holder for k, holder in enumerate(holders)}
    rows: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("权  利  人", ["、".join(holders)], holder_fields),
        ("共有情况", [sharing], {"co_ownership": sharing}),
        ("坐    落", [location], {"location": location}),
        ("不动产单元号", [unit], {"unit_number": unit}),
        ("权利类型", [kind], {"right_type": kind}),
        ("权利性质", [nature], {"right_nature": nature}),
        ("用    途", [use], {"use": use}),
        ("面    积", [area], {"land_area": f"{land:.2f}", "building_area": f"{own + shared:.2f}"}),
        ("使用期限", [f"国有建设用地使用权 {term['term_start']}起{term['term_end']}止"], term),
        ("权利其他状况", other, None),
    ]  # fmt: skip
    y = 70.0
    for label, lines, fields in rows:
        height = 30 + 16 * (len(lines) - 1)
        c.box(30, y, 390, y + height, color=BROWN)
        c.line(110, y, 110, y + height, 0.6, BROWN)
        c.text(70, y + 19, label, 9, align="center", color=BROWN)
        for k, line in enumerate(lines):
            c.text(118, y + 19 + 16 * k, line, 7.8 if len(line) > 30 else 9, field=fields)
        y += height
    c.text(360, 560, "样本 SPECIMEN", 8, align="center", color=RED)
    truth = {
        "certificate_number": number,
        "right_holders": holders,
        "co_ownership": sharing,
        "location": location,
        "unit_number": unit,
        "right_type": kind,
        "right_nature": nature,
        "use": use,
        "land_area": amount_str(land),
        "building_area": amount_str(own + shared),
        "term_start": start.isoformat(),
        "term_end": end.isoformat(),
        "registration_authority": authority,
        "issue_date": issued.isoformat(),
    }
    return GeneratedDocument(
        name, "property_certificate", c.finish(), ".pdf", truth, 2, c.boxes()
    )
