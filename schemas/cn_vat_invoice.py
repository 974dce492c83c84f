"""Chinese VAT invoices (增值税发票): special and ordinary, paper or electronic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from schemas.rules import RuleFinding, differs, error, words_mismatch
from schemas.types import Code, DocDate, Money, OptCode, OptMoney, OptText, Text

# Patterns rather than validator functions: they also reach the engine schema, where they keep
# the model from writing spaces or letters into the codes. They are given on the field itself:
# Pydantic leaves a pattern nested in an Annotated type after a BeforeValidator out of the
# JSON schema.
INVOICE_CODE = r"^(\d{10}|\d{12})$"
INVOICE_NUMBER = r"^(\d{8}|\d{20})$"
TAX_ID = r"^[0-9A-Z]{15,20}$"


class CnVatItem(BaseModel):
    """One line of goods or services (货物或应税劳务、服务名称)."""

    name: Text = Field(
        description="货物或应税劳务、服务名称 (item name), e.g. *信息技术服务*软件服务费"
    )
    specification: OptText = Field(None, description="规格型号 (specification / model)")
    unit: OptText = Field(None, description="单位 (unit)")
    quantity: OptMoney = Field(None, description="数量 (quantity)")
    unit_price: OptMoney = Field(None, description="单价 (unit price, excluding tax)")
    amount: Money = Field(description="金额 (amount, excluding tax)")
    tax_rate: OptMoney = Field(None, description="税率 (tax rate in percent, 13 for 13%)")
    tax_amount: OptMoney = Field(None, description="税额 (tax amount)")


class CnVatInvoice(BaseModel):
    """A Chinese VAT invoice (增值税专用发票 / 增值税普通发票 / 电子发票)."""

    prompt_notes: ClassVar[tuple[str, ...]] = (
        "invoice_code is 发票代码 (10 or 12 digits; fully digital invoices have none: use the "
        "first 12 digits of the 20-digit 发票号码); invoice_number is 发票号码.",
        "total_with_tax_in_words is the 价税合计（大写） text, copied exactly, "
        "e.g. 壹仟贰佰叁拾肆元伍角陆分.",
        "Tax rates are percentages: 13% -> 13.",
    )
    # A valid invoice (its rules hold): the null engine's dry-run answer, and documentation.
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "invoice_code": "144031900111", "invoice_number": "12345678",
        "issue_date": "2024-03-04", "check_code": None,
        "buyer_name": "北京示例科技有限公司", "buyer_tax_id": "91110105MA01ABCD2X",
        "seller_name": "上海样本软件有限公司", "seller_tax_id": "91310115MA1KXYZW3Q",
        "items": [{
            "name": "*信息技术服务*软件服务费", "specification": None, "unit": "项",
            "quantity": 1, "unit_price": 1000, "amount": 1000, "tax_rate": 13,
            "tax_amount": 130,
        }],
        "total_amount": 1000, "total_tax": 130, "total_with_tax": 1130,
        "total_with_tax_in_words": "壹仟壹佰叁拾元整",
    }]})  # fmt: skip

    invoice_code: Code = Field(
        pattern=INVOICE_CODE, description="发票代码 (invoice code, 10 or 12 digits)"
    )
    invoice_number: Code = Field(
        pattern=INVOICE_NUMBER, description="发票号码 (invoice number, 8 or 20 digits)"
    )
    issue_date: DocDate = Field(description="开票日期 (issue date)")
    check_code: OptCode = Field(None, description="校验码 (check code), if printed")
    buyer_name: Text = Field(description="购买方名称 (buyer name)")
    buyer_tax_id: Code = Field(
        pattern=TAX_ID, description="购买方纳税人识别号 (buyer taxpayer id, 15-20 characters)"
    )
    seller_name: Text = Field(description="销售方名称 (seller name)")
    seller_tax_id: Code = Field(
        pattern=TAX_ID, description="销售方纳税人识别号 (seller taxpayer id, 15-20 characters)"
    )
    items: list[CnVatItem] = Field(
        default_factory=list, description="货物或应税劳务明细 (line items)"
    )
    total_amount: Money = Field(description="合计金额 (total amount excluding tax)")
    total_tax: Money = Field(description="合计税额 (total tax)")
    total_with_tax: Money = Field(description="价税合计（小写） (total including tax, in figures)")
    total_with_tax_in_words: Text = Field(
        description="价税合计（大写） (total including tax, in Chinese capital numerals)"
    )

    def check_rules(self) -> list[RuleFinding]:
        """The amount in words equals the figures; amount plus tax equals the total."""
        findings: list[RuleFinding] = []
        words = words_mismatch(
            "cn_vat_invoice.words_mismatch",
            self.total_with_tax_in_words,
            self.total_with_tax,
            "total_with_tax",
        )
        if words is not None:
            findings.append(words)
        if differs(self.total_amount + self.total_tax, self.total_with_tax, "0.01"):
            findings.append(error(
                "cn_vat_invoice.total_mismatch",
                f"total_amount {self.total_amount} + total_tax {self.total_tax} != "
                f"total_with_tax {self.total_with_tax}",
            ))  # fmt: skip
        return findings
