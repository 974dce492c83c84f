"""`run --review-below` and the review page's boxes: a real grounded run over PyMuPDF invoices
(one with a seller printed nowhere), its Parquet tables and summary, and the page read back with
html.parser and clicked in headless Chromium where it is installed."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.eval.review import write_review
from pipeline.output.current import current_row_dicts
from tests.review_boxes_helpers import UNPRINTED_SELLER, grounded_run, make_inbox

runner = CliRunner()
_PERCENT = re.compile(r"(left|top|width|height):([0-9.]+)%")


class BoxesOutline(HTMLParser):
    """The cards, boxes, located-field rows and filter buttons of a review page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.cards: dict[str, dict[str, str | None]] = {}  # source path -> the card's attrs
        self.boxes: dict[str, dict[str, str | None]] = {}
        self.rows: list[dict[str, Any]] = []
        self.buttons: list[str] = []
        self.scripts = 0
        self._card: dict[str, str | None] = {}
        self._in_path = False
        self.feed(html)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        classes = (attrs.get("class") or "").split()
        if tag == "article":
            self._card = attrs
        elif tag == "span" and "path" in classes:
            self._in_path = True
        elif tag == "div" and "box" in classes:
            self.boxes[str(attrs["id"])] = {**attrs, "card": self._card.get("id")}
        elif tag == "tr" and "field-row" in classes:
            self.rows.append({**attrs, "card": self._card.get("id"), "classes": classes})
        elif tag == "button" and attrs.get("data-filter"):
            self.buttons.append(str(attrs["data-filter"]))
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if self._in_path:
            self.cards[data] = self._card
            self._in_path = False


@pytest.fixture(scope="module")
def grounded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A grounded run with --review-below 0.5 and its review page."""
    root = tmp_path_factory.mktemp("grounded")
    inbox = make_inbox(root / "inbox")
    out = root / "out"
    report = grounded_run(root / "inbox", out, review_below=0.5)
    (page,) = write_review(out)
    html = page.read_text(encoding="utf-8")
    return {"inbox": inbox, "out": out, "report": report, "page": page, "html": html,
            "outline": BoxesOutline(html)}  # fmt: skip


def _fields(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    rows = current_row_dicts(out, "invoice", "fields")
    return {(Path(row["source_path"]).name, row["field"]): row for row in rows}


def test_fields_under_the_threshold_are_marked_and_their_document_warned(grounded) -> None:  # type: ignore[no-untyped-def]
    fields = _fields(grounded["out"])
    marked = sorted(key for key, row in fields.items() if row["needs_review"])
    assert marked == [("unsure.pdf", "seller.name")]
    seller = fields[("unsure.pdf", "seller.name")]
    assert (seller["value"], seller["confidence"]) == (UNPRINTED_SELLER, 0.0)
    assert seller["on_page"] is None and seller["nx0"] is None
    assert fields[("clean.pdf", "seller.name")]["confidence"] == 1.0
    assert all(row["needs_review"] is False for key, row in fields.items() if key not in marked)
    assert fields[("clean.pdf", "due_date")]["value"] is None  # no value: never marked

    rows = current_row_dicts(grounded["out"], "invoice")
    documents = {Path(row["source_path"]).name: row for row in rows}
    assert documents["clean.pdf"]["status"] == "ok" and documents["clean.pdf"]["warnings"] == []
    (warning,) = documents["unsure.pdf"]["warnings"]
    assert documents["unsure.pdf"]["status"] == "warning" and warning["code"] == "needs_review"
    assert "seller.name (0.00)" in warning["message"] and "under 0.5" in warning["message"]


def test_the_run_summary_counts_the_warning(grounded) -> None:  # type: ignore[no-untyped-def]
    report = grounded["report"]
    summary = json.loads(
        (grounded["out"] / ".docextract" / "runs" / f"{report.run_id}.json").read_text()
    )
    assert (summary["extracted"], summary["with_warnings"], summary["failed"]) == (2, 1, 0)
    assert summary["warnings_by_code"] == {"needs_review": 1}


def test_without_review_below_nothing_is_marked(tmp_path: Path) -> None:
    make_inbox(tmp_path / "inbox")
    report = grounded_run(tmp_path / "inbox", tmp_path / "out")
    assert report.with_warnings == 0 and dict(report.warnings_by_code) == {}
    assert {row["needs_review"] for row in _fields(tmp_path / "out").values()} == {None}


def test_review_below_without_grounding_is_a_usage_error(tmp_path: Path) -> None:
    make_inbox(tmp_path / "inbox")
    args = ["run", str(tmp_path / "inbox"), "--out", str(tmp_path / "out"), "--engine", "null"]
    refused = runner.invoke(app, [*args, "--review-below", "0.5"])
    assert refused.exit_code == 2, refused.output
    assert "review_below" in refused.output and "--grounding" in refused.output
    assert not (tmp_path / "out" / "invoice").exists()
    above_one = runner.invoke(app, [*args, "--grounding", "--review-below", "1.5"])
    assert above_one.exit_code == 2 and "review_below" in above_one.output


def test_each_located_field_has_its_box_at_its_normalised_place(grounded) -> None:  # type: ignore[no-untyped-def]
    outline: BoxesOutline = grounded["outline"]
    fields = _fields(grounded["out"])
    placed = [key for key, row in fields.items() if row["nx0"] is not None]
    assert len(placed) == 17 and len(outline.boxes) == len(placed)
    names = {card["id"]: name for name, card in
             ((Path(path).name, card) for path, card in outline.cards.items())}  # fmt: skip
    for row in outline.rows:
        field = fields[(names[row["card"]], row["data-field"])]
        if field["nx0"] is None:
            assert "data-box" not in row, row
            continue
        box = outline.boxes[row["data-box"]]
        assert box["data-row"] == row["id"] and box["data-field"] == row["data-field"]
        assert box["card"] == row["card"]
        place = {name: float(value) for name, value in _PERCENT.findall(str(box["style"]))}
        assert place["left"] == pytest.approx(field["nx0"] * 100, abs=1e-3)
        assert place["top"] == pytest.approx(field["ny0"] * 100, abs=1e-3)
        assert place["width"] == pytest.approx((field["nx1"] - field["nx0"]) * 100, abs=1e-3)
        assert place["height"] == pytest.approx((field["ny1"] - field["ny0"]) * 100, abs=1e-3)


def test_fields_are_listed_least_sure_first(grounded) -> None:  # type: ignore[no-untyped-def]
    outline: BoxesOutline = grounded["outline"]
    unsure = outline.cards[str(grounded["inbox"]["unsure"])]["id"]
    rows = [row for row in outline.rows if row["card"] == unsure]
    assert rows[0]["data-field"] == "seller.name" and "needs-review" in rows[0]["classes"]
    assert sum("needs-review" in row["classes"] for row in rows) == 1
    fields = _fields(grounded["out"])
    valued = [row for row in rows if fields[("unsure.pdf", row["data-field"])]["value"] is not None]
    confidences = [float(row["data-confidence"]) for row in valued]
    assert confidences == sorted(confidences) and rows[: len(valued)] == valued


def test_the_needs_review_filter_names_the_unsure_document_only(grounded) -> None:  # type: ignore[no-untyped-def]
    outline: BoxesOutline = grounded["outline"]
    assert outline.buttons == ["all", "failed", "warned", "review"]
    assert "Needs review (1)" in grounded["html"]
    filters = {Path(path).name: card["data-filters"] for path, card in outline.cards.items()}
    assert filters == {"unsure.pdf": "all warned review", "clean.pdf": "all"}


def test_a_value_from_the_document_is_escaped(grounded) -> None:  # type: ignore[no-untyped-def]
    html = grounded["html"]
    assert grounded["outline"].scripts == 1
    assert "<script>alert(1)" not in html
    assert "Phantom &lt;script&gt;alert(1)&lt;/script&gt; AG" in html


def test_review_below_at_review_time_marks_by_its_own_threshold(grounded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "strict.html"
    result = runner.invoke(app, ["review", str(grounded["out"]), "-o", str(target),
                                 "--review-below", "0.95"])  # fmt: skip
    assert result.exit_code == 0, result.output
    outline = BoxesOutline(target.read_text(encoding="utf-8"))
    assert all("review" in str(card["data-filters"]) for card in outline.cards.values())
    marked = {row["data-field"] for row in outline.rows if "needs-review" in row["classes"]}
    assert marked == {"seller.name", "issue_date", "kind", "net_total", "tax_total", "grand_total"}


# --- headless Chromium ---------------------------------------------------------------------


@pytest.fixture
def browser(grounded, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The review page open in headless Chromium (skips where it is not installed)."""
    from tests.chromium_pipe import Chromium

    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    page = Chromium(binary, tmp_path / "profile", grounded["page"].as_uri(), (1280, 1000))
    yield page
    page.close()


_SELECTED = "Array.from(document.querySelectorAll('.selected')).map(e => e.id).sort().join(' ')"


@pytest.mark.slow
def test_clicking_a_field_row_highlights_its_box_and_back(grounded, browser) -> None:  # type: ignore[no-untyped-def]
    outline: BoxesOutline = grounded["outline"]
    first, second = [row for row in outline.rows if "data-box" in row][:2]
    browser.click(f"#{first['id']}")
    assert browser.evaluate(_SELECTED) == " ".join(sorted([first["data-box"], first["id"]]))
    browser.click(f"#{second['data-box']}")  # a real mouse click on the box over the page
    assert browser.evaluate(_SELECTED) == " ".join(sorted([second["data-box"], second["id"]]))
    assert browser.evaluate(f"document.getElementById('{second['data-box']}').offsetWidth") > 0


@pytest.mark.slow
def test_the_needs_review_button_hides_the_other_documents(grounded, browser) -> None:  # type: ignore[no-untyped-def]
    browser.click("button[data-filter=review]")
    browser.wait_for("document.querySelector('[data-filter=review]').ariaPressed === 'true'")
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('article')).filter(a => !a.hidden)"
        ".map(a => a.querySelector('.path').textContent)"
    )
    assert shown == [str(grounded["inbox"]["unsure"])]
