"""Reusable field types that normalise what a model reads before Pydantic validates it.

A document prints values in its own local format; a correct reading in that format must not be
rejected. Each type below accepts the canonical form (what the prompt asks for) and the common
printed forms, and converts them to one Python value:

- Money / quantities: "1.234,56", "1,234.56", "¥1,234.56", "€ 12,50", "1 234,56", "1'234.56",
  "(12.00)" and "12.00-" (negative) become Decimal. Separator rule: when both "." and "," occur,
  the last one is the decimal separator; a lone "," followed by exactly three digits, or any
  separator that occurs more than once, groups thousands; otherwise a lone separator is decimal.
- Dates: ISO "2024-03-01" (also "/" or "."), "20240301", "2024年3月1日", "1 March 2024",
  "March 1, 2024", "01.03.2024", "01/03/2024". Numeric day/month/year dates are read day first
  (as printed in most of the world) unless that is impossible (a first number above 12 is a day;
  a second number above 12 makes the first a month). In a schema's DocDate fields, a date that
  could be either way round follows the document's locale evidence, or gets a warning
  (schemas.dates). Two-digit years 00-69 are 2000-2069.
- Times: "14:30", "14:30:05", "2:30 PM", "14.30", "14时30分".
- Enums: value or member name, case-insensitive, spaces/hyphens/underscores ignored, plus
  per-enum synonyms.
- Text: outer whitespace trimmed, inner runs of whitespace collapsed to one space. Optional
  fields read "", "null", "none", "n/a", "-" as missing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, ValidationInfo

from schemas.currency import CURRENCY_ALIASES, Currency
from schemas.dates import day_month

E = TypeVar("E", bound=Enum)

_BLANKS = {"", "null", "none", "n/a", "na", "-", "—", "–", "/", "无"}
_MINUS = "\u2212\u2012\u2013\u2014\ufe63\uff0d"


def _nfkc(text: str) -> str:
    """Full-width digits and letters to ASCII, odd spaces to plain spaces, then trimmed."""
    text = unicodedata.normalize("NFKC", text)
    for ch in _MINUS:
        text = text.replace(ch, "-")
    return text.strip()


def blank_to_none(value: Any) -> Any:
    """Missing-value spellings to None; anything else unchanged."""
    if isinstance(value, str) and value.strip().casefold() in _BLANKS:
        return None
    return value


def clean_text(value: Any) -> Any:
    """Trim and collapse whitespace in strings; numbers read as text become strings."""
    value = trim_text(value)
    return " ".join(value.split()) if isinstance(value, str) else value


def trim_text(value: Any) -> Any:
    """Strings with their ends trimmed and the inside kept; numbers read as text become strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def parse_money(value: Any) -> Any:
    """An amount or quantity as Decimal; non-strings other than numbers are left to Pydantic."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if not isinstance(value, str):
        return value
    text = _nfkc(value)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    # The number is the one run of digits and separators; around it only signs and currency.
    body = re.search(r"(?:\d|[.,]\d)[\d.,\s'’]*", text)
    if body is None:
        raise ValueError(f"not an amount: {value!r}")
    prefix, core, suffix = text[: body.start()], body.group().strip(), text[body.end() :].strip()
    if re.search(r"\d", prefix + suffix):
        raise ValueError(f"not an amount: {value!r}")
    if core.endswith(",") and suffix.startswith("-"):  # "12,-": whole units
        core, suffix = core[:-1], suffix.lstrip("-")
    negative = negative or "-" in prefix or suffix.startswith("-")
    core = re.sub(r"[\s'’]", "", core).rstrip(".,")
    if core[:1] in (".", ","):
        core = "0" + core
    if not re.fullmatch(r"\d[\d.,]*", core):
        raise ValueError(f"not an amount: {value!r}")
    number = _decimal_digits(core)
    try:
        result = Decimal(number)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    return -result if negative else result


def _decimal_digits(core: str) -> str:
    """Digits and separators to a plain decimal string (see the module docstring for the rule)."""
    dots, commas = core.count("."), core.count(",")
    if dots and commas:
        decimal_sep = "." if core.rfind(".") > core.rfind(",") else ","
        group_sep = "," if decimal_sep == "." else "."
        if core.count(decimal_sep) > 1:
            raise ValueError(f"not an amount: {core!r}")
        return core.replace(group_sep, "").replace(decimal_sep, ".")
    sep = "." if dots else "," if commas else ""
    if not sep:
        return core
    if core.count(sep) > 1:
        groups = core.split(sep)
        if not all(len(g) == 3 for g in groups[1:]) or not groups[0]:
            raise ValueError(f"not an amount: {core!r}")
        return core.replace(sep, "")
    head, tail = core.split(sep)
    if sep == "," and len(tail) == 3 and head and head != "0":
        return head + tail
    return f"{head or '0'}.{tail or '0'}"


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            "january jan januar janvier enero gennaio janeiro",
            "february feb februar février fevrier febrero febbraio fevereiro",
            "march mar märz maerz marz mars marzo março",
            "april apr avril abril aprile",
            "may mai mayo maggio maio",
            "june jun juni juin junio giugno junho",
            "july jul juli juillet julio luglio julho",
            "august aug août aout agosto",
            "september sep sept septembre septiembre settembre setembro",
            "october oct oktober okt octobre octubre ottobre outubro",
            "november nov novembre noviembre novembro",
            "december dec dezember dez décembre decembre diciembre dicembre dezembro",
        ],
        start=1,
    )
    for name in names.split()
}


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year <= 69 else 1900
    return year


def parse_date(value: Any, info: ValidationInfo | None = None) -> Any:
    """A calendar date from ISO, compact, CJK, numeric day-first or month-name spellings.
    Inside a validation whose context holds schemas.dates.DateReadings, a numeric date that
    could be either way round is recorded there and read in its order."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or not isinstance(value, str):
        return value
    text = _nfkc(value).casefold()
    try:
        return _match_date(text, info)
    except ValueError:
        raise
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a date: {value!r}") from exc


def _match_date(text: str, info: ValidationInfo | None = None) -> date:
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t\s].*)?", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日号일]?", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})", text):
        day, month = day_month(int(m[1]), int(m[3]), text, info)
        return date(_year(m[4]), month, day)
    plain = re.sub(r"(?<=\d)(st|nd|rd|th|er)\b", "", text)
    words = [w for w in re.sub(r"[,.\-/]", " ", plain).split() if w != "de"]  # "1 de marzo de 2024"
    if len(words) == 3:
        if words[0].isdigit() and words[1] in _MONTHS and words[2].isdigit():
            return date(_year(words[2]), _MONTHS[words[1]], int(words[0]))
        if words[0] in _MONTHS and words[1].isdigit() and words[2].isdigit():
            return date(_year(words[2]), _MONTHS[words[0]], int(words[1]))
    raise ValueError(f"not a date: {text!r}")


def parse_time(value: Any) -> Any:
    """A time of day from "14:30", "14:30:05", "2:30 pm", "14.30" or "14时30分"."""
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time) or not isinstance(value, str):
        return value
    text = _nfkc(value).casefold().replace(" ", "")
    m = re.fullmatch(
        r"(\d{1,2})[:.时h](\d{2})(?:[:.分m](\d{2})(?:\.\d+)?秒?s?)?分?(am|pm|a\.m\.|p\.m\.)?", text
    )
    if not m:
        raise ValueError(f"not a time: {value!r}")
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    if m[4]:
        if not 1 <= hour <= 12:
            raise ValueError(f"not a time: {value!r}")
        hour = hour % 12 + (12 if m[4].startswith("p") else 0)
    return time(hour, minute, second)


def _enum_key(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", _nfkc(text).casefold())


def lenient_enum(enum: type[E], synonyms: Mapping[str, str] | None = None) -> Callable[[Any], Any]:
    """A before-validator mapping values, names (any case) and synonyms to members of `enum`."""
    table: dict[str, Any] = {}
    for member in enum:
        table[_enum_key(str(member.value))] = member
        table[_enum_key(member.name)] = member
    for spelling, target in (synonyms or {}).items():
        table[_enum_key(spelling)] = enum(target)

    def to_member(value: Any) -> Any:
        if isinstance(value, str):
            return table.get(_enum_key(value), value)
        return value

    return to_member


def parse_currency(value: Any) -> Any:
    """An ISO code, symbol or currency name to a Currency member."""
    if not isinstance(value, str):
        return value
    key = _nfkc(value).casefold().replace(" ", "")
    code = CURRENCY_ALIASES.get(key) or CURRENCY_ALIASES.get(key.rstrip("."))
    if code is None:
        code = key.upper()
    return Currency.__members__.get(code, value)


Money = Annotated[Decimal, BeforeValidator(parse_money)]
"""An amount or quantity; see the module docstring for the accepted spellings."""
OptMoney = Annotated[Money | None, BeforeValidator(blank_to_none)]
def _parse_doc_date(value: Any, info: ValidationInfo) -> Any:
    return parse_date(value, info)  # Pydantic passes `info` only to a required parameter


DocDate = Annotated[date, BeforeValidator(_parse_doc_date)]
OptDate = Annotated[DocDate | None, BeforeValidator(blank_to_none)]
DocTime = Annotated[time, BeforeValidator(parse_time)]
OptTime = Annotated[DocTime | None, BeforeValidator(blank_to_none)]
Text = Annotated[str, BeforeValidator(clean_text), Field(min_length=1)]
"""Non-empty text with whitespace collapsed."""
OptText = Annotated[
    Annotated[str, BeforeValidator(clean_text)] | None, BeforeValidator(blank_to_none)
]

Identifier = Annotated[str, BeforeValidator(trim_text), Field(min_length=1)]
"""Non-empty text kept as it is but for its ends: a key matched character by character."""
CurrencyCode = Annotated[Currency, BeforeValidator(parse_currency)]
OptCurrency = Annotated[CurrencyCode | None, BeforeValidator(blank_to_none)]


def compact_code(value: Any) -> Any:
    """Identifiers (VAT ids, IBANs, ID numbers): spaces and dashes removed, letters upper-cased."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return re.sub(r"[\s\-.]", "", _nfkc(value)).upper()
    return value


Code = Annotated[str, BeforeValidator(compact_code), Field(min_length=1)]
OptCode = Annotated[
    Annotated[str, BeforeValidator(compact_code)] | None, BeforeValidator(blank_to_none)
]
