"""How sure the model was of each value it wrote: the answer's tokens mapped onto its JSON.

`value_spans` walks the answer's JSON text and records where each scalar value is written,
by the path the fields table uses (`line_items[2].line_total`); `token_spans` places each
answer token on the characters of the text; `value_probabilities` joins them: a value's
probability is that of its least sure token, exp(min log-probability).
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections.abc import Sequence

Span = tuple[int, int]

_REPLACEMENT = "\ufffd"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LITERALS = ("true", "false", "null")
_WHITESPACE = " \t\n\r"


class AnswerNotJSON(ValueError):
    """The answer's text is not one JSON value the scanner can walk."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.spans: dict[str, Span] = {}

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in _WHITESPACE:
            self.at += 1

    def expect(self, char: str) -> None:
        self.skip()
        if not self.text.startswith(char, self.at):
            raise AnswerNotJSON(f"{char!r} expected at {self.at}")
        self.at += 1

    def string(self) -> tuple[str, Span]:
        """The string at the cursor, decoded, and the span of its characters between the
        quotes (of the quotes themselves when it is empty)."""
        found = _STRING.match(self.text, self.at)
        if found is None:
            raise AnswerNotJSON(f"string expected at {self.at}")
        start, end = found.span()
        self.at = end
        inner = (start + 1, end - 1) if end - start > 2 else (start, end)
        return json.loads(found.group()), inner

    def value(self, path: str) -> None:
        self.skip()
        char = self.text[self.at : self.at + 1]
        if char == "{":
            self.members(path)
        elif char == "[":
            self.items(path)
        elif char == '"':
            self.spans[path] = self.string()[1]
        else:
            found = _NUMBER.match(self.text, self.at)
            word = next((w for w in _LITERALS if self.text.startswith(w, self.at)), None)
            end = found.end() if found else self.at + len(word) if word else -1
            if end < 0:
                raise AnswerNotJSON(f"value expected at {self.at}")
            self.spans[path] = (self.at, end)
            self.at = end

    def members(self, path: str) -> None:
        self.expect("{")
        self.skip()
        if self.text.startswith("}", self.at):
            self.at += 1
            return
        while True:
            self.skip()
            key, _ = self.string()
            self.expect(":")
            self.value(f"{path}.{key}" if path else key)
            self.skip()
            if self.text.startswith(",", self.at):
                self.at += 1
                continue
            self.expect("}")
            return

    def items(self, path: str) -> None:
        self.expect("[")
        self.skip()
        if self.text.startswith("]", self.at):
            self.at += 1
            return
        index = 0
        while True:
            self.value(f"{path}[{index}]")
            index += 1
            self.skip()
            if self.text.startswith(",", self.at):
                self.at += 1
                continue
            self.expect("]")
            return


def value_spans(text: str) -> dict[str, Span]:
    """Where each scalar value of the JSON `text` is written: path -> (start, end) character
    offsets. A string's span is its characters between the quotes (escapes as written; the
    two quotes for an empty string); a number, true, false or null is the literal. Paths name
    object members by key and list items by index: `line_items[2].line_total`. Raises
    AnswerNotJSON when `text` is not a JSON value (whitespace around it is allowed)."""
    scanner = _Scanner(text)
    try:
        scanner.value("")
    except (IndexError, json.JSONDecodeError) as exc:
        raise AnswerNotJSON(str(exc)) from exc
    scanner.skip()
    if scanner.at != len(text):
        raise AnswerNotJSON(f"text after the JSON value at {scanner.at}")
    return scanner.spans


def token_spans(tokens: Sequence[str], text: str) -> list[Span]:
    """The characters of `text` each token wrote, in order: (start, end) offsets.

    Tokens are matched one after the other. A token that is not the text at that point is
    either part of a character (it reads U+FFFD, the character's other bytes being in the next
    tokens): such a run of tokens shares the characters up to where the next whole token
    matches; or a token that writes nothing (an end-of-answer token): it gets an empty span."""
    spans: list[Span] = [(0, 0)] * len(tokens)
    cursor = 0
    partial: list[int] = []
    for index, piece in enumerate(tokens):
        if not partial and text.startswith(piece, cursor):
            spans[index] = (cursor, cursor + len(piece))
            cursor += len(piece)
        elif _REPLACEMENT in piece:
            partial.append(index)
        elif partial and piece and (found := text.find(piece, cursor + 1)) >= 0:
            for held in partial:
                spans[held] = (cursor, found)
            partial = []
            spans[index] = (found, found + len(piece))
            cursor = found + len(piece)
        else:
            spans[index] = (cursor, cursor)
    for held in partial:
        spans[held] = (cursor, len(text))
    return spans


def value_probabilities(
    text: str, tokens: Sequence[str] | None, logprobs: Sequence[float] | None
) -> dict[str, float]:
    """The model's probability of each scalar value of the answer `text`, by path: exp of the
    smallest log-probability among the tokens that wrote any of its characters. The least sure
    token, not the mean, because one doubtful digit makes the whole value wrong however sure
    the others were; and a long value is not marked down for its length alone. Empty when the
    engine gave no log-probabilities or `text` is not JSON."""
    if tokens is None or logprobs is None or len(tokens) != len(logprobs):
        return {}
    try:
        values = value_spans(text)
    except AnswerNotJSON:
        return {}
    placed = token_spans(tokens, text)
    ends = [end for _, end in placed]
    found: dict[str, float] = {}
    for path, (start, end) in values.items():
        lowest = math.inf
        for index in range(bisect_right(ends, start), len(placed)):
            first, last = placed[index]
            if first >= end:
                break
            if last > start:
                lowest = min(lowest, logprobs[index])
        if lowest != math.inf:
            found[path] = math.exp(min(0.0, lowest))
    return found
