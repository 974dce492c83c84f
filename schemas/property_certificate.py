"""Chinese real-property certificates (不动产权证书)."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from schemas.property_unit import UNIT_NUMBER_LENGTH, parts_problems, region_problem
from schemas.rules import RuleFinding, error
from schemas.types import Code, DocDate, OptDate, OptText, Text, blank_to_none, parse_money

# On the field itself so that it reaches the engine schema (see cn_vat_invoice).
CERTIFICATE_NUMBER = r"^.+\(\d{4}\).*不动产权第\d{7}号$"


def compact_certificate_number(value: Any) -> Any:
    """京（2024） 朝阳区不动产权第 0001234 号 -> 京(2024)朝阳区不动产权第0001234号."""
    if isinstance(value, str):
        return re.sub(r"\s", "", unicodedata.normalize("NFKC", value))
    return value


def strip_area_unit(value: Any) -> Any:
    """ "89.50㎡", "89.50 m²" or "89.50平方米" -> "89.50"; anything else unchanged."""
    if isinstance(value, str):
        return re.sub(r"(㎡|m²|m2|平方米|平米)\s*$", "", value.strip(), flags=re.IGNORECASE)
    return value


Area = Annotated[Decimal, BeforeValidator(parse_money), BeforeValidator(strip_area_unit)]
OptArea = Annotated[Area | None, BeforeValidator(blank_to_none)]


class PropertyCertificate(BaseModel):
    """A Chinese real-property certificate (不动产权证书): holders, location, the 28-character
    unit number, right type and nature, use, areas, term of use and the issuing authority."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "certificate_number is the 不动产权证书 number, e.g. 京(2024)朝阳区不动产权第0001234号, "
        "with half-width brackets and no spaces.",
        "unit_number is the 不动产单元号, 28 characters without spaces, e.g. "
        "110105003001GB00012F00020035.",
        "right_holders: every 权利人 as printed, one entry each; co_ownership is 共有情况, e.g. "
        "单独所有, 共同共有, 按份共有.",
        "面积 often reads 共有宗地面积 X㎡/房屋建筑面积 Y㎡: land_area is X, building_area is Y, "
        "as numbers in square metres.",
        "term_start and term_end are the 使用期限 dates (…起…止).",
    )
    # A valid certificate (its rules hold): the null engine's dry-run answer, and documentation.
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "certificate_number": "京(2024)朝阳区不动产权第0001234号",
        "right_holders": ["张三", "李四"], "co_ownership": "共同共有",
        "location": "朝阳区示例路1号院2号楼3层301",
        "unit_number": "110105003001GB00012F00020035",
        "right_type": "国有建设用地使用权/房屋所有权", "right_nature": "出让/商品房",
        "use": "城镇住宅用地/住宅", "land_area": 5230.12, "building_area": 89.5,
        "term_start": "2005-01-01", "term_end": "2074-12-31",
        "registration_authority": "北京市规划和自然资源委员会", "issue_date": "2024-03-15",
    }]})  # fmt: skip

    certificate_number: Annotated[str, BeforeValidator(compact_certificate_number)] = Field(
        pattern=CERTIFICATE_NUMBER,
        description="不动产权证书号 (certificate number), e.g. 京(2024)朝阳区不动产权第0001234号",
    )
    right_holders: list[Text] = Field(description="权利人 (right holders, one entry each)")
    co_ownership: OptText = Field(
        None, description="共有情况 (co-ownership), e.g. 单独所有, 共同共有, 按份共有"
    )
    location: Text = Field(description="坐落 (location of the property)")
    unit_number: Code = Field(
        pattern=r"^[0-9A-Z]+$",
        description="不动产单元号 (property unit number, 28 characters)",
    )
    right_type: Text = Field(
        description="权利类型 (right type), e.g. 国有建设用地使用权/房屋所有权"
    )
    right_nature: OptText = Field(None, description="权利性质 (right nature), e.g. 出让/商品房")
    use: Text = Field(description="用途 (use), e.g. 城镇住宅用地/住宅")
    land_area: OptArea = Field(None, description="宗地面积 (land area in m²)")
    building_area: OptArea = Field(None, description="房屋建筑面积 (building area in m²)")
    term_start: OptDate = Field(None, description="使用期限 起 (first day of the term of use)")
    term_end: OptDate = Field(None, description="使用期限 止 (last day of the term of use)")
    registration_authority: Text = Field(description="登记机构 (registration authority)")
    issue_date: DocDate = Field(description="登记/发证日期 (date of registration or issue)")

    def check_rules(self) -> list[RuleFinding]:
        """The unit number has 28 characters, a county-level division code of one of the 34
        provinces and well-formed parts; areas are positive; the term ends after it starts."""
        findings: list[RuleFinding] = []
        number = self.unit_number
        if len(number) != UNIT_NUMBER_LENGTH:
            findings.append(error(
                "property_certificate.unit_number_length",
                f"unit number {number} has {len(number)} characters, not 28",
            ))  # fmt: skip
        else:
            if problem := region_problem(number):
                findings.append(
                    error("property_certificate.unit_number_region", f"{number}: {problem}")
                )
            if problems := parts_problems(number):
                findings.append(error(
                    "property_certificate.unit_number_parts", f"{number}: " + "; ".join(problems)
                ))  # fmt: skip
        for name in ("land_area", "building_area"):
            area = getattr(self, name)
            if area is not None and area <= 0:
                findings.append(
                    error("property_certificate.area_not_positive", f"{name} is {area}")
                )
        if self.term_start and self.term_end and self.term_end <= self.term_start:
            findings.append(error(
                "property_certificate.term_order",
                f"term_end {self.term_end} is not after term_start {self.term_start}",
            ))  # fmt: skip
        return findings
