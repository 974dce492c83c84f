"""ZUGFeRD 1.0 (BASIC, COMFORT, EXTENDED) to invoice schema fields.

ZUGFeRD 1.0 is Cross Industry Invoice before EN 16931: root `CrossIndustryDocument` in the
namespace `urn:ferd:CrossIndustryDocument:invoice:1p0`, guideline IDs such as
`urn:ferd:CrossIndustryDocument:invoice:1p0:comfort`. Its values sit where ZUGFeRD 2 puts them,
under older names (HeaderExchangedDocument, ApplicableSupplyChainTradeSettlement,
SpecifiedTradeSettlementMonetarySummation, a line's SpecifiedSupplyChainTradeSettlement, the rate
as ApplicablePercent), so `einvoice_cii.read_cii` reads it with its `FERD1_LAYOUT` and the
same choices hold. BASIC lines carry no price and no tax rate, and give none; text lines (a note
between the lines, no product, no amount) are no line items. ChargeTotalAmount includes the
logistics service charges (shipping), as the totals rule needs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pipeline.inputs.einvoice_cii import FERD1_LAYOUT, cii_specification, read_cii

FERD1_NAMESPACE = "urn:ferd:CrossIndustryDocument:invoice:1p0"
FERD1_ROOT = "CrossIndustryDocument"


def ferd1_specification(root: ET.Element) -> str | None:
    """The guideline ID that names the ZUGFeRD 1.0 profile."""
    return cii_specification(root, FERD1_LAYOUT)


def read_ferd1(root: ET.Element) -> dict[str, Any]:
    """The invoice schema's fields from a ZUGFeRD 1.0 root, amounts as Decimal."""
    return read_cii(root, FERD1_LAYOUT)
