"""The grounding record: where one leaf value of a document is printed, and how sure that is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Box = tuple[float, float, float, float]


class Source(StrEnum):
    """Where a grounding's box comes from."""

    text_layer = "text_layer"  # the PDF page's own text (PyMuPDF words)
    model_box = "model_box"  # the model's own reading of a page without text (--model-boxes)
    xml = "xml"  # the value is an e-invoice's XML and no page shows it
    none = "none"  # not found: no page, no box


class MatchQuality(StrEnum):
    """How the printed text matched the value.

    exact:      the printed words are the value's text (whitespace collapsed);
    normalised: equal once read: the same number or date however printed ("1.234,56 €",
                "17.06.2024"), or the same characters ignoring case, spaces and punctuation
                (a grouped IBAN, an address over two lines);
    fuzzy:      the value's parts are printed apart (a name or address split over lines that
                are not one run of text), each part found, the box their union;
    none:       not found.
    """

    exact = "exact"
    normalised = "normalised"
    fuzzy = "fuzzy"
    none = "none"


_QUALITY_CONFIDENCE = {
    MatchQuality.exact: 1.0,
    MatchQuality.normalised: 0.9,
    MatchQuality.fuzzy: 0.6,
    MatchQuality.none: 0.0,
}


def match_confidence(
    quality: MatchQuality, rivals: int = 0, decided_by_context: bool = False
) -> float:
    """Confidence in [0, 1] that the box shows the value, from the match alone:

        quality weight (exact 1.0, normalised 0.9, fuzzy 0.6, none 0.0)
        x 1.0   when no other place on the pages matches,
        x 0.8   when others match but the label, the sibling fields or the page decided,
        x 1 / (1 + rivals)  when others match and nothing told them apart.

    `field_confidence` joins the model's own certainty and the business rules to it."""
    base = _QUALITY_CONFIDENCE[quality]
    if rivals <= 0 or base == 0.0:
        return base
    return round(base * (0.8 if decided_by_context else 1.0 / (1 + rivals)), 4)


RULE_WARNING_FACTOR = 0.8
"""What each business-rule warning of a document multiplies its fields' confidence by."""
RULE_WARNINGS_COUNTED = 3
"""Rule warnings past this many lower the confidence no further."""
MODEL_READING_FACTOR = 0.9
"""What a value found in the model's own reading of a page (source model_box) has its agreement
multiplied by: two readings of the page agree, but the text matched is not the page's own."""


def field_confidence(
    quality: MatchQuality,
    rivals: int = 0,
    decided_by_context: bool = False,
    model_probability: float = 1.0,
    rule_warnings: int = 0,
    from_xml: bool = False,
    read_by_model: bool = False,
) -> float:
    """Confidence in [0, 1] that a field's value is right and its box shows it:

        confidence = agreement x model x rules
        agreement  = match_confidence(quality, rivals, decided_by_context): how the printed
                     text layer agrees with the value (0 where the value is not found);
                     x 0.9 where the words are the model's reading of a page without text
                     (`read_by_model`, source model_box)
        model      = the model's probability of the value as it wrote it: that of the value's
                     least sure answer token, exp(min log-probability); 1.0 where the engine
                     gave no log-probabilities (then confidence is the agreement alone)
        rules      = 0.8 ** n, n the document's business-rule warnings (counted up to 3)

    A value read from an e-invoice's XML has confidence 1: the XML is the document.
    A product, so any one doubt is enough to send the field to review; each factor is 1.0
    when it has nothing to say."""
    if from_xml:
        return 1.0
    agreement = match_confidence(quality, rivals, decided_by_context)
    if read_by_model:
        agreement *= MODEL_READING_FACTOR
    model = min(1.0, max(0.0, model_probability))
    rules = RULE_WARNING_FACTOR ** min(max(0, rule_warnings), RULE_WARNINGS_COUNTED)
    return round(agreement * model * rules, 4)


def under_threshold(value: str | None, confidence: float, review_below: float) -> bool:
    """Whether a field is marked for review under `review_below`: its confidence is lower,
    and it has a value (a field without one has nothing printed to check)."""
    return value is not None and confidence < review_below


@dataclass(frozen=True, slots=True)
class FieldGrounding:
    """Where one leaf field's value is printed.

    `path` names the field the way the documents table nests it (`line_items[2].line_total`);
    `value` is the value as text; `page` counts from 1; `box` is (x0, y0, x1, y1) in PDF points
    of that page, origin top left; `box_norm` the same divided by the page's width and height.
    Without a box (`source` none or xml) page, box and box_norm are None."""

    path: str
    value: str | None
    source: Source
    quality: MatchQuality
    confidence: float
    page: int | None = None
    box: Box | None = None
    box_norm: Box | None = None

    @classmethod
    def not_found(
        cls, path: str, value: str | None, source: Source = Source.none
    ) -> FieldGrounding:
        confidence = 1.0 if source is Source.xml else 0.0
        return cls(path, value, source, MatchQuality.none, confidence)

    def row(self) -> dict[str, Any]:
        """The grounding as the columns of one `fields` table row."""
        return {
            "field": self.path,
            "value": self.value,
            "source": str(self.source),
            "match": str(self.quality),
            "confidence": self.confidence,
            "on_page": self.page,
            "x0": None if self.box is None else self.box[0],
            "y0": None if self.box is None else self.box[1],
            "x1": None if self.box is None else self.box[2],
            "y1": None if self.box is None else self.box[3],
            "nx0": None if self.box_norm is None else self.box_norm[0],
            "ny0": None if self.box_norm is None else self.box_norm[1],
            "nx1": None if self.box_norm is None else self.box_norm[2],
            "ny1": None if self.box_norm is None else self.box_norm[3],
        }
