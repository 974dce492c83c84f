"""Places on a page where a value is printed: candidate spans of words, found by reading the
page's words the way the value's type is read (numbers and dates through the schema parsers,
text by its letters and digits alone)."""

from __future__ import annotations

import re
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from functools import cached_property

from pipeline.grounding.record import Box, MatchQuality
from pipeline.grounding.textlayer import PageText, Word

_NUMBER_WORD = re.compile(r"[(+\-−]?[€$£¥₹]?\d[\d.,'’]*%?[€$£¥₹]?[)\-−]?")
_CURRENCY_WORD = re.compile(r"[€$£¥₹]|[A-Z]{3}|Fr\.|CHF|RMB|元")
_AMBIGUOUS_DATE = re.compile(r"(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})")
_MAX_WINDOW = 5
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_YEARLESS_CHARS = 12  # "04 Jan", "04.01.", "12 Sept."
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

    @cached_property
    def folded_words(self) -> list[str]:
        return [fold(w.text) for w in self.page.words]

    def label_boxes(self, labels: tuple[str, ...]) -> list[tuple[int, Box]]:
        """(word index, box) of the page's words that are one of `labels`."""
        if labels not in self._labels:
            words = self.page.words
            self._labels[labels] = [
                (k, word_box(words[k]))
                for k, folded in enumerate(self.folded_words)
                if folded and folded.startswith(labels)
            ]
        return self._labels[labels]

    @cached_property
    def line_starts(self) -> dict[tuple[int, int], float]:
        """Where each (block, line) of the file starts: its leftmost word's x0."""
        starts: dict[tuple[int, int], float] = {}
        for w in self.page.words:
            key = (w.block, w.line)
            starts[key] = min(w.x0, starts.get(key, w.x0))
        return starts

    @cached_property
    def runs(self) -> list[tuple[int, int, str]]:
        """(first, last, text) of each window of up to _MAX_WINDOW words, each word close to
        the one before."""
        words = self.page.words
        joins = [_close(words[k - 1], words[k]) for k in range(1, len(words))]
        runs = []
        for i, word in enumerate(words):
            text = word.text
            runs.append((i, i, text))
            for j in range(i + 1, min(i + _MAX_WINDOW, len(words))):
                if not joins[j - 1]:
                    break
                text = f"{text} {words[j].text}"
                runs.append((i, j, text))
        return runs

    def _text(self, i: int, j: int) -> str:
        return " ".join(w.text for w in self.page.words[i : j + 1])

    def _box(self, i: int, j: int) -> Box:
        return union([word_box(w) for w in self.page.words[i : j + 1]])

    @cached_property
    def numbers(self) -> dict[str, list[tuple[int, int, str]]]:
        """The runs made of number-like words, by their significant digits (`digit_key`)."""
        numeric = [bool(_NUMBER_WORD.fullmatch(w.text)) for w in self.page.words]
        found: dict[str, list[tuple[int, int, str]]] = {}
        for i, j, text in self.runs:
            if all(numeric[i : j + 1]):
                found.setdefault(digit_key(text), []).append((i, j, text))
        return found

    def _dates(self, value: date) -> list[tuple[date | tuple[int, int], int, int, str]]:
        """The runs that read as `value`, or as its day and month where no year is printed.
        A printed date shows its day's digits and its year's last two: only runs that do are
        parsed (each parse costs more than every other check here)."""
        from schemas.types import parse_date

        day, year = str(value.day), str(value.year)[-2:]
        found: list[tuple[date | tuple[int, int], int, int, str]] = []
        for i, j, text in self.runs:
            if day not in text:
                continue
            if year not in text:
                if len(text) <= _YEARLESS_CHARS and (text.endswith(".") or _has_letter(text)):
                    found += [(dm, i, j, text) for dm in _without_year(text)]
                continue
            readings = set()
            with suppress(ValueError):
                readings.add(parse_date(text))
            if m := _AMBIGUOUS_DATE.fullmatch(text):  # month first, too: 06/17/2024
                with suppress(ValueError):
                    readings.add(parse_date(f"{m[3]}{m[2]}{m[1]}{m[2]}{m[4]}"))
            found += [(reading, i, j, text) for reading in readings]
        return found

    @cached_property
    def folded(self) -> tuple[str, list[tuple[int, int, bool, bool]]]:
        """The page's letters and digits in one string, and for each: its word, its place in
        the word's text, whether a value may start before it and end after it."""
        chars: list[str] = []
        where: list[tuple[int, int, bool, bool]] = []
        for index, word in enumerate(self.page.words):
            text = unicodedata.normalize("NFKC", word.text).casefold()
            if text.isascii() and text.isalnum():  # most words: one value-bounded run
                last = len(text) - 1
                chars.append(text)
                where += [(index, k, k == 0, k == last) for k in range(len(text))]
                continue
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
            if where[start][2] and where[end][3] and self._together(where[start][0], where[end][0]):
                spans.append(self._text_span(value, start, end))
            start = haystack.find(needle, start + 1)
        return spans

    def _together(self, first: int, last: int) -> bool:
        """Whether words first..last may be one printed value: no word further below the one
        before it than a line's height (a value goes on over lines, it does not skip any)."""
        words = self.page.words[first : last + 1]
        return all(b.y0 - a.y1 <= a.y1 - a.y0 for a, b in zip(words, words[1:], strict=False))

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
        from schemas.types import parse_money

        spans = []
        for i, j, text in self.numbers.get(digit_key(str(abs(value))), []):
            try:
                readings = {abs(parse_money(text))}
            except ValueError:
                continue
            if _GROUPED.fullmatch(digits := re.sub(r"[^\d.,]", "", text)):
                readings.add(Decimal(re.sub(r"\D", "", digits)))  # "1.000 kWh": a thousand
            if abs(value) in readings:
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
        for day, i, j, text in self._dates(value):
            if day == value or day == (value.day, value.month):
                exact = text == value.isoformat()
                quality = MatchQuality.exact if exact else MatchQuality.normalised
                if isinstance(day, tuple):
                    quality = MatchQuality.fuzzy  # the year is the page's, not printed here
                spans.append(Span(self.page, i, j, self._box(i, j), quality))
        return _outermost(spans)

    def time_spans(self, value: time) -> list[Span]:
        """The runs that read as the time of day `value` ("14:05", "2:05 pm", "14.05"), read
        by the schema's own time parser; exact where printed as `value` is, to the minute when
        it has no seconds. Only runs that show the minute's digits are parsed."""
        from schemas.types import parse_time

        minute = f"{value.minute:02d}"
        exact = {value.strftime("%H:%M:%S")}
        if not value.second:
            exact.add(value.strftime("%H:%M"))
        spans = []
        for i, j, text in self.runs:
            if minute not in text:
                continue
            with suppress(ValueError):
                if parse_time(text) == value:
                    quality = MatchQuality.exact if text in exact else MatchQuality.normalised
                    spans.append(Span(self.page, i, j, self._box(i, j), quality))
        return _outermost(spans)


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def digit_key(text: str) -> str:
    """The significant digits of a printed number: its digits without leading or trailing
    zeros ("1.234,50" and "1234.5" are both "12345"), so that no reading of its separators
    is needed to find the candidates for a value."""
    return "".join(ch for ch in text if ch.isdigit()).strip("0")


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
