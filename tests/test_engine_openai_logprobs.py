"""Log-probabilities from an OpenAI-compatible server (a real HTTP stand-in on 127.0.0.1) into
the fields table's confidence; asked for only with grounding on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from pipeline.config import EngineConfig, OpenAIConfig
from pipeline.engines.openai import OpenAIEngine, parse_response
from tests.test_engine_openai import FakeServer, _completion, server  # noqa: F401 - fixture

ANSWER = {
    "invoice_number": "RE-77", "kind": "invoice", "issue_date": "2024-06-17", "currency": "EUR",
    "seller": {"name": "Lindenhof Maschinenbau GmbH"}, "buyer": {"name": "Sonnfeld Elektro GmbH"},
    "line_items": [], "net_total": "1000.00", "tax_total": "234.56", "grand_total": "1234.56",
}  # fmt: skip
TEXT = json.dumps(ANSWER, separators=(",", ":"), ensure_ascii=False)


def _pdf(folder: Path) -> Path:
    folder.mkdir()
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for x, y, text in [(50, 60, "Lindenhof Maschinenbau GmbH"), (350, 60, "Rechnungsnr. RE-77"),
                       (350, 74, "Datum 17.06.2024"), (50, 200, "Sonnfeld Elektro GmbH"),
                       (300, 400, "Nettobetrag"), (480, 400, "1 000,00"),
                       (300, 414, "USt. 19 %"), (480, 414, "EUR 234,56"),
                       (300, 428, "Gesamtbetrag"), (480, 428, "1.234,56 €")]:  # fmt: skip
        page.insert_text((x, y), text, fontsize=10, fontname="helv")
    doc.save(folder / "a.pdf")
    return folder


def _with_logprobs(doubt: dict[str, float]) -> dict[str, Any]:
    """The completion of ANSWER in three-character tokens, each with its bytes and logprob: 0
    (sure) except for the tokens of the values named in `doubt` (value -> probability)."""
    low: list[tuple[int, int, float]] = []
    for value, probability in doubt.items():
        start = TEXT.index(f'"{value}"') + 1
        low.append((start, start + len(value), math.log(probability)))
    content = []
    for at in range(0, len(TEXT), 3):
        token = TEXT[at : at + 3]
        logprob = min([lp for a, b, lp in low if at < b and at + 3 > a], default=0.0)
        content.append({"token": token, "logprob": logprob,
                        "bytes": list(token.encode()), "top_logprobs": []})  # fmt: skip
    completion = _completion(TEXT)
    completion["choices"][0]["logprobs"] = {"content": content}
    return completion


def _confidences(folder: Path, server: FakeServer, completion: dict[str, Any],  # noqa: F811
                 grounding: bool) -> dict[str, float]:  # fmt: skip
    import docextract

    server.script.append((200, {}, completion, 0.0))
    engine = OpenAIEngine(EngineConfig(name="openai", model="test-model", openai=OpenAIConfig(
        base_url=server.base_url, backoff_s=0.01, api_key_env="DOCX_TEST_KEY")))  # fmt: skip
    engine.start()
    try:
        [result] = docextract.extract(
            folder, engine=engine, retries=0,
            render={"dpi": 40, "workers": 1, "text_layer": grounding},
        )  # fmt: skip
    finally:
        engine.close()
    assert result.error is None, result.error
    return {f["field"]: f["confidence"] for f in result.fields}


def test_server_logprobs_flow_into_the_fields_confidence(server, tmp_path: Path) -> None:  # noqa: F811
    folder = _pdf(tmp_path / "in")
    plain = _confidences(folder, server, _completion(TEXT), grounding=False)
    assert plain == {} and "logprobs" not in server.bodies[-1]  # not asked without grounding
    text_only = _confidences(folder, server, _completion(TEXT), grounding=True)
    assert server.bodies[-1]["logprobs"] is True
    doubted = _confidences(folder, server, _with_logprobs({"1234.56": 0.5}), grounding=True)
    assert server.bodies[-1]["logprobs"] is True
    assert text_only["grand_total"] > 0
    assert doubted["grand_total"] == pytest.approx(text_only["grand_total"] * 0.5, abs=1e-4)
    sure = {path: c for path, c in doubted.items() if path != "grand_total"}
    assert sure == {path: text_only[path] for path in sure}  # the sure tokens change nothing
    assert doubted["invoice_number"] > 0.5


def test_the_response_logprobs_are_read_with_their_bytes() -> None:
    payload = _completion('{"a":"€"}')
    payload["choices"][0]["logprobs"] = {"content": [
        {"token": '{"a":"', "logprob": -0.01, "bytes": list(b'{"a":"')},
        {"token": "bytes:\\xe2\\x82", "logprob": -0.5, "bytes": [0xE2, 0x82]},
        {"token": "bytes:\\xac", "logprob": -0.2, "bytes": [0xAC]},
        {"token": '"}', "logprob": 0.0},  # no bytes given: the token's text
    ]}  # fmt: skip
    result = parse_response("r", payload, 0.1)
    assert result.logprobs == (-0.01, -0.5, -0.2, 0.0)  # type: ignore[union-attr]
    assert result.tokens == ('{"a":"', "\ufffd", "\ufffd", '"}')  # type: ignore[union-attr]
    for absent in (None, {}, {"content": None}, {"content": [{"token": "x"}]}):
        payload["choices"][0]["logprobs"] = absent
        assert parse_response("r", payload, 0.1).logprobs is None  # type: ignore[union-attr]
