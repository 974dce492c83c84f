"""ISO 4217 currency codes in use, and the symbols and names that documents print instead."""

from __future__ import annotations

from enum import StrEnum

_CODES_TEXT = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD "
    "JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT "
    "MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG "
    "QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA "
    "XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG"
)
_ACTIVE_CODES = _CODES_TEXT.split()

Currency = StrEnum(  # type: ignore[misc]
    "Currency", [(code, code) for code in _ACTIVE_CODES], module=__name__, qualname="Currency"
)
Currency.__doc__ = "ISO 4217 alphabetic code of a currency in use (funds and metals included)."

# Symbols and names, compared after case folding and removing spaces and dots. "¥" is read as
# the Chinese yuan: this project's documents print the yen as "円" or "JP¥".
CURRENCY_ALIASES: dict[str, str] = {
    "€": "EUR", "euro": "EUR", "euros": "EUR", "eur€": "EUR",
    "$": "USD", "us$": "USD", "usd$": "USD", "u.s.$": "USD", "dollar": "USD", "dollars": "USD",
    "usdollar": "USD", "usdollars": "USD",
    "¥": "CNY", "￥": "CNY", "cn¥": "CNY", "元": "CNY", "rmb": "CNY", "人民币": "CNY",
    "yuan": "CNY", "renminbi": "CNY", "rmb¥": "CNY",
    "円": "JPY", "jp¥": "JPY", "yen": "JPY", "日元": "JPY",
    "£": "GBP", "pound": "GBP", "pounds": "GBP", "sterling": "GBP", "poundsterling": "GBP",
    "gb£": "GBP",
    "fr": "CHF", "sfr": "CHF", "chf.": "CHF", "swissfranc": "CHF", "swissfrancs": "CHF",
    "₹": "INR", "rs": "INR", "rupee": "INR", "rupees": "INR",
    "₩": "KRW", "원": "KRW", "won": "KRW",
    "₽": "RUB", "руб": "RUB", "рубль": "RUB",
    "₺": "TRY", "₴": "UAH", "грн": "UAH", "₪": "ILS", "₫": "VND", "฿": "THB", "₱": "PHP",
    "zł": "PLN", "zl": "PLN", "kč": "CZK", "ft": "HUF", "lei": "RON",
    "r$": "BRL", "c$": "CAD", "ca$": "CAD", "a$": "AUD", "au$": "AUD", "hk$": "HKD",
    "港币": "HKD", "港元": "HKD", "s$": "SGD", "nz$": "NZD", "nt$": "TWD", "新台币": "TWD",
    "mx$": "MXN", "r": "ZAR", "₦": "NGN", "₵": "GHS", "₸": "KZT", "₮": "MNT", "₭": "LAK",
    "៛": "KHR", "₼": "AZN", "₾": "GEL", "֏": "AMD", "美元": "USD", "欧元": "EUR", "英镑": "GBP",
}  # fmt: skip
