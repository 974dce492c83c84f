"""Shared pieces of the document generator: the result record, a drawing canvas, number and date
formats per language, check-digit helpers and the pools of invented names and places.

Every generator takes a `random.Random` so that a seed fixes the whole document.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stdnum import luhn
from stdnum.iso7064 import mod_11_10

CENT = Decimal("0.01")


@dataclass(frozen=True)
class GeneratedDocument:
    """One synthetic document: its bytes, file suffix and the truth in schema field names."""

    name: str
    schema: str
    content: bytes = field(repr=False)
    suffix: str
    truth: dict[str, Any]
    page_count: int = 1
    boxes: dict[str, Any] = field(default_factory=dict)  # field path -> page, box, page_size


def money(value: Decimal | int | str) -> Decimal:
    """Round half-up to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def amount_str(value: Decimal) -> str:
    """Truth form of an amount: plain digits, a dot, two decimals ('1234.56')."""
    return str(money(value))


def format_number(value: Decimal, lang: str, places: int = 2) -> str:
    """Print a number the way the language's documents do: 1,234.56 / 1.234,56 / 1 234,56."""
    text = f"{value:,.{places}f}"
    if lang == "de":
        return text.replace(",", "_").replace(".", ",").replace("_", ".")
    if lang == "fr":
        return text.replace(",", " ").replace(".", ",")
    return text


def format_quantity(value: Decimal, lang: str) -> str:
    places = 0 if value == value.to_integral_value() else 2
    return format_number(value, lang, places)


MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def format_date(day: dt.date, lang: str) -> str:
    if lang == "de":
        return day.strftime("%d.%m.%Y")
    if lang == "fr":
        return day.strftime("%d/%m/%Y")
    if lang == "zh":
        return f"{day.year}年{day.month:02d}月{day.day:02d}日"
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def random_date(
    rng: random.Random, start: dt.date = dt.date(2023, 1, 1), days: int = 700
) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(days))


# --- identifiers ---------------------------------------------------------------------------------

IBAN_LENGTHS = {"DE": 22, "FR": 27, "GB": 22, "NL": 18, "AT": 20, "BE": 16}


def make_iban(rng: random.Random, country: str) -> str:
    """A syntactically valid IBAN (ISO 13616 mod-97 check digits) for an invented account."""
    bban_len = IBAN_LENGTHS[country] - 4
    if country == "GB":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        bban += "".join(rng.choice("0123456789") for _ in range(bban_len - 4))
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(bban_len))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def group_iban(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def make_vat_id(rng: random.Random, country: str) -> str:
    """An invented VAT id whose check digits are right (German and French ids; others are
    the country code and nine digits)."""
    digits = "".join(rng.choice("0123456789") for _ in range(9))
    if country == "FR":
        rng.randrange(10, 99)  # drawn as before, so a seed keeps making the same documents
        siren = digits[:8] + luhn.calc_check_digit(digits[:8])
        return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    if country == "DE":
        body = ("1" + digits[1:8]) if digits[0] == "0" else digits[:8]  # never starts with 0
        return f"DE{body}{mod_11_10.calc_check_digit(body)}"
    return f"{country}{digits}"


# --- invented names -----------------------------------------------------------------------------

COMPANIES = {
    "en": [
        "Bramblewood Supplies Ltd",
        "Harbourline Logistics Ltd",
        "Quillfeather Studio Ltd",
        "Northgate Office Services",
        "Copperkettle Catering Ltd",
    ],
    "de": [
        "Lindenhof Maschinenbau GmbH",
        "Brückner & Sohn KG",
        "Falkenstein Bürotechnik GmbH",
        "Wiesental Druckerei GmbH",
        "Sonnfeld Elektro GmbH",
    ],
    "fr": [
        "Atelier des Tilleuls SARL",
        "Boulanger Frères SAS",
        "Lumière Conseil SARL",
        "Ponts et Chaussées Durand SA",
        "Vergers du Val SARL",
    ],
    "zh": ["示例科技有限公司", "样本贸易有限公司", "演示文化传媒有限公司", "虚构电子设备有限公司"],
}
STREETS = {
    "en": ["12 Larch Road", "48 Quayside Walk", "7 Millpond Lane", "201 Orchard Street"],
    "de": ["Lindenallee 14", "Hafenstraße 3", "Am Mühlbach 27", "Bergweg 112"],
    "fr": ["18 rue des Lilas", "4 avenue du Moulin", "27 quai des Brumes", "9 place du Marché"],
    "zh": ["示例路88号", "样本大道16号", "演示街3号"],
}
CITIES = {
    "en": [("Exampleton", "EX1 2AB", "GB"), ("Sampleford", "SF4 9QT", "GB")],
    "de": [("Musterstadt", "12345", "DE"), ("Beispielheim", "54321", "DE")],
    "fr": [("Villeneuve-Exemple", "75999", "FR"), ("Saint-Modèle", "69999", "FR")],
    "zh": [("示例市", "100000", "CN"), ("样本市", "200000", "CN")],
}
PRODUCTS = {
    "en": [
        ("Consulting services", "h", "95.00"),
        ("Printer paper A4, box", "pcs", "24.90"),
        ("Ergonomic office chair", "pcs", "289.00"),
        ("Software licence, annual", "pcs", "480.00"),
        ("On-site installation", "h", "72.50"),
        ("Network cable 5 m", "pcs", "6.40"),
        ("Delivery charge", "pcs", "15.00"),
        ("Toner cartridge black", "pcs", "68.30"),
    ],
    "de": [
        ("Beratungsleistung", "Std", "110.00"),
        ("Kopierpapier A4, Karton", "Stk", "21.90"),
        ("Schreibtischlampe LED", "Stk", "49.95"),
        ("Wartungsvertrag Q3", "Stk", "350.00"),
        ("Montage vor Ort", "Std", "68.00"),
        ("Fachbuch Steuerrecht", "Stk", "39.80"),
        ("Versandkosten", "Stk", "9.90"),
        ("Druckerpatrone schwarz", "Stk", "32.40"),
    ],
    "fr": [
        ("Prestation de conseil", "h", "120.00"),
        ("Ramette papier A4", "u", "5.90"),
        ("Fauteuil de bureau", "u", "245.00"),
        ("Maintenance annuelle", "u", "390.00"),
        ("Installation sur site", "h", "65.00"),
        ("Câble réseau 3 m", "u", "4.20"),
        ("Frais de port", "u", "12.00"),
        ("Cartouche d'encre noire", "u", "29.90"),
    ],
    "zh": [
        ("技术服务费", "项", "1200.00"),
        ("办公用纸A4", "箱", "158.00"),
        ("办公椅", "把", "680.00"),
        ("软件维护", "年", "3600.00"),
        ("网线5米", "根", "18.50"),
        ("打印机墨盒", "个", "245.00"),
    ],
}
PERSON_NAMES = [
    "Alex Example",
    "Sam Sample",
    "Jo Placeholder",
    "Max Mustermann",
    "Erika Musterfrau",
    "Jean Exemple",
    "Marie Modèle",
]


def pick_company(rng: random.Random, lang: str, exclude: str = "") -> dict[str, str]:
    """An invented company: name, street, city line and country code."""
    name = rng.choice([c for c in COMPANIES[lang] if c != exclude])
    city, postcode, country = rng.choice(CITIES[lang])
    street = rng.choice(STREETS[lang])
    city_line = f"{city} {postcode}" if country == "GB" else f"{postcode} {city}"
    if country == "CN":
        city_line = city
    return {"name": name, "street": street, "city": city_line, "country": country}
