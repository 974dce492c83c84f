"""Score extracted records against ground truth, field by field.

Scoring rules (`evaluate`):
- Nested objects are flattened to dotted paths (`seller.name`); items of a list of objects are
  scored under `line_items[].description` etc.
- Values are normalised before comparison. With a schema model, each leaf is run through the
  field's own validators (so "1.234,56", "01.03.2024", "€" or "男" read as the schema reads them);
  without one, the kind is inferred from the truth value. Numbers are equal within 0.01 absolute
  or 1e-6 relative; dates and times compare as values; enums case-insensitively; text after
  case-folding, collapsing whitespace and stripping punctuation at both ends.
- Per slot: equal -> true positive; truth only -> false negative; prediction only -> false
  positive; both present but different -> one false positive and one false negative. Slots empty
  on both sides are not counted. Accuracy is true positives over counted slots.
- List items are aligned one-to-one by similarity (best pairs first, ties broken by position);
  unmatched truth items count all their fields as false negatives, unmatched predicted items as
  false positives. A missing prediction (failed document) counts every truth field as missed.
Totals are micro-averaged over all slots.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from pipeline.annotations import unwrap_optional

ABS_TOLERANCE = Decimal("0.01")
REL_TOLERANCE = Decimal("1e-6")
MATCH_THRESHOLD = 0.34
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[-+(]?\s*\d[\d.,'\s]*\)?")
_PUNCT_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass
class Counts:
    """True/false positives and negatives of a set of compared slots."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    slots: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.slots += other.slots

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        return self.tp / self.slots if self.slots else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "slots": self.slots,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
        }


@dataclass
class DocumentScore:
    """The score of one document; `missing` when no prediction exists for it."""

    key: str
    counts: Counts
    missing: bool = False
    fields: dict[str, Counts] = field(default_factory=dict)


@dataclass
class EvalReport:
    """Per-document and per-field scores and their micro-averaged total."""

    documents: list[DocumentScore]
    fields: dict[str, Counts]
    total: Counts
    unmatched_predictions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.to_dict(),
            "fields": {name: c.to_dict() for name, c in sorted(self.fields.items())},
            "documents": [
                {"key": d.key, "missing": d.missing, **d.counts.to_dict()} for d in self.documents
            ],
            "unmatched_predictions": self.unmatched_predictions,
        }


# --- schema-aware normalisation ------------------------------------------------------------------


@dataclass(frozen=True)
class _Leaf:
    adapter: TypeAdapter[Any] | None


def _specs(model: type[BaseModel] | None, prefix: str = "") -> dict[str, Any]:
    """Map every path of the model to a `_Leaf`, a nested spec dict, or ("list", spec)."""
    if model is None:
        return {}
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        base = unwrap_optional(info.annotation)[0]
        if isinstance(base, type) and issubclass(base, BaseModel):
            out[name] = _specs(base)
        elif get_origin(base) is list:
            item = unwrap_optional(get_args(base)[0])[0] if get_args(base) else Any
            if isinstance(item, type) and issubclass(item, BaseModel):
                out[name] = ("list", _specs(item))
            else:
                out[name] = ("list", _Leaf(_adapter(get_args(base)[0])))
        else:
            full = (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            out[name] = _Leaf(_adapter(full))
    return out


def _adapter(annotation: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(annotation)
    except Exception:
        return None


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, list | dict) and not value)


def normalise_text(value: Any) -> str:
    """Case-folded, NFKC, whitespace collapsed, punctuation stripped at both ends."""
    text = " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())
    return _PUNCT_EDGES.sub("", text)


def _infer(value: Any) -> Any:
    """Without a schema: numbers and ISO dates become values, everything else stays."""
    from schemas.types import parse_date, parse_money

    if isinstance(value, bool | Enum | date | time):
        return value
    if isinstance(value, int | float | Decimal):
        return parse_money(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _ISO_DATE.fullmatch(text):
                return parse_date(text)
            if _NUMBER.fullmatch(text):
                return parse_money(text)
        except ValueError:
            return value
    return value


def _coerce(value: Any, like: Any) -> Any:
    """Parse `value` into the kind of `like` (a truth value already parsed), if possible."""
    from schemas.types import parse_date, parse_money, parse_time

    parser = {Decimal: parse_money, date: parse_date, time: parse_time}.get(type(like))
    if parser is None or isinstance(value, type(like)):
        return value
    try:
        return parser(value)
    except (ValueError, TypeError):
        return value


def _normalise(value: Any, leaf: _Leaf | None) -> Any:
    if leaf is not None and leaf.adapter is not None:
        try:
            return leaf.adapter.validate_python(value)
        except Exception:
            pass
    return _infer(value)


def values_equal(truth: Any, pred: Any) -> bool:
    """Equality after normalisation (numbers within tolerance)."""
    if isinstance(truth, Decimal) and isinstance(pred, Decimal):
        diff = abs(truth - pred)
        return diff <= ABS_TOLERANCE or diff <= REL_TOLERANCE * max(abs(truth), abs(pred))
    if isinstance(truth, Enum) or isinstance(pred, Enum):
        t = truth.value if isinstance(truth, Enum) else truth
        p = pred.value if isinstance(pred, Enum) else pred
        return normalise_text(t) == normalise_text(p)
    if type(truth) is type(pred) and not isinstance(truth, str):
        return bool(truth == pred)
    return normalise_text(truth) == normalise_text(pred)


# --- comparison ---------------------------------------------------------------------------------


def _scalar(truth: Any, pred: Any, leaf: _Leaf | None) -> Counts:
    has_t, has_p = _present(truth), _present(pred)
    if not has_t and not has_p:
        return Counts()
    if not has_p:
        return Counts(fn=1, slots=1)
    if not has_t:
        return Counts(fp=1, slots=1)
    t = _normalise(truth, leaf)
    p = _coerce(_normalise(pred, leaf), t)
    if values_equal(t, p):
        return Counts(tp=1, slots=1)
    return Counts(fp=1, fn=1, slots=1)


def _similarity(truth: dict[str, Any], pred: dict[str, Any], spec: dict[str, Any]) -> float:
    keys = [k for k in set(truth) | set(pred) if _present(truth.get(k)) or _present(pred.get(k))]
    if not keys:
        return 1.0
    score = 0.0
    for key in keys:
        t, p = truth.get(key), pred.get(key)
        if not (_present(t) and _present(p)) or isinstance(t, dict | list):
            continue
        tn = _normalise(t, spec.get(key))
        pn = _coerce(_normalise(p, spec.get(key)), tn)
        if values_equal(tn, pn):
            score += 1
        elif isinstance(tn, str) and isinstance(pn, str):
            score += difflib.SequenceMatcher(None, normalise_text(tn), normalise_text(pn)).ratio()
    return score / len(keys)


def align_items(truth: list[Any], pred: list[Any], spec: dict[str, Any]) -> list[tuple[int, int]]:
    """Pair truth and predicted list items one-to-one, most similar pairs first."""
    pairs = []
    for i, t in enumerate(truth):
        for j, p in enumerate(pred):
            t_obj = t if isinstance(t, dict) else {"value": t}
            p_obj = p if isinstance(p, dict) else {"value": p}
            sim = _similarity(t_obj, p_obj, spec)
            if sim >= MATCH_THRESHOLD:
                pairs.append((-sim, abs(i - j), i, j))
    used_t, used_p, matched = set(), set(), []
    for _, _, i, j in sorted(pairs):
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            matched.append((i, j))
    return sorted(matched)


def _compare(truth: Any, pred: Any, spec: Any, path: str, out: dict[str, Counts]) -> None:
    if isinstance(spec, tuple) or isinstance(truth, list) or isinstance(pred, list):
        item_spec = spec[1] if isinstance(spec, tuple) else {}
        t_items = truth if isinstance(truth, list) else []
        p_items = pred if isinstance(pred, list) else []
        if isinstance(item_spec, _Leaf):
            wrapped = {"value": item_spec}
            t_items = [{"value": v} for v in t_items]
            p_items = [{"value": v} for v in p_items]
            item_spec = wrapped
        matched = align_items(t_items, p_items, item_spec)
        seen_t = {i for i, _ in matched}
        seen_p = {j for _, j in matched}
        for i, j in matched:
            _compare(t_items[i], p_items[j], item_spec, f"{path}[]", out)
        for i, item in enumerate(t_items):
            if i not in seen_t:
                _compare(item, None, item_spec, f"{path}[]", out)
        for j, item in enumerate(p_items):
            if j not in seen_p:
                _compare(None, item, item_spec, f"{path}[]", out)
        return
    if isinstance(spec, dict) or isinstance(truth, dict) or isinstance(pred, dict):
        spec = spec if isinstance(spec, dict) else {}
        t_obj = truth if isinstance(truth, dict) else {}
        p_obj = pred if isinstance(pred, dict) else {}
        keys = list(spec) or list(dict.fromkeys([*t_obj, *p_obj]))
        for key in keys:
            name = f"{path}.{key}" if path else key
            _compare(t_obj.get(key), p_obj.get(key), spec.get(key), name, out)
        return
    leaf = spec if isinstance(spec, _Leaf) else None
    counts = _scalar(truth, pred, leaf)
    if counts.slots:
        out.setdefault(path, Counts()).add(counts)


def score_document(
    truth: Mapping[str, Any],
    pred: Mapping[str, Any] | None,
    model: type[BaseModel] | None = None,
    key: str = "",
) -> DocumentScore:
    """Score one prediction (None = document failed) against its truth."""
    fields: dict[str, Counts] = {}
    _compare(dict(truth), dict(pred) if pred is not None else {}, _specs(model), "", fields)
    total = Counts()
    for counts in fields.values():
        total.add(counts)
    return DocumentScore(key, total, pred is None, fields)


def evaluate(
    predictions: Mapping[str, dict[str, Any] | None],
    truths: Mapping[str, dict[str, Any]],
    model: type[BaseModel] | None = None,
) -> EvalReport:
    """Score every truth document against the prediction with the same key."""
    documents: list[DocumentScore] = []
    fields: dict[str, Counts] = {}
    total = Counts()
    for key in sorted(truths):
        doc = score_document(truths[key], predictions.get(key), model, key)
        documents.append(doc)
        total.add(doc.counts)
        for name, counts in doc.fields.items():
            fields.setdefault(name, Counts()).add(counts)
    extra = sorted(k for k in predictions if k not in truths)
    return EvalReport(documents, fields, total, extra)
