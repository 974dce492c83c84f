"""A work item, one request's worth of work, and the one rule for item ids.

A document's item id is its content hash (`doc_id`); with --per-page, page N's (from 1) is
`<doc_id>:pN`; a file with no content to read is `path:<its path>`. The ledger reads ids back
with `document_of`, `is_page_item` and `is_path_item`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ErrorCode, Stage
from pipeline.records import ErrorRecord, Page, RenderedDocument, SourceFile, WarningRecord

_PAGE_MARK = ":p"

EINVOICE_MODEL = "einvoice"
"""The `model` of every row whose data is an e-invoice's XML (prefer and verify alike), in the
documents table and in the ledger's key: the XML is one extraction, whatever model a run names,
so re-runs skip it however their engine changes, and a model-only run (keyed by its own model)
adds the model's reading beside it, told apart by `model` like any two models' rows."""

TEXT_LAYER_ENGINE = "text_layer"
"""The `engine` of a row read from a PDF page's own text layer (a page_text run's born-digital
pages): no model and no placeholder, so it goes with a dry run's rows and a model's alike."""

DRY_RUN_ENGINE = "null"
"""The engine of a dry run: it answers every document with a placeholder, never read from the
document. Its rows never share an output folder with a model's (`pipeline.output.admission`)."""

DRY_RUN_MODEL = "none"
"""The model the dry-run engine names when none is given."""


def page_item_id(doc_id: str, page: int) -> str:
    """The item id of page `page` (from 1) of a document."""
    return f"{doc_id}{_PAGE_MARK}{page}"


def is_page_item(item_id: str) -> bool:
    return _PAGE_MARK in item_id


PATH_ITEM = "path:"
"""The start of the item id of a file that had no content to read (not found, empty,
unreadable): it is known by its path, since it has no content hash."""


def path_item_id(path: str) -> str:
    return f"{PATH_ITEM}{path}"


def is_path_item(item_id: str) -> bool:
    return item_id.startswith(PATH_ITEM)


def document_of(item_id: str) -> str:
    """The document id an item id belongs to (itself for a document's item)."""
    return item_id.split(_PAGE_MARK, 1)[0]


@dataclass
class WorkItem:
    """One request's worth of work: a document, or one page of it with --per-page.

    The pages are dropped (`release`) as soon as the item is settled, so memory is bounded by
    the requests in flight, not by how far the writer lags behind; their numbers and text
    layers and sizes stay (`page_numbers`, `page_texts`, `page_sizes`), to locate the answer's
    fields in and place its lines.
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
        self.page_numbers = tuple(p.index + 1 for p in self.pages)
        self.page_texts = tuple(p.text for p in self.pages if p.text is not None)
        self.page_sizes = tuple(p.size_in_points for p in self.pages)

    @property
    def path(self) -> str:
        return str(self.source.path)

    def release(self) -> None:
        self.pages = ()


def work_items(
    document: RenderedDocument, per_page: bool, max_pages: int
) -> list[WorkItem | ErrorRecord]:
    """The work a rendered document (or window of one) gives: one item for the document, or
    with `per_page` one per page; a render failure or a document over `max_pages` pages is an
    error to record instead. With `per_page`, the pages rendered before a failing page are
    items, and the failure is recorded as that page's."""
    source = document.source
    if not per_page:
        if document.error is not None:
            return [document.error]
        if document.page_count > max_pages:
            return [too_many_pages(source, document.page_count, max_pages)]
        whole = WorkItem(
            source.sha256, source, document.page_count, document.pages, None, document.warnings
        )
        return [whole]
    items: list[WorkItem | ErrorRecord] = [
        WorkItem(
            page_item_id(source.sha256, page.index + 1),
            source,
            document.page_count,
            (page,),
            page.index + 1,
            document.warnings,
        )
        for page in document.pages
    ]
    if document.error is not None:
        items.append(document.error)
    return items


def failure_item(record: ErrorRecord, per_page: bool) -> tuple[str, int | None]:
    """(item id, page) under which a render failure is recorded: with `per_page`, a failure
    about one page is that page's item, so its sibling pages' results leave it standing;
    otherwise it is the document's."""
    page = record.page if per_page else None
    return (record.doc_id if page is None else page_item_id(record.doc_id, page)), page


def too_many_pages(source: SourceFile, page_count: int, max_pages: int) -> ErrorRecord:
    """The failure of a document over --max-pages (without --per-page)."""
    return ErrorRecord(
        source.sha256,
        str(source.path),
        Stage.RENDER,
        ErrorCode.TOO_MANY_PAGES,
        f"{source.path}: {page_count} pages, more than --max-pages {max_pages}; raise "
        "--max-pages or run with --per-page",
    )


def killed_engine(source: SourceFile, page: int | None = None) -> ErrorRecord:
    """The failure of a document (or page) that the engine's processes died reading alone
    (`pipeline.policy.read_alone`)."""
    return ErrorRecord(
        source.sha256,
        str(source.path),
        Stage.ENGINE,
        ErrorCode.KILLED_ENGINE,
        f"{source.path}: the engine's processes died while this was its only request; it is not "
        "asked again (--retry-errors asks it again)",
        page,
    )
