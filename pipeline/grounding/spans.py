"""Places on a page where a value is printed: candidate spans of words, found by reading the
page's words the way the value's type is read (numbers and dates through the schema parsers,
text by its letters and digits alone)."""

from __future__ import annotations

import re
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property

from pipeline.grounding.record import Box, MatchQuality
from pipeline.grounding.textlayer import PageText, Word

_NUMBER_WORD = re.compile(r"[(+\-−]?[€$£¥₹]?\d[\d.,'’]*%?[€$£¥₹]?[)\-−]?")
_CURRENCY_WORD = re.compile(r"[€$£¥₹]|[A-Z]{3}|Fr\.|CHF|RMB|元")
_AMBIGUOUS_DATE = re.compile(r"(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})")
_MAX_WINDOW = 5
_DAY_MONTH = re.compile(r"(\d{1,2})[./\s]*([^\W\d_]+|\d{1,2})\.?")


def is_cjk(ch: str) -> bool:
    return ord(ch) >= 0x2E80 and unicodedata.category(ch).startswith("L")


def fold(text: str) -> str:
    """Letters and digits only, NFKC and case folded: how text values are compared."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Span:
    """A candidate: words first..last (indexes into the page's words) on one page, its box."""

    page: PageText
    first: int
    last: int
    box: Box
    quality: MatchQuality

    @property
    def words(self) -> tuple[Word, ...]:
        return self.page.words[self.first : self.last + 1]


def union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def word_box(word: Word) -> Box:
    return (word.x0, word.y0, word.x1, word.y1)


def _close(left: Word, right: Word) -> bool:
    """Two words of one printed value: same line, and the gap no wider than half the height."""
    height = min(left.y1 - left.y0, right.y1 - right.y0)
    same_line = min(left.y1, right.y1) - max(left.y0, right.y0) > 0.5 * height
    return same_line and -1 <= right.x0 - left.x1 < 0.5 * height


class PageIndex:
    """One page's words read three ways (numbers, dates, folded text), each read once."""

    def __init__(self, page: PageText) -> None:
        self.page = page
        self._labels: dict[tuple[str, ...], list[tuple[int, Box]]] = {}

    def label_boxes(self, labels: tuple[str, ...]) -> list[tuple[int, Box]]:
        """(word index, box) of the page's words that are one of `labels`."""
        if labels not in self._labels:
            self._labels[labels] = [
                (k, word_box(w))
                for k, w in enumerate(self.page.words)
                if (folded := fold(w.text)) and folded.startswith(labels)
            ]
        return self._labels[labels]

    def _runs(self) -> list[tuple[int, int]]:
        """Windows of up to three words, each word close to the one before."""
        words = self.page.words
        runs = []
        for i in range(len(words)):
            runs.append((i, i))
            for j in range(i + 1, min(i + _MAX_WINDOW, len(words))):
                if not _close(words[j - 1], words[j]):
                    break
                runs.append((i, j))
        return runs

    def _text(self, i: int, j: int) -> str:
        return " ".join(w.text for w in self.page.words[i : j + 1])

    def _box(self, i: int, j: int) -> Box:
        return union([word_box(w) for w in self.page.words[i : j + 1]])

    @cached_property
    def numbers(self) -> list[tuple[Decimal, int, int, str]]:
        from schemas.types import parse_money

        words = self.page.words
        found = []
        for i, j in self._runs():
            if not all(_NUMBER_WORD.fullmatch(w.text) for w in words[i : j + 1]):
                continue
            text = self._text(i, j)
            try:
                value = parse_money(text)
            except ValueError:
                continue
            found.append((abs(value), i, j, text))
        return found

    @cached_property
    def dates(self) -> list[tuple[date | tuple[int, int], int, int, str]]:
        from schemas.types import parse_date

        found: list[tuple[date | tuple[int, int], int, int, str]] = []
        for i, j in self._runs():
            text = self._text(i, j)
            if not any(ch.isdigit() for ch in text):
                continue
            readings = set()
            try:
                readings.add(parse_date(text))
            except ValueError:
                found += [(day_month, i, j, text) for day_month in _without_year(text)]
                continue
            if m := _AMBIGUOUS_DATE.fullmatch(text):  # month first, too: 06/17/2024
                with suppress(ValueError):
                    readings.add(parse_date(f"{m[3]}{m[2]}{m[1]}{m[2]}{m[4]}"))
            found += [(day, i, j, text) for day in readings]
        return found

    @cached_property
    def folded(self) -> tuple[str, list[tuple[int, int, bool, bool]]]:
        """The page's letters and digits in one string, and for each: its word, its place in
        the word's text, whether a value may start before it and end after it."""
        chars: list[str] = []
        where: list[tuple[int, int, bool, bool]] = []
        for index, word in enumerate(self.page.words):
            text = unicodedata.normalize("NFKC", word.text).casefold()
            for k, ch in enumerate(text):
                if not ch.isalnum():
                    continue
                start = k == 0 or not text[k - 1].isalnum() or is_cjk(ch)
                end = k == len(text) - 1 or not text[k + 1].isalnum() or is_cjk(ch)
                chars.append(ch)
                where.append((index, k, start, end))
        return "".join(chars), where

    def _partial_box(self, index: int, first: int, last: int) -> Box:
        """The part of word `index` from character `first` to `last`, by share of its text."""
        word = self.page.words[index]
        length = max(1, len(unicodedata.normalize("NFKC", word.text)))
        width = word.x1 - word.x0
        return (
            word.x0 + width * first / length,
            word.y0,
            word.x0 + width * (last + 1) / length,
            word.y1,
        )

    def text_spans(self, value: str) -> list[Span]:
        """Where the folded `value` is printed as whole words or whole parts of words."""
        needle = fold(value)
        if not needle:
            return []
        haystack, where = self.folded
        spans = []
        start = haystack.find(needle)
        while start >= 0:
            end = start + len(needle) - 1
            if where[start][2] and where[end][3]:
                spans.append(self._text_span(value, start, end))
            start = haystack.find(needle, start + 1)
        return spans

    def _text_span(self, value: str, start: int, end: int) -> Span:
        (w0, c0, _, _), (w1, c1, _, _) = self.folded[1][start], self.folded[1][end]
        words = self.page.words
        first_text, last_text = words[w0].text, words[w1].text
        whole = c0 == 0 and c1 >= len(last_text) - 1 - (not last_text[-1].isalnum())
        boxes = [word_box(w) for w in words[w0 + 1 : w1]]
        if w0 == w1:
            boxes.append(self._partial_box(w0, c0, c1))
        else:
            boxes.append(self._partial_box(w0, c0, len(first_text) - 1))
            boxes.append(self._partial_box(w1, 0, c1))
        exact = whole and self._text(w0, w1) == " ".join(value.split())
        quality = MatchQuality.exact if exact else MatchQuality.normalised
        return Span(self.page, w0, w1, union(boxes), quality)

    def number_spans(self, value: Decimal) -> list[Span]:
        spans = []
        for number, i, j, text in self.numbers:
            if number == abs(value):
                i, j = self._with_currency(i, j)
                exact = text == str(value)
                quality = MatchQuality.exact if exact else MatchQuality.normalised
                spans.append(Span(self.page, i, j, self._box(i, j), quality))
        return _outermost(spans)

    def _with_currency(self, i: int, j: int) -> tuple[int, int]:
        """Widen a number's words by a currency sign or code printed right beside it."""
        words = self.page.words
        after = j + 1 < len(words) and _CURRENCY_WORD.fullmatch(words[j + 1].text)
        if after and _close(words[j], words[j + 1]):
            j += 1
        if i > 0 and _CURRENCY_WORD.fullmatch(words[i - 1].text) and _close(words[i - 1], words[i]):
            i -= 1
        return i, j

    def date_spans(self, value: date) -> list[Span]:
        spans = []
        for day, i, j, text in self.dates:
            if day == value or day == (value.day, value.month):
                exact = text == value.isoformat()
                quality = MatchQuality.exact if exact else MatchQuality.normalised
                if isinstance(day, tuple):
                    quality = MatchQuality.fuzzy  # the year is the page's, not printed here
                spans.append(Span(self.page, i, j, self._box(i, j), quality))
        return _outermost(spans)


def _without_year(text: str) -> list[tuple[int, int]]:
    """(day, month) of a date printed without its year ("04 Jan", "04.01."), as statements do."""
    from schemas.types import _MONTHS

    m = _DAY_MONTH.fullmatch(text.strip().casefold())
    if m is None:
        return []
    month = int(m[2]) if m[2].isdigit() else _MONTHS.get(m[2].rstrip("."))
    return [(int(m[1]), month)] if month and 1 <= month <= 12 and 1 <= int(m[1]) <= 31 else []


def _outermost(spans: list[Span]) -> list[Span]:
    """Drop spans lying inside a longer one ("234,56" inside "1 234,56")."""
    return [
        s
        for s in spans
        if not any(
            o is not s
            and o.first <= s.first
            and s.last <= o.last
            and (o.first, o.last) != (s.first, s.last)
            for o in spans
        )
    ]
