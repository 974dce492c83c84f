"""A work item, one request's worth of work, and the one rule for item ids.

A document's item id is its content hash (`doc_id`); with --per-page, page N's (from 1) is
`<doc_id>:pN`. The ledger reads ids back with `document_of` and `is_page_item`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.records import Page, SourceFile, WarningRecord

_PAGE_MARK = ":p"


def page_item_id(doc_id: str, page: int) -> str:
    """The item id of page `page` (from 1) of a document."""
    return f"{doc_id}{_PAGE_MARK}{page}"


def is_page_item(item_id: str) -> bool:
    return _PAGE_MARK in item_id


def document_of(item_id: str) -> str:
    """The document id an item id belongs to (itself for a document's item)."""
    return item_id.split(_PAGE_MARK, 1)[0]


@dataclass
class WorkItem:
    """One request's worth of work: a document, or one page of it with --per-page.

    The pages are dropped (`release`) as soon as the item is settled, so memory is bounded by
    the requests in flight, not by how far the writer lags behind.
    """

    item_id: str
    source: SourceFile
    page_count: int
    pages: tuple[Page, ...]
    page: int | None
    render_warnings: tuple[WarningRecord, ...] = ()
    attempts: int = 0
    max_new_tokens: int = 0
    temperature: float = 0.0

    def __post_init__(self) -> None:
        self.page_total = len(self.pages)
        self.visual_tokens = sum(p.visual_tokens for p in self.pages)

    @property
    def path(self) -> str:
        return str(self.source.path)

    def release(self) -> None:
        self.pages = ()
