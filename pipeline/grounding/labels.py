"""Label words of a field: the words printed next to its value ("Total", "Gesamt", "合计").

Taken from the field's name split at underscores, widened by a short table of the same word in
the languages the project reads. A word matches a label word when its folded text starts with it."""

from __future__ import annotations

import re
from functools import cache

from pipeline.grounding.spans import fold

_SAME_WORD: dict[str, tuple[str, ...]] = {
    "total": ("total", "gesamt", "summe", "montant", "ttc", "合计", "总计", "价税合计", "小计"),
    "line": ("amount", "betrag", "montant", "金额"),
    "grand": ("total", "gesamt", "ttc", "价税合计"),
    "net": ("net", "netto", "ht", "金额", "不含税"),
    "tax": ("tax", "vat", "ust", "mwst", "tva", "steuer", "税额", "税"),
    "vat": ("vat", "ust", "mwst", "tva", "税"),
    "amount": ("amount", "betrag", "montant", "金额"),
    "due": ("due", "fällig", "faellig", "zahlbetrag", "échéance", "echeance", "payer"),
    "date": ("date", "datum", "日期", "开票日期"),
    "issue": ("date", "datum", "issued", "开票日期"),
    "number": ("number", "no", "nr", "n°", "numéro", "号码", "编号"),
    "invoice": ("invoice", "rechnung", "facture", "发票"),
    "iban": ("iban",),
    "id": ("id", "no", "nr", "n°"),
    "quantity": ("qty", "quantity", "menge", "qté", "数量"),
    "unit": ("unit", "einheit", "unité", "单位"),
    "price": ("price", "preis", "prix", "单价"),
    "description": ("description", "bezeichnung", "désignation", "名称"),
    "rate": ("rate", "satz", "taux", "税率"),
    "name": ("name", "nom", "名称"),
    "address": ("address", "adresse", "anschrift", "地址"),
    "balance": ("balance", "saldo", "solde", "余额"),
    "opening": ("opening", "anfangssaldo", "alter", "initial"),
    "closing": ("closing", "endsaldo", "neuer", "final"),
    "seller": ("seller", "verkäufer", "vendeur", "销售方", "销方"),
    "buyer": ("buyer", "käufer", "acheteur", "购买方", "购方", "bill"),
    "paid": ("paid", "bezahlt", "payé", "anzahlung"),
    "subtotal": ("subtotal", "zwischensumme", "sous", "小计"),
}
_SKIP = {"of", "the", "and", "or", "a"}


@cache
def label_words(path: str) -> tuple[str, ...]:
    """The folded label words of the leaf at `path` (`line_items[2].line_total`)."""
    name = re.sub(r"\[\d+\]", "", path).split(".")[-1]
    words: list[str] = []
    for part in name.split("_"):
        if part in _SKIP or not part:
            continue
        words.append(part)
        words.extend(_SAME_WORD.get(part, ()))
    return tuple(dict.fromkeys(f for w in words if len(f := fold(w)) >= 2))
