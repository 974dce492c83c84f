"""`docextract review`: real runs into OUT, then the page read back with html.parser and shown
in headless Chromium where it is installed."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import load_config
from pipeline.engines.base import EngineResult
from pipeline.engines.null import NullEngine
from pipeline.eval.review import write_review
from pipeline.eval.review_html import scalar_text
from pipeline.output.progress import PlainReporter
from pipeline.run import run_extraction
from tests.fixtures_documents import make_truncated_pdf
from tests.run_helpers import make_unique_pdf, read_table

runner = CliRunner()
SCRIPTED_SELLER = "Acme <script>alert(1)</script> GmbH"
WARNED_NAME = "warned <script>.pdf"


def invoice_answer(number: str, grand_total: str, amount_due: str) -> str:
    """A full invoice answer; net 125.00 plus tax 23.75 adds up to a grand total of 148.75."""
    return json.dumps(
        {
            "invoice_number": number,
            "kind": "invoice",
            "issue_date": "2024-03-01",
            "due_date": "2024-03-31",
            "seller": {"name": SCRIPTED_SELLER, "vat_id": "DE264831574"},
            "buyer": {"name": "Buyer & Co"},
            "currency": "EUR",
            "line_items": [
                {"description": "Widgets", "quantity": 10, "unit_price": 12.5,
                 "line_total": 125.0, "tax_rate": 19},
            ],
            "net_total": 125.0,
            "tax_total": 23.75,
            "grand_total": grand_total,
            "amount_due": amount_due,
        }
    )  # fmt: skip


# What the scripted model answers for a document of 1, 2 or 3 pages.
ANSWERS = {
    1: invoice_answer("INV2024001", "148.75", "148.75"),  # consistent: ok
    2: invoice_answer("INV2024002", "148.75", "200.00"),  # amount due above total: warning
    3: invoice_answer("INV2024003", "999.00", "999.00"),  # totals do not add up: error
}


class ScriptedEngine(NullEngine):
    """The null engine with fixed answers chosen by the number of pages in the request."""

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        return [
            dataclasses.replace(outcome, text=ANSWERS[len(request.images)])
            if isinstance(outcome, EngineResult)
            else outcome
            for request, outcome in zip(requests, outcomes, strict=True)
        ]


def run_into(inbox: Path, out: Path) -> None:
    """Extract `inbox` into `out` with the scripted engine (invoice schema)."""
    flags = {
        "inputs": [str(inbox)],
        "out": str(out),
        "retries": 0,
        "log_format": "plain",
        "render": {"dpi": 40, "workers": 1},
    }
    config = load_config(flags, None, {})
    run_extraction(config, engine=ScriptedEngine(), reporter=PlainReporter(io.StringIO()))


class Card:
    """What the page shows for one document, as html.parser reads it."""

    def __init__(self, attrs: dict[str, str | None]) -> None:
        self.status = attrs.get("data-status")
        self.hidden = "hidden" in attrs
        self.text: list[str] = []
        self.codes: list[str] = []
        self.images: list[str] = []

    @property
    def content(self) -> str:
        return " ".join(self.text)


class PageOutline(HTMLParser):
    """Document cards, scripts, images and filter buttons of a review page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.cards: list[Card] = []
        self.scripts = 0
        self.buttons: dict[str, str | None] = {}
        self.sections: dict[str, dict[str, str | None]] = {}
        self.sources: list[str] = []
        self._card: Card | None = None
        self._in_code = False
        self.feed(html)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "article":
            self._card = Card(attrs)
            self.cards.append(self._card)
        elif tag == "script":
            self.scripts += 1
        elif tag == "button" and attrs.get("data-filter"):
            self.buttons[str(attrs["data-filter"])] = attrs.get("aria-pressed")
        elif tag == "section" and attrs.get("id"):
            self.sections[str(attrs["id"])] = attrs
        elif tag in ("img", "link", "iframe", "object", "embed", "source"):
            self.sources.append(str(attrs.get("src") or attrs.get("href") or ""))
            if tag == "img" and self._card is not None:
                self._card.images.append(str(attrs.get("src")))
        self._in_code = tag == "code"

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._card is None:
            return
        self._card.text.append(data)
        if self._in_code:
            self._card.codes.append(data)

    def card(self, status: str) -> Card:
        (found,) = [card for card in self.cards if card.status == status]
        return found


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run over an ok, a warned and a broken invoice, and its review page."""
    root = tmp_path_factory.mktemp("review")
    inbox = root / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "paid.pdf", 1, "PAID")
    make_unique_pdf(inbox / WARNED_NAME, 2, "WARNED")
    make_truncated_pdf(inbox / "broken.pdf")
    out = root / "out"
    run_into(inbox, out)
    (page,) = write_review(out)
    html = page.read_text(encoding="utf-8")
    return {"inbox": inbox, "out": out, "page": page, "html": html, "outline": PageOutline(html)}


def test_the_page_shows_one_failed_and_one_warned_document(reviewed: dict[str, Any]) -> None:
    outline: PageOutline = reviewed["outline"]
    assert reviewed["page"] == reviewed["out"] / "invoice" / "review.html"
    assert [card.status for card in outline.cards] == ["failed", "warned", "ok"]
    assert "3 documents: 1 failed, 1 warned, 1 ok." in reviewed["html"]
    assert list(outline.buttons) == ["all", "failed", "warned"]

    (error,) = read_table(reviewed["out"], "invoice", "errors")
    failed = outline.card("failed")
    assert str(reviewed["inbox"] / "broken.pdf") in failed.content
    assert error["code"] in {"truncated", "corrupt"} and error["code"] in failed.codes
    assert error["message"] in failed.content
    assert "pages cannot be shown" in failed.content and failed.images == []

    warned = outline.card("warned")
    assert str(reviewed["inbox"] / WARNED_NAME) in warned.content
    assert "invoice.amount_due_exceeds_total" in warned.codes
    assert "amount_due 200.00 exceeds grand_total 148.75" in warned.content
    for shown in ("invoice_number", "INV2024002", "grand_total", "148.75", "2024-03-31",
                  "line_items", "Widgets", "DE264831574", "Buyer & Co"):  # fmt: skip
        assert shown in warned.text, shown
    assert len(warned.images) == 2

    ok = outline.card("ok")
    assert "INV2024001" in ok.text and len(ok.images) == 1
    assert ok.codes == [] and "Warnings" not in ok.text


def test_page_images_are_embedded_jpegs_of_the_pages(reviewed: dict[str, Any]) -> None:
    outline: PageOutline = reviewed["outline"]
    assert outline.sources
    assert all(src.startswith("data:image/jpeg;base64,") for src in outline.sources)
    image = Image.open(io.BytesIO(base64.b64decode(outline.card("ok").images[0].split(",", 1)[1])))
    assert image.format == "JPEG" and 200 < image.width <= 720 and image.height > image.width
    darkest, lightest = image.convert("L").getextrema()
    assert lightest > 200 and darkest < 100  # a white page with text on it, not a blank
    assert "http://" not in reviewed["html"] and "https://" not in reviewed["html"]


def test_every_string_from_the_data_is_escaped(reviewed: dict[str, Any]) -> None:
    outline: PageOutline = reviewed["outline"]
    html = reviewed["html"]
    assert outline.scripts == 1  # the page's own, none from the data
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "warned &lt;script&gt;.pdf" in html
    assert SCRIPTED_SELLER in outline.card("warned").text  # shown as text, intact
    assert "Buyer &amp; Co" in html


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> PageOutline:
    """A run with a rule violation and two sources that moved on afterwards: one deleted,
    one overwritten."""
    root = tmp_path_factory.mktemp("moved")
    inbox = root / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "totals.pdf", 3, "TOTALS")
    gone = make_unique_pdf(inbox / "gone.pdf", 1, "GONE")
    changed = make_unique_pdf(inbox / "changed.pdf", 1, "CHANGED")
    run_into(inbox, root / "out")
    gone.unlink()
    make_unique_pdf(changed, 1, "CHANGED AGAIN")
    (page,) = write_review(root / "out", "invoice")
    return PageOutline(page.read_text(encoding="utf-8"))


def test_a_rule_violation_shows_its_rules_and_the_models_answer(moved: PageOutline) -> None:
    failed = moved.card("failed")
    assert "rule_violation" in failed.codes and "invoice.total_mismatch" in failed.codes
    assert "The model's answer (not valid)" in failed.text
    assert "INV2024003" in failed.text and "999.00" in failed.text
    assert len(failed.images) == 3


def test_sources_gone_or_changed_get_a_note_instead_of_pages(moved: PageOutline) -> None:
    ok = [card for card in moved.cards if card.status == "ok"]
    notes = sorted(card.content for card in ok)
    assert len(ok) == 2 and all(card.images == [] for card in ok)
    assert "changed since it was extracted" in notes[0] and "changed.pdf" in notes[0]
    assert "source file not found" in notes[1] and "gone.pdf" in notes[1]


def test_review_command_prints_the_page_it_wrote(reviewed: dict[str, Any], tmp_path) -> None:
    target = tmp_path / "clerk.html"
    result = runner.invoke(
        app, ["review", str(reviewed["out"]), "--schema", "invoice", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target)
    assert [c.status for c in PageOutline(target.read_text()).cards] == ["failed", "warned", "ok"]


def test_review_command_usage_errors_exit_2(reviewed: dict[str, Any], tmp_path: Path) -> None:
    missing = runner.invoke(app, ["review", str(tmp_path / "no-such-out")])
    assert missing.exit_code == 2 and "no-such-out" in missing.output
    assert "no such folder" in missing.output
    wrong = runner.invoke(app, ["review", str(reviewed["out"]), "--schema", "receipt"])
    assert wrong.exit_code == 2 and "receipt" in wrong.output and "invoice" in wrong.output
    empty = runner.invoke(app, ["review", str(tmp_path)])
    assert empty.exit_code == 2 and "no documents or errors tables" in empty.output


def test_amounts_read_as_amounts() -> None:
    assert scalar_text(Decimal("12.5000")) == "12.50"
    assert scalar_text(Decimal("0.1250")) == "0.125"
    assert scalar_text(Decimal("-3")) == "-3.00"
    assert scalar_text(True) == "yes"


# --- headless Chromium ---------------------------------------------------------------------


@pytest.fixture
def chromium(tmp_path: Path):
    """Run Debian's chromium headless (skips where it is not installed); returns a function
    of the extra arguments that gives chromium's stdout."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")

    def launch(*args: str) -> str:
        profile = f"--user-data-dir={tmp_path / 'profile'}"
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", profile, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return launch


@pytest.mark.slow
@pytest.mark.parametrize(
    ("wanted", "visible"),
    [("all", ["failed", "warned", "ok"]), ("failed", ["failed"]), ("warned", ["warned"])],
)
def test_chromium_shows_only_the_filtered_documents(
    reviewed: dict[str, Any], chromium, wanted: str, visible: list[str]
) -> None:
    fragment = "" if wanted == "all" else f"#{wanted}"
    dom = PageOutline(chromium("--dump-dom", reviewed["page"].as_uri() + fragment))
    assert len(dom.cards) == 3
    assert [card.status for card in dom.cards if not card.hidden] == visible
    assert [name for name, pressed in dom.buttons.items() if pressed == "true"] == [wanted]
    errors_hidden = "hidden" in dom.sections["errors-table"]
    assert errors_hidden is (wanted == "warned")


@pytest.mark.slow
def test_chromium_screenshot_of_the_page(reviewed: dict[str, Any], chromium, tmp_path) -> None:
    shot = tmp_path / "review.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", reviewed["page"].as_uri())
    image = Image.open(shot)
    assert image.format == "PNG" and image.size == (1280, 1600)
    colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # text, badges and page images, not a blank
