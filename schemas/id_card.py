"""Chinese resident identity cards (居民身份证), front side."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from schemas.rules import RuleFinding, error, id_check_character
from schemas.types import DocDate, Text, compact_code, lenient_enum


class Sex(StrEnum):
    """Sex as printed on the card."""

    male = "male"
    female = "female"


_SEX_SYNONYMS = {
    "男": "male",
    "男性": "male",
    "m": "male",
    "女": "female",
    "女性": "female",
    "f": "female",
}

SexValue = Annotated[Sex, BeforeValidator(lenient_enum(Sex, _SEX_SYNONYMS))]
"""Sex as male or female; 男/女 and m/f are read as those."""


class IdCard(BaseModel):
    """A Chinese resident identity card: holder, birth date, address and the 18-character number."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "sex: 男 -> male, 女 -> female. ethnicity is the 民族 value without 族, e.g. 汉.",
        "id_number is the 公民身份号码, 18 characters; the last may be X.",
    )
    # A valid card (its rules hold): the null engine's dry-run answer, and documentation.
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "张三", "sex": "male", "ethnicity": "汉", "birth_date": "1990-03-07",
        "address": "北京市朝阳区建国路1号", "id_number": "110105199003070017",
    }]})  # fmt: skip

    name: Text = Field(description="姓名 (name)")
    sex: SexValue = Field(description="性别 (sex): male or female")
    ethnicity: Text = Field(description="民族 (ethnicity), e.g. 汉")
    birth_date: DocDate = Field(description="出生 (date of birth)")
    address: Text = Field(description="住址 (address)")
    id_number: Annotated[str, BeforeValidator(compact_code)] = Field(
        pattern=r"^[0-9]{17}[0-9X]$", description="公民身份号码 (citizen ID number, 18 characters)"
    )

    def check_rules(self) -> list[RuleFinding]:
        """Check character, and birth date and sex encoded in the number match the card."""
        findings: list[RuleFinding] = []
        expected = id_check_character(self.id_number[:17])
        if self.id_number[17] != expected:
            findings.append(error(
                "id_card.check_digit",
                f"check character is {self.id_number[17]}, the first 17 digits give {expected}",
            ))  # fmt: skip
        encoded = self.id_number[6:14]
        if encoded != self.birth_date.strftime("%Y%m%d"):
            findings.append(error(
                "id_card.birth_date_mismatch",
                f"number encodes birth date {encoded}, card says {self.birth_date.isoformat()}",
            ))  # fmt: skip
        encoded_sex = Sex.male if int(self.id_number[16]) % 2 else Sex.female
        if encoded_sex is not self.sex:
            findings.append(error(
                "id_card.sex_mismatch",
                f"number encodes {encoded_sex.value}, card says {self.sex.value}",
            ))  # fmt: skip
        return findings
