"""Numeric dates whose day and month can be swapped (03/04/2024), read by the document's locale.

A date such as 03/04/2024 is 3 April in most of the world and March 4 in the United States.
Validation records every such reading (both numbers 12 or less and different), then looks for
locale evidence in the validated answer:

0. another numeric date of the same answer that can be read only one way (13/04/2024 is day
   first, 04/13/2024 month first);
1. the issuer's country (seller, merchant, bank): the prefix of its VAT id or IBAN, or a country
   (or a US state and ZIP code) in its address;
2. any other party's country, the same way;
3. the currency: USD, PHP and a few others are month-first, EUR, GBP, INR, BRL, ... day-first.

The first level that has evidence decides (conflicting evidence within a level decides
nothing). Month-first evidence reads the dates again month first; with no evidence at all the
day-first reading is kept and the answer gets a `date.ambiguous` warning naming the dates.
Pages are images, so the language of the page is not available here; the prompt asks the model
for ISO dates, which it writes in the page's own order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationInfo

from schemas.rules import RuleFinding, warning

DateOrder = Literal["dmy", "mdy"]
CONTEXT_KEY = "docextract.dates"
AMBIGUOUS_CODE = "date.ambiguous"

# Countries that write the month first in numeric dates.
_MONTH_FIRST_COUNTRIES = frozenset({"US", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "PR", "VI"})
# Countries where both orders are common: their evidence decides nothing.
_EITHER_COUNTRIES = frozenset({"CA"})
_MONTH_FIRST_CURRENCIES = frozenset({"USD", "PHP", "USN"})
_EITHER_CURRENCIES = frozenset({"CAD"})
# Currencies of countries that write year first (CN, JP, KR, TW, HU, ...) say nothing about d/m.
_YEAR_FIRST_CURRENCIES = frozenset({"CNY", "JPY", "KRW", "TWD", "HUF", "MNT", "LTL"})

_COUNTRY_NAMES: dict[str, str] = {
    "usa": "US", "u.s.a.": "US", "united states": "US", "united states of america": "US",
    "philippines": "PH", "canada": "CA",
    "germany": "DE", "deutschland": "DE", "france": "FR", "united kingdom": "GB", "uk": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "ireland": "IE", "italy": "IT",
    "italia": "IT", "spain": "ES", "españa": "ES", "portugal": "PT", "netherlands": "NL",
    "nederland": "NL", "belgium": "BE", "belgique": "BE", "belgië": "BE", "austria": "AT",
    "österreich": "AT", "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "poland": "PL", "polska": "PL", "sweden": "SE", "sverige": "SE", "denmark": "DK",
    "danmark": "DK", "norway": "NO", "norge": "NO", "finland": "FI", "suomi": "FI",
    "greece": "GR", "czech republic": "CZ", "czechia": "CZ", "australia": "AU",
    "new zealand": "NZ", "india": "IN", "brazil": "BR", "brasil": "BR", "mexico": "MX",
    "méxico": "MX", "argentina": "AR", "south africa": "ZA", "singapore": "SG",
    "luxembourg": "LU",
}  # fmt: skip
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)
_US_STATE_ZIP = re.compile(rf"\b(?:{_US_STATES})\s+\d{{5}}(?:-\d{{4}})?\b")
_ISSUER_KEYS = ("seller", "merchant", "issuer", "supplier", "vendor", "bank")
_PLACE_KEYS = ("vat_id", "iban", "address")


@dataclass
class DateReadings:
    """What the date validators saw during one validation: the ambiguous texts, and the order
    to read them in (day first unless evidence says otherwise)."""

    order: DateOrder = "dmy"
    ambiguous: list[str] = field(default_factory=list)
    unambiguous: dict[str, DateOrder] = field(default_factory=dict)


def day_month(first: int, second: int, text: str, info: ValidationInfo | None) -> tuple[int, int]:
    """(day, month) of a numeric date written `first`/`second`/year. Day first unless that is
    impossible or the validation context holds month-first evidence; an ambiguous reading is
    recorded in the context's DateReadings."""
    readings = _readings(info)
    if first > 12 or second > 12:
        if readings is not None and min(first, second) <= 12:
            readings.unambiguous[text] = "dmy" if first > 12 else "mdy"
        return (first, second) if first > 12 else (second, first)
    if first != second and readings is not None:
        readings.ambiguous.append(text)
        if readings.order == "mdy":
            return second, first
    return first, second


def _readings(info: ValidationInfo | None) -> DateReadings | None:
    context = getattr(info, "context", None)
    if isinstance(context, Mapping):
        found = context.get(CONTEXT_KEY)
        return found if isinstance(found, DateReadings) else None
    return None


def validate_with_dates(
    model: type[BaseModel], parsed: Any
) -> tuple[BaseModel, list[RuleFinding]]:
    """`model.model_validate(parsed)` with ambiguous numeric dates read by the answer's locale
    evidence (see the module docstring); the findings hold a `date.ambiguous` warning when
    there was no evidence. Raises ValidationError as model_validate does."""
    readings = DateReadings()
    instance = model.model_validate(parsed, context={CONTEXT_KEY: readings})
    if not readings.ambiguous:
        return instance, []
    orders = set(readings.unambiguous.values())
    if len(orders) == 1:
        order: DateOrder | None = orders.pop()
        why = f"{', '.join(readings.unambiguous)} on the same document can be read only one way"
    else:
        order, why = date_order_evidence(instance.model_dump(mode="json"))
    if order == "mdy":
        instance = model.model_validate(parsed, context={CONTEXT_KEY: DateReadings("mdy")})
        return instance, []
    if order == "dmy":
        return instance, []
    listed = ", ".join(dict.fromkeys(readings.ambiguous))
    return instance, [warning(
        AMBIGUOUS_CODE,
        f"{listed}: day and month could be either way round; read day first, as most of the "
        f"world writes them ({why})",
    )]  # fmt: skip


def date_order_evidence(data: Mapping[str, Any]) -> tuple[DateOrder | None, str]:
    """("dmy" | "mdy", the evidence) from an answer's countries and currency, or (None, why
    nothing decided)."""
    issuer: list[tuple[DateOrder | None, str]] = []
    others: list[tuple[DateOrder | None, str]] = []
    currencies: list[tuple[DateOrder | None, str]] = []
    for path, key, value in _strings(data, ()):
        place = next((k for k in _PLACE_KEYS if key == k or key.endswith("_" + k)), None)
        if place is not None:
            country = _country(place, value)
            if country is not None:
                where = ".".join(path)
                target = issuer if any(k in where for k in _ISSUER_KEYS) else others
                target.append((_country_order(country), f"{'.'.join(path)} is in {country}"))
        elif key == "currency":
            currencies.append((_currency_order(value), f"currency {value}"))
    for level in (issuer, others, currencies):
        decisive = {order for order, _ in level if order is not None}
        if len(decisive) == 1:
            return decisive.pop(), "; ".join(why for order, why in level if order is not None)
        if len(decisive) > 1:
            return None, "the evidence conflicts: " + "; ".join(why for _, why in level)
    return None, "no country, address or currency tells the order"


def _strings(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, str):
                yield (*path, str(key)), str(key), value
            else:
                yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, path)


def _country(key: str, value: str) -> str | None:
    if key in ("vat_id", "iban"):
        prefix = value[:2].upper()
        if not prefix.isalpha():
            return None
        return "GR" if prefix == "EL" else "GB" if prefix == "XI" else prefix
    text = value.casefold()
    for name in sorted(_COUNTRY_NAMES, key=len, reverse=True):
        if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text):
            return _COUNTRY_NAMES[name]
    if _US_STATE_ZIP.search(value):
        return "US"
    return None


def _country_order(country: str) -> DateOrder | None:
    if country in _EITHER_COUNTRIES:
        return None
    return "mdy" if country in _MONTH_FIRST_COUNTRIES else "dmy"


def _currency_order(code: str) -> DateOrder | None:
    code = code.upper()
    if code in _EITHER_CURRENCIES or code in _YEAR_FIRST_CURRENCIES:
        return None
    return "mdy" if code in _MONTH_FIRST_CURRENCIES else "dmy"
