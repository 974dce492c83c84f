"""Business-rule findings and the arithmetic the rules need.

Each schema's `check_rules()` returns a list of `RuleFinding`. Codes are stable strings of the form
`<schema>.<rule>`; an "error" finding makes the document fail validation, a "warning" is kept with
the row. IBANs and EU VAT ids are checked with python-stdnum (`iban_problem`, `vat_id_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from stdnum import iban as stdnum_iban
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class RuleFinding:
    """One broken business rule: a stable code, how bad it is, and what was found."""

    code: str
    severity: Severity
    message: str


def error(code: str, message: str) -> RuleFinding:
    return RuleFinding(code, "error", message)


def warning(code: str, message: str) -> RuleFinding:
    return RuleFinding(code, "warning", message)


def total(values: Iterable[Decimal | None]) -> Decimal:
    """Sum that skips missing values."""
    return sum((v for v in values if v is not None), Decimal(0))


def differs(a: Decimal, b: Decimal, tolerance: Decimal | str) -> bool:
    """True when `a` and `b` are further apart than `tolerance`."""
    return abs(a - b) > Decimal(tolerance)


# --- IBANs and EU VAT ids ----------------------------------------------------------------------

_REASONS: dict[type[ValidationError], str] = {
    InvalidChecksum: "check digits do not match (checksum)",
    InvalidLength: "wrong length",
    InvalidFormat: "wrong format (length or characters) for its country",
    InvalidComponent: "unknown country code or invalid part",
}
_EU_PREFIXES = frozenset(code.upper() for code in stdnum_vat.MEMBER_STATES) | {"EL"}


def iban_problem(iban: str) -> str | None:
    """Why `iban` is not a valid IBAN (country, its length and format, ISO 7064 mod 97-10 check
    digits), or None when it is valid."""
    return _stdnum_problem(stdnum_iban.validate, iban)


def vat_id_problem(vat_id: str) -> str | None:
    """Why an EU VAT id fails its member state's format or check digits, or None.

    Only ids that start with the prefix of an EU member state (EL for Greece, XI for Northern
    Ireland) are checked: other ids (GB, CH, a national tax number) give None.
    """
    if vat_id[:2].upper() not in _EU_PREFIXES:
        return None
    return _stdnum_problem(stdnum_vat.validate, vat_id)


def _stdnum_problem(validate: Callable[[str], object], number: str) -> str | None:
    try:
        validate(number)
    except ValidationError as exc:
        return _REASONS.get(type(exc), str(exc))
    return None


# --- Chinese ID numbers (GB 11643-1999) -------------------------------------------------------

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"


def id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") for 17 digits."""
    if not re.fullmatch(r"\d{17}", first17):
        raise ValueError(f"need 17 digits, got {first17!r}")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


# --- Chinese upper-case amounts (大写金额) ----------------------------------------------------

_CN_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CN_DIGIT_VALUES = (
    {ch: i for i, ch in enumerate(_CN_DIGITS)}
    | {ch: i for i, ch in enumerate("〇一二三四五六七八九")}
    | {"两": 2, "貳": 2, "陸": 6, "參": 3, "叄": 3, "壱": 1}
)
_CN_SMALL_UNITS = {"拾": 10, "十": 10, "佰": 100, "百": 100, "仟": 1000, "千": 1000}
_CN_NOISE = re.compile(r"[\s\u3000()（）:：⊗ⓧ⊕☒Ⓧ×xX]|人民币|大写|RMB|CNY|¥|￥")


def cn_amount_in_words(amount: Decimal) -> str:
    """Write an amount the way Chinese invoices print it: 1234.56 -> 壹仟贰佰叁拾肆元伍角陆分."""
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "负" if amount < 0 and cents else ""
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    words = _cn_integer(yuan) + "元" if yuan else ""
    if not jiao and not fen:
        return sign + (words or "零元") + "整"
    if jiao:
        words += ("零" if yuan and yuan % 10 == 0 else "") + _CN_DIGITS[jiao] + "角"
    if fen:
        words += ("零" if yuan and not jiao else "") + _CN_DIGITS[fen] + "分"
    else:
        words += "整"  # amounts that end in 角 take 整 too; only 分 goes without
    return sign + words


def _cn_integer(number: int) -> str:
    """A positive integer in capital numerals with 万/亿 sections and 零 for gaps."""
    sections: list[int] = []
    while number:
        number, section = divmod(number, 10_000)
        sections.append(section)
    words, need_zero = "", False
    for level in range(len(sections) - 1, -1, -1):
        section = sections[level]
        if section == 0:
            need_zero = bool(words)
            continue
        if words and (need_zero or section < 1000):
            words += "零"
        words += _cn_section(section) + ("", "万", "亿", "万亿")[level]
        need_zero = False
    return words


def _cn_section(section: int) -> str:
    words, zero = "", False
    for unit, name in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = section // unit % 10
        if digit:
            words += ("零" if zero and words else "") + _CN_DIGITS[digit] + name
            zero = False
        else:
            zero = True
    return words


def words_mismatch(code: str, words: str, figures: Decimal, field: str) -> RuleFinding | None:
    """An error with `code` when the amount in words cannot be read or differs from `figures`
    (the amount printed in figures, in the field named `field`); None when they agree."""
    try:
        in_words = parse_cn_amount(words)
    except ValueError as exc:
        return error(code, f"cannot read words: {exc}")
    if in_words != figures:
        return error(code, f"{words} reads {in_words}, {field} is {figures}")
    return None


def parse_cn_amount(text: str) -> Decimal:
    """Read an upper-case Chinese amount: 壹仟贰佰叁拾肆元伍角陆分 -> Decimal("1234.56").

    Accepts 圆 or 元, a closing 整 or 正, 零 anywhere, 万 and 亿 sections, everyday numerals
    (一二三, 十百千), a leading 负 and the decorations invoices print around the words.
    """
    words = _CN_NOISE.sub("", text)
    negative = words.startswith("负")
    words = words.removeprefix("负").rstrip("整正")
    if not words:
        raise ValueError(f"no amount in {text!r}")
    head, sep, tail = words.replace("圆", "元").partition("元")
    if not sep and re.search(r"[角分厘]", head):
        head, tail = "", head
    value = Decimal(_cn_big(head, text)) if head else Decimal(0)
    value += _cn_fraction(tail, text)
    return -value if negative else value


def _cn_big(words: str, original: str) -> int:
    for marker, scale in (("亿", 100_000_000), ("億", 100_000_000), ("万", 10_000), ("萬", 10_000)):
        if marker in words:
            high, _, low = words.partition(marker)
            return (_cn_big(high, original) if high else 1) * scale + (
                _cn_big(low, original) if low else 0
            )
    result, digit = 0, None
    for ch in words:
        if ch in _CN_DIGIT_VALUES:
            digit = _CN_DIGIT_VALUES[ch]
        elif ch in _CN_SMALL_UNITS:
            result += (1 if digit is None else digit) * _CN_SMALL_UNITS[ch]
            digit = None
        else:
            raise ValueError(f"unexpected {ch!r} in amount {original!r}")
    return result + (digit or 0)


def _cn_fraction(words: str, original: str) -> Decimal:
    value, digit = Decimal(0), None
    scales = {
        "角": Decimal("0.1"),
        "毛": Decimal("0.1"),
        "分": Decimal("0.01"),
        "厘": Decimal("0.001"),
    }
    for ch in words:
        if ch in _CN_DIGIT_VALUES:
            digit = _CN_DIGIT_VALUES[ch]
        elif ch in scales and digit is not None:
            value += digit * scales[ch]
            digit = None
        else:
            raise ValueError(f"unexpected {ch!r} in amount {original!r}")
    if digit:
        raise ValueError(f"amount {original!r} ends in a digit without 角 or 分")
    return value
