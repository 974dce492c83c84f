"""--dry-run: every input and what a run would do with it, with pages and visual tokens estimated
from page geometry.

Each file gets a fate: `extract` (sent to the model), `read from XML` (an e-invoice's XML gives
its row), `fail` (the run would record this error: the same code and message, `killed_engine`
for a document the engine died reading alone), `already done`
or `still failed` (the ledger holds it; --force or --retry-errors redo it), `duplicate` (the
same content as another input, extracted once). Nothing is rendered: PDF page boxes and image
headers give the sizes and the refusals (`pipeline.inputs.preflight`), and the pixel budget
gives the tokens, so a dry run over a large inbox takes seconds. The tokens are those the model
reads: a page_text run reads a page whose text layer has words without it (no tokens), and
--model-boxes sends each page without words once more, alone (its tokens twice); where either
applies, each PDF page's text layer is looked at for words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.config import RunConfig
from pipeline.inputs.preflight import Preflight, preflight
from pipeline.items import failure_item, killed_engine, page_item_id, too_many_pages
from pipeline.policy import ERROR, read_alone
from pipeline.records import ErrorRecord, SourceFile

if TYPE_CHECKING:
    from pipeline.extract.plan import CommittedCheck, WorkPlan

EXTRACT, FROM_XML, FAIL = "extract", "read from XML", "fail"
DONE, STILL_FAILED, DUPLICATE = "already done", "still failed", "duplicate"


def estimate_plan(
    plan: WorkPlan, config: RunConfig, committed: CommittedCheck, page_text: bool = False
) -> list[dict[str, Any]]:
    """One entry per input file, by path: path, kind, fate, pages and visual tokens (None where
    unknown), the error `code` and message (`problem`) of a predicted failure (of the file, or
    with --per-page of pages of a file whose other pages are extracted), and the file a
    duplicate or an earlier run's copy repeats (`copy_of`). A document read from its e-invoice
    XML costs no tokens, nor does a page a `page_text` run reads from its text layer. With
    --per-page, the pages `committed` holds are skipped, as a run skips them after rendering."""
    _suspects, killers = read_alone(plan.engine_deaths)
    entries = [
        _failure(killed_engine(source), str(source.kind))
        if source.sha256 in killers
        else estimate_source(source, config, committed, page_text, killers)
        for source in plan.sources
    ]
    for row in plan.from_xml:
        kind = f"{row.source.kind}, e-invoice XML"
        entries.append(_entry(str(row.source.path), kind, FROM_XML, row.page_count, 0))
    entries += [_failure(record, "e-invoice XML") for record in plan.xml_errors]
    entries += [_failure(record, "") for record in plan.errors]
    for skip in plan.skips:
        fate = STILL_FAILED if skip.status == ERROR else DONE
        entries.append(_entry(skip.path, skip.kind, fate, copy_of=skip.copy_of))
    for first, copies in plan.also_at.items():
        entries += [_entry(path, "", DUPLICATE, copy_of=first) for path in copies]
    return sorted(entries, key=lambda entry: entry["path"])


def estimate_source(
    source: SourceFile,
    config: RunConfig,
    committed: CommittedCheck,
    page_text: bool = False,
    killers: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """What a run would do with a document it sends to be rendered: extract it, with its pages
    and the visual tokens the model reads (`page_costs`), or record the failure its render would
    (without --per-page, over --max-pages too). With --per-page, a page the engine died reading
    alone (its item id in `killers`) is not asked again (`_pages_left`)."""
    window = None if config.per_page else config.max_pages
    model_boxes = config.render.model_boxes and not page_text
    checked = preflight(source, config.render, window, words=page_text or model_boxes)
    path, kind, pages = str(source.path), str(source.kind), checked.page_count
    if checked.error is not None:
        item_id, _page = failure_item(checked.error, config.per_page)
        status = committed.skipped_status(item_id) if config.per_page else None
        if status is not None:
            return _entry(path, kind, STILL_FAILED if status == ERROR else DONE, pages)
        return _failure(checked.error, kind, pages)
    if window is not None and pages is not None and pages > window:
        return _failure(too_many_pages(source, pages, window), kind, pages)
    tokens = dict(enumerate(page_costs(checked, page_text, model_boxes), start=1))
    if config.per_page:
        return _pages_left(source, pages, tokens, committed, killers)
    return _entry(path, kind, EXTRACT, pages, sum(tokens.values()))


def _pages_left(
    source: SourceFile,
    pages: int | None,
    tokens: dict[int, int],
    committed: CommittedCheck,
    killers: frozenset[str] | set[str],
) -> dict[str, Any]:
    """With --per-page, what a run would ask of `source` (`tokens`: page -> visual tokens): its
    pages less those committed and those the engine died reading alone, which fail
    (`killed_engine`, the entry's problem; its fate where no other page is left to read)."""
    path, kind = str(source.path), str(source.kind)
    ids = {n: page_item_id(source.sha256, n) for n in tokens}
    undone, failed = committed.undone(list(ids.values()))
    if not undone:
        return _entry(path, kind, STILL_FAILED if failed else DONE, pages)
    asked = [n for n in tokens if ids[n] in undone]
    lost = [n for n in asked if ids[n] in killers]
    left = sum(tokens[n] for n in asked if ids[n] not in killers)
    if not lost:
        return _entry(path, kind, EXTRACT, pages, left)
    record = killed_engine(source, lost[0])
    numbers = ("page " if len(lost) == 1 else "pages ") + ", ".join(map(str, lost))
    fate, tokens_left = (EXTRACT, left) if len(lost) < len(undone) else (FAIL, None)
    entry = _entry(path, kind, fate, pages, tokens_left)
    return {**entry, "code": str(record.code), "problem": f"{numbers}: {record.message}"}


def page_costs(checked: Preflight, page_text: bool, model_boxes: bool) -> list[int]:
    """The visual tokens the model reads of each page `checked`: none for a page a page_text run
    reads from its text layer (one with words); twice for a page without words under
    --model-boxes (its document's request, then one for its lines)."""
    if not (page_text or model_boxes):
        return list(checked.tokens)
    pages = zip(checked.tokens, checked.has_words, strict=True)
    if page_text:
        return [0 if words else tokens for tokens, words in pages]
    return [tokens if words else 2 * tokens for tokens, words in pages]


def _entry(
    path: str,
    kind: str,
    fate: str,
    pages: int | None = None,
    tokens: int | None = None,
    copy_of: str | None = None,
) -> dict[str, Any]:
    return {
        "path": path, "kind": kind, "fate": fate, "pages": pages, "visual_tokens": tokens,
        "code": None, "problem": None, "copy_of": copy_of,
    }  # fmt: skip


def _failure(record: ErrorRecord, kind: str, pages: int | None = None) -> dict[str, Any]:
    """The entry of an input that the run would record as failed, as it would record it."""
    entry = _entry(record.path, kind, FAIL, pages)
    return {**entry, "code": str(record.code), "problem": record.message}
