"""Where each extracted value is printed: one `FieldGrounding` per leaf field of a document,
found in the PDF's text layer (`locate_fields`)."""

from pipeline.grounding.locate import locate_fields
from pipeline.grounding.record import (
    FieldGrounding,
    MatchQuality,
    Source,
    field_confidence,
    match_confidence,
)
from pipeline.grounding.textlayer import PageText, Word, read_text_layer

__all__ = [
    "FieldGrounding",
    "MatchQuality",
    "PageText",
    "Source",
    "Word",
    "field_confidence",
    "locate_fields",
    "match_confidence",
    "read_text_layer",
]
