"""The property certificate schema: printed forms read, and each business rule passing and
failing, the unit number part by part."""

from __future__ import annotations

import typing
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import PropertyCertificate, RuleFinding
from schemas.property_unit import PROVINCE_CODES

UNIT = "110105003001GB00012F00020035"


def good_property_certificate() -> dict[str, typing.Any]:
    """A certificate as a model might read it: full-width brackets, spaced unit number, units."""
    return {
        "certificate_number": "京（2024）朝阳区不动产权第 0001234 号",
        "right_holders": ["张示例", "李样本"],
        "co_ownership": "共同共有",
        "location": "朝阳区示例路1号院2号楼3层301",
        "unit_number": "110105 003001 GB00012 F00020035",
        "right_type": "国有建设用地使用权/房屋所有权",
        "right_nature": "出让/商品房",
        "use": "城镇住宅用地/住宅",
        "land_area": "5230.12㎡",
        "building_area": "89.50 m²",
        "term_start": "2005年01月01日",
        "term_end": "2074年12月31日",
        "registration_authority": "北京市规划和自然资源委员会",
        "issue_date": "2024年03月15日",
    }


def _codes(findings: list[RuleFinding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in findings]


def _rules(**changes: typing.Any) -> list[tuple[str, str]]:
    data = {**good_property_certificate(), **changes}
    return _codes(PropertyCertificate.model_validate(data).check_rules())


def test_a_genuine_certificate_is_read_and_passes() -> None:
    certificate = PropertyCertificate.model_validate(good_property_certificate())
    assert certificate.check_rules() == []
    assert certificate.certificate_number == "京(2024)朝阳区不动产权第0001234号"
    assert certificate.unit_number == UNIT
    assert certificate.land_area == Decimal("5230.12")
    assert certificate.building_area == Decimal("89.50")
    assert certificate.term_end == date(2074, 12, 31)


def test_there_are_34_province_level_codes() -> None:
    assert len(PROVINCE_CODES) == 34
    assert {"11", "44", "65", "71", "81", "82"} <= PROVINCE_CODES
    assert not {"10", "16", "20", "66", "80", "99"} & PROVINCE_CODES


@pytest.mark.parametrize("unit", [UNIT[:-1], UNIT + "1", UNIT[:19]])
def test_a_unit_number_not_28_characters_long(unit: str) -> None:
    assert _rules(unit_number=unit) == [("property_certificate.unit_number_length", "error")]


@pytest.mark.parametrize(
    ("region", "why"),
    [("990105", "opens with 99"), ("100105", "opens with 10"), ("110000", "whole province"),
     ("11A105", "not six digits")],
)  # fmt: skip
def test_a_division_code_that_is_no_county(region: str, why: str) -> None:
    data = {**good_property_certificate(), "unit_number": region + UNIT[6:]}
    findings = PropertyCertificate.model_validate(data).check_rules()
    assert _codes(findings) == [("property_certificate.unit_number_region", "error")]
    assert why in findings[0].message


@pytest.mark.parametrize("region", ["441900", "429004", "650102", "540102"])
def test_real_county_level_codes_pass(region: str) -> None:
    assert _rules(unit_number=region + UNIT[6:]) == []


@pytest.mark.parametrize(
    ("unit", "part"),
    [(UNIT[:6] + "0030A1" + UNIT[12:], "地籍区"),
     (UNIT[:12] + "KB" + UNIT[14:], "宗地特征码"),
     (UNIT[:12] + "GQ" + UNIT[14:], "宗地特征码"),
     (UNIT[:12] + "GC" + UNIT[14:], "collective"),
     (UNIT[:14] + "0001A" + UNIT[19:], "宗地顺序号"),
     (UNIT[:19] + "Z" + UNIT[20:], "定着物特征码"),
     (UNIT[:20] + "0002003X", "定着物单元号"),
     (UNIT[:19] + "W00020035", "00000000")],
)  # fmt: skip
def test_malformed_parts_of_the_unit_number(unit: str, part: str) -> None:
    data = {**good_property_certificate(), "unit_number": unit}
    findings = PropertyCertificate.model_validate(data).check_rules()
    assert _codes(findings) == [("property_certificate.unit_number_parts", "error")]
    assert part in findings[0].message


@pytest.mark.parametrize(
    "unit", [UNIT[:12] + "JC" + UNIT[14:], UNIT[:12] + "GH" + UNIT[14:19] + "W00000000"]
)
def test_other_well_formed_units_pass(unit: str) -> None:
    assert _rules(unit_number=unit) == []


@pytest.mark.parametrize("field", ["land_area", "building_area"])
def test_areas_must_be_positive(field: str) -> None:
    assert _rules(**{field: "0"}) == [("property_certificate.area_not_positive", "error")]
    assert _rules(**{field: "-12.5"}) == [("property_certificate.area_not_positive", "error")]
    assert _rules(**{field: None}) == []


def test_the_term_must_end_after_it_starts() -> None:
    assert _rules(term_end="2004-12-31") == [("property_certificate.term_order", "error")]
    assert _rules(term_end="2005-01-01") == [("property_certificate.term_order", "error")]
    assert _rules(term_start=None) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("certificate_number", "京2024朝阳区不动产权第0001234号"),
     ("certificate_number", "京(2024)朝阳区不动产权第001234号"),
     ("unit_number", "1101-05 003001 GB 0001?"), ("land_area", "5230.12㎡/89.50㎡")],
)  # fmt: skip
def test_malformed_fields_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        PropertyCertificate.model_validate({**good_property_certificate(), field: value})
    assert field in str(info.value)
