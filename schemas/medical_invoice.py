"""Chinese medical invoices (医疗收费票据): outpatient or inpatient, paper or electronic."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from schemas.id_card import SexValue
from schemas.rules import RuleFinding, differs, error, total, words_mismatch
from schemas.types import (
    Code,
    DocDate,
    Money,
    OptCode,
    OptMoney,
    OptText,
    Text,
    blank_to_none,
    lenient_enum,
)

# Patterns on the fields themselves, so that they reach the engine schema (see cn_vat_invoice).
INVOICE_CODE = r"^\d{8,12}$"
INVOICE_NUMBER = r"^\d{8,12}$"


class VisitType(StrEnum):
    """Whether the invoice is for outpatient (门诊) or inpatient (住院) care."""

    outpatient = "outpatient"
    inpatient = "inpatient"


_VISIT_SYNONYMS = {
    "门诊": "outpatient",
    "急诊": "outpatient",
    "门急诊": "outpatient",
    "住院": "inpatient",
}


class MedicalItem(BaseModel):
    """One charge category (项目) with its amount."""

    category: Text = Field(description="项目名称 (charge category), e.g. 西药费, 检查费, 化验费")
    amount: Money = Field(description="金额 (amount of the category)")


class MedicalInvoice(BaseModel):
    """A Chinese medical invoice (医疗门诊/住院收费票据): hospital, patient, charges by category,
    the total in figures and words, and how it was paid (fund, personal account, cash)."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "invoice_code is 票据代码, invoice_number 票据号码, check_code 校验码; payee_name is "
        "收款单位 (the hospital).",
        "items: one entry per 项目名称 with its 金额, e.g. 西药费, 中成药费, 检查费, 治疗费, "
        "化验费, 材料费; leave out the 合计 row.",
        "total_in_words is the 合计（大写） text, copied exactly, e.g. 叁佰贰拾元伍角整.",
        "fund_payment is 医保统筹基金支付; personal_account_payment 个人账户支付; cash_payment "
        "个人现金支付; copay 个人自付; self_pay 个人自费. Write 0 where 0.00 is printed, null "
        "where the field is not on the invoice.",
        "visit_type: 门诊 or 急诊 -> outpatient, 住院 -> inpatient; patient_sex: 男 -> male, "
        "女 -> female.",
    )
    # A valid invoice (its rules hold): the null engine's dry-run answer, and documentation.
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "invoice_code": "11060124", "invoice_number": "0012345678", "check_code": "3F4D5C",
        "issue_date": "2024-05-06", "visit_type": "outpatient",
        "payee_name": "示例市第一人民医院", "patient_name": "张三", "patient_sex": "male",
        "insurance_type": "城镇职工基本医疗保险", "insurance_number": "110105199003070017",
        "items": [
            {"category": "西药费", "amount": 120.5}, {"category": "检查费", "amount": 200},
        ],
        "total": 320.5, "total_in_words": "叁佰贰拾元伍角整",
        "fund_payment": 180, "personal_account_payment": 100.5, "cash_payment": 40,
        "copay": 120.5, "self_pay": 20,
    }]})  # fmt: skip

    invoice_code: Code = Field(
        pattern=INVOICE_CODE, description="票据代码 (invoice code, 8 to 12 digits)"
    )
    invoice_number: Code = Field(
        pattern=INVOICE_NUMBER, description="票据号码 (invoice number, 8 to 12 digits)"
    )
    check_code: OptCode = Field(None, description="校验码 (check code), if printed")
    issue_date: DocDate = Field(description="开票日期 (issue date)")
    visit_type: Annotated[
        VisitType | None,
        BeforeValidator(lenient_enum(VisitType, _VISIT_SYNONYMS)),
        BeforeValidator(blank_to_none),
    ] = Field(None, description="门诊 (outpatient) or 住院 (inpatient)")
    payee_name: Text = Field(description="收款单位 (payee: the hospital or clinic)")
    patient_name: Text = Field(description="姓名 / 交款人 (patient name)")
    patient_sex: Annotated[SexValue | None, BeforeValidator(blank_to_none)] = Field(
        None, description="性别 (sex of the patient): male or female"
    )
    insurance_type: OptText = Field(
        None, description="医保类型 (medical-insurance type), e.g. 城镇职工基本医疗保险"
    )
    insurance_number: OptCode = Field(
        None, description="医保编号 / 个人编号 / 社会保障号码 (insurance number)"
    )
    items: list[MedicalItem] = Field(
        default_factory=list, description="收费项目 (charges by category, in printed order)"
    )
    total: Money = Field(description="合计（小写） (total in figures)")
    total_in_words: Text = Field(description="合计（大写） (total in Chinese capital numerals)")
    fund_payment: OptMoney = Field(
        None, description="医保统筹基金支付 (paid by the insurance fund)"
    )
    personal_account_payment: OptMoney = Field(
        None, description="个人账户支付 (paid from the personal insurance account)"
    )
    cash_payment: OptMoney = Field(None, description="个人现金支付 (paid in cash by the patient)")
    copay: OptMoney = Field(None, description="个人自付 (co-payment within the insurance scheme)")
    self_pay: OptMoney = Field(None, description="个人自费 (self-paid, outside the scheme)")

    def check_rules(self) -> list[RuleFinding]:
        """The items sum to the total; fund, personal account and cash add up to the total; the
        total in words equals the total in figures."""
        findings: list[RuleFinding] = []
        if self.items:
            summed = total(item.amount for item in self.items)
            if differs(summed, self.total, "0.01"):
                findings.append(error(
                    "medical_invoice.item_sum_mismatch",
                    f"items sum to {summed}, total is {self.total}",
                ))  # fmt: skip
        parts = (self.fund_payment, self.personal_account_payment, self.cash_payment)
        if any(part is not None for part in parts):
            paid = total(parts)
            if differs(paid, self.total, "0.01"):
                findings.append(error(
                    "medical_invoice.payment_mismatch",
                    f"fund {self.fund_payment} + personal account "
                    f"{self.personal_account_payment} + cash {self.cash_payment} = {paid}, "
                    f"total is {self.total}",
                ))  # fmt: skip
        words = words_mismatch(
            "medical_invoice.words_mismatch", self.total_in_words, self.total, "total"
        )
        if words is not None:
            findings.append(words)
        return findings
