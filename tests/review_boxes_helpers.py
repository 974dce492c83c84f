"""A grounded run for the review page's boxes and `--review-below`: real PDFs written with
PyMuPDF, answered by an engine that gives each document its truth (chosen by its page count),
one value of which is printed nowhere."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pymupdf

from pipeline.config import load_config
from pipeline.engines.base import EngineResult
from pipeline.engines.null import NullEngine
from pipeline.output.progress import PlainReporter
from pipeline.output.report import RunReport
from pipeline.run import run_extraction

UNPRINTED_SELLER = "Phantom <script>alert(1)</script> AG"
PRINTED_SELLER = "Lindenhof Maschinenbau GmbH"


def truth(number: str, seller: str) -> dict[str, Any]:
    return {
        "invoice_number": number, "kind": "invoice", "issue_date": "2024-06-17",
        "currency": "EUR", "seller": {"name": seller}, "buyer": {"name": "Sonnfeld Elektro GmbH"},
        "line_items": [], "net_total": "1000.00", "tax_total": "190.00", "grand_total": "1190.00",
    }  # fmt: skip


# What the engine answers for a document of 1 or 2 pages: all printed, or the seller not.
ANSWERS = {1: truth("RE-1001", PRINTED_SELLER), 2: truth("RE-1002", UNPRINTED_SELLER)}


def write_invoice(path: Path, number: str, pages: int) -> Path:
    """An invoice whose every value is printed on its first page (the seller as
    PRINTED_SELLER), with blank further pages."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for x, y, text in [
        (50, 60, PRINTED_SELLER), (50, 74, "Hafenstraße 3, 12345 Musterstadt"),
        (350, 60, "Invoice"), (350, 80, f"Number {number}"), (350, 94, "Date 17.06.2024"),
        (50, 160, "Bill to: Sonnfeld Elektro GmbH"),
        (300, 400, "Net amount"), (470, 400, "1.000,00"),
        (300, 414, "VAT 19 %"), (470, 414, "190,00"),
        (300, 428, "Total"), (470, 428, "1.190,00 EUR"),
    ]:  # fmt: skip
        page.insert_text((x, y), text, fontsize=10, fontname="helv")
    for _ in range(pages - 1):
        doc.new_page(width=595, height=842).insert_text((50, 60), "Terms and conditions")
    doc.save(path)
    doc.close()
    return path


def make_inbox(inbox: Path) -> dict[str, Path]:
    inbox.mkdir(parents=True, exist_ok=True)
    return {
        "clean": write_invoice(inbox / "clean.pdf", "RE-1001", 1),
        "unsure": write_invoice(inbox / "unsure.pdf", "RE-1002", 2),
    }


class TruthByPages(NullEngine):
    """The null engine answering each request with ANSWERS for its number of pages."""

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        return [
            dataclasses.replace(outcome, text=json.dumps(ANSWERS[len(request.images)]))
            if isinstance(outcome, EngineResult)
            else outcome
            for request, outcome in zip(requests, outcomes, strict=True)
        ]


def grounded_run(inbox: Path, out: Path, review_below: float | None = None) -> RunReport:
    """Extract `inbox` into `out` with grounding on (and `review_below`)."""
    flags = {
        "inputs": [str(inbox)], "out": str(out), "retries": 0, "log_format": "plain",
        "render": {"dpi": 40, "workers": 1, "text_layer": True}, "review_below": review_below,
    }  # fmt: skip
    config = load_config(flags, None, {})
    return run_extraction(config, engine=TruthByPages(), reporter=PlainReporter(io.StringIO()))
