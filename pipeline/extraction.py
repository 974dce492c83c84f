"""One run's moving parts, joined by bounded queues inside one event loop.

render pool (own thread) -> dispatch -> lanes (requests in flight to the engine) -> validate,
with bounded retries -> rows for the background writer. Memory is bounded by the queues and the
requests in flight, never by the size of the input.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.catalog import SchemaSpec
from pipeline.config import RunConfig
from pipeline.engines.base import Engine, EngineFailure, EngineOutcome, EngineResult, SamplingConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.faults import fault_point
from pipeline.items import WorkItem, page_item_id
from pipeline.ledger import Ledger
from pipeline.plan import Identity, WorkPlan, error_item_id, is_done
from pipeline.progress import Reporter
from pipeline.prompt import PromptTemplate, build_request
from pipeline.records import ErrorRecord, RenderedDocument, WarningRecord
from pipeline.renderpool import RenderPool, RenderTask, following_window
from pipeline.report import RunReport
from pipeline.rows import document_row, error_row
from pipeline.sink import (
    BufferedWriter,
    PartWriter,
    documents_schema,
    errors_schema,
    table_metadata,
)
from pipeline.stopping import finish_despite_cancel
from pipeline.validate import validate_answer

RETRYABLE = {ErrorCode.INVALID_JSON, ErrorCode.SCHEMA_VIOLATION, ErrorCode.TRUNCATED_OUTPUT}
TEMPERATURE_LADDER = (0.3, 0.6, 0.9)
PRODUCER_GRACE_S = 10.0
_DONE = object()


class Extraction:
    """One run's moving parts, joined by queues inside one event loop."""

    def __init__(
        self,
        config: RunConfig,
        spec: SchemaSpec,
        template: PromptTemplate,
        json_schema: dict[str, Any],
        engine: Engine,
        ledger: Ledger,
        identity: Identity,
        report: RunReport,
        reporter: Reporter,
        started: float,
    ) -> None:
        self.config = config
        self.spec = spec
        self.template = template
        self.json_schema = json_schema
        self.engine = engine
        self.ledger = ledger
        self.identity = identity
        self.report = report
        self.reporter = reporter
        self.started = started
        metadata = table_metadata(spec.name, json_schema, template.prompt_hash)
        from pipeline.arrow import arrow_type_for

        schemas = {
            "documents": documents_schema(arrow_type_for(spec.model), metadata),
            "errors": errors_schema(metadata),
        }
        self.writer = BufferedWriter(
            PartWriter(config.out, spec.name, schemas, ledger, report.run_id),
            config.part_rows,
            config.flush_s,
        )
        self.also_at: dict[str, list[str]] = {}
        self.batch = max(1, int(getattr(engine, "preferred_batch", 1)))
        self.lanes = max(1, engine.max_in_flight // self.batch)

    async def execute(self, plan: WorkPlan) -> None:
        self.also_at = plan.also_at
        self.reporter.start(self.report, len(plan.sources) + len(plan.errors))
        stop = threading.Event()
        producer: threading.Thread | None = None
        try:
            for record in plan.errors:
                self._fail(record, error_item_id(record), None, "", 0)
            rendered: asyncio.Queue = asyncio.Queue(maxsize=self._render_workers() * 2)
            requests: asyncio.Queue = asyncio.Queue(maxsize=self.batch * 2 + 8)
            loop = asyncio.get_running_loop()
            producer = threading.Thread(
                target=self._produce, args=(loop, rendered, plan, stop), daemon=True
            )
            producer.start()
            tasks = [asyncio.create_task(self._serve(requests)) for _ in range(self.lanes)]
            tasks.append(asyncio.create_task(self._dispatch(rendered, requests)))
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                # A lane that died (e.g. the writer failed) would leave the dispatcher waiting
                # on a full queue for ever: the first failure ends them all.
                for task in tasks:
                    task.cancel()
                raise
        finally:
            stop.set()
            await finish_despite_cancel(self.writer.close())
            if producer is not None:  # the pool stops its workers before this process exits
                await finish_despite_cancel(asyncio.to_thread(producer.join, PRODUCER_GRACE_S))
            self.report.elapsed_s = time.monotonic() - self.started

    def _render_workers(self) -> int:
        return self.config.render.workers or os.cpu_count() or 1

    def _tasks(self, plan: WorkPlan) -> Iterator[RenderTask]:
        for source in plan.sources:
            yield RenderTask(source, 0, self.config.max_pages)

    def _next_window(self, document: RenderedDocument) -> RenderTask | None:
        """With --per-page, the following window of a long document (None when done)."""
        if not self.config.per_page:
            return None
        return following_window(document, self.config.max_pages)

    def _produce(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue,
        plan: WorkPlan,
        stop: threading.Event,
    ) -> None:
        """Render-pool thread: feeds rendered documents into the loop, blocking when full."""

        def put(item: object) -> None:
            if stop.is_set():  # the run has ended (maybe failed): nobody reads the queue
                return
            try:
                future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:  # the loop closed between the check and the call
                return
            while not stop.is_set():
                try:
                    future.result(timeout=0.5)
                    return
                except TimeoutError:
                    continue
            future.cancel()

        try:
            with RenderPool(self.config.render, self._render_workers()) as pool:
                tasks: Iterable[RenderTask] = self._tasks(plan)
                while tasks:
                    windows: list[RenderTask] = []
                    for document in pool.render(tasks):
                        if stop.is_set():
                            return
                        fault_point("after-render")
                        if (window := self._next_window(document)) is not None:
                            windows.append(window)
                        put(document)
                    tasks = windows
        except BaseException as exc:  # the pool itself failed: end the run, say why
            put(exc)
        finally:
            put(_DONE)

    async def _dispatch(self, rendered: asyncio.Queue, requests: asyncio.Queue) -> None:
        while (document := await rendered.get()) is not _DONE:
            if isinstance(document, BaseException):
                raise document
            for item in self._items_of(document):
                if isinstance(item, ErrorRecord):
                    self._render_failed(item, document)
                else:
                    await requests.put(item)
        for _ in range(self.lanes):
            await requests.put(_DONE)

    def _render_failed(self, record: ErrorRecord, document: RenderedDocument) -> None:
        """Record a render failure: with --per-page, one about a page is that page's item, so
        its sibling pages' results leave it standing; otherwise it is the document's."""
        sha256 = document.source.sha256
        page = record.page if self.config.per_page else None
        item_id = sha256 if page is None else page_item_id(sha256, page)
        if self.config.per_page and self._is_committed(item_id):
            # --per-page renders every document again; a failure already on record is not a
            # new one (the plan skips it without --per-page).
            self.report.skipped += 1
            return
        self._fail(record, item_id, page, "", 0, 0 if page is None else 1)

    def _is_committed(self, item_id: str) -> bool:
        key = self.identity.key(item_id)
        return is_done(self.ledger.status_of([key]).get(key), self.config)

    def _items_of(self, document: RenderedDocument) -> list[WorkItem | ErrorRecord]:
        if document.error is not None and not (self.config.per_page and document.pages):
            return [document.error]
        source = document.source
        if not self.config.per_page:
            if document.page_count > self.config.max_pages:
                return [
                    ErrorRecord(
                        source.sha256,
                        str(source.path),
                        Stage.RENDER,
                        ErrorCode.TOO_MANY_PAGES,
                        f"{source.path}: {document.page_count} pages, more than --max-pages "
                        f"{self.config.max_pages}; raise --max-pages or run with --per-page",
                    )
                ]
            return [
                WorkItem(
                    source.sha256,
                    source,
                    document.page_count,
                    document.pages,
                    None,
                    document.warnings,
                )
            ]
        items = [
            WorkItem(
                page_item_id(source.sha256, p.index + 1),
                source,
                document.page_count,
                (p,),
                p.index + 1,
                document.warnings,
            )
            for p in document.pages
        ]
        done = self.ledger.status_of([self.identity.key(i.item_id) for i in items])
        kept: list[WorkItem | ErrorRecord] = [
            i for i in items if not is_done(done.get(self.identity.key(i.item_id)), self.config)
        ]
        self.report.skipped += len(items) - len(kept)
        if document.error is not None:  # the page after these failed
            kept.append(document.error)
        return kept

    async def _serve(self, requests: asyncio.Queue) -> None:
        """One lane: take up to `batch` items, ask the engine, retry what may be retried."""
        while (first := await requests.get()) is not _DONE:
            batch = [first]
            while len(batch) < self.batch and not requests.empty():
                item = requests.get_nowait()
                if item is _DONE:
                    requests.put_nowait(_DONE)
                    break
                batch.append(item)
            pending = batch
            while pending:
                outcomes = await self._generate(pending)
                pending = [
                    item
                    for item, outcome in zip(pending, outcomes, strict=True)
                    if not self._settle(item, outcome)
                ]
                self.report.retries += len(pending)

    async def _generate(self, items: list[WorkItem]) -> list[EngineOutcome]:
        requests = [self._request(item) for item in items]
        fault_point("before-generate")
        try:
            outcomes = await self.engine.generate(requests)
        except Exception as exc:  # an engine breaking its contract fails this batch only
            outcomes = [
                EngineFailure(r.request_id, ErrorCode.ENGINE_ERROR, f"{exc!r}") for r in requests
            ]
        if len(outcomes) != len(requests):
            outcomes = [
                EngineFailure(
                    r.request_id,
                    ErrorCode.ENGINE_ERROR,
                    "engine returned a wrong number of results",
                )
                for r in requests
            ]
        return outcomes

    def _request(self, item: WorkItem) -> Any:
        if not item.max_new_tokens:
            item.max_new_tokens = self.config.engine.max_new_tokens
        sampling = SamplingConfig(
            max_new_tokens=item.max_new_tokens,
            temperature=item.temperature,
            seed=self.config.engine.seed + item.attempts,
        )
        request_id = f"{item.item_id}#{item.attempts}"
        return build_request(self.template, item.pages, self.json_schema, sampling, request_id)

    def _settle(self, item: WorkItem, outcome: EngineOutcome) -> bool:
        """Record the outcome, or prepare a retry (returns False)."""
        item.attempts += 1
        may_retry = item.attempts <= self.config.retries
        if isinstance(outcome, EngineFailure):
            if may_retry and outcome.retryable:
                return False
            item.release()
            record = self._error(item, Stage.ENGINE, outcome.code, outcome.message)
            self._fail(record, item.item_id, item.page, "", item.attempts, item.page_total)
            return True
        assert isinstance(outcome, EngineResult)
        self._count_tokens(outcome)
        checked = validate_answer(outcome.text, self.spec.model, outcome.finish_reason)
        if checked.error_code in RETRYABLE and may_retry:
            self._escalate(item, checked.error_code)
            return False
        item.release()
        if checked.error_code is not None or checked.instance is None:
            code = checked.error_code or ErrorCode.SCHEMA_VIOLATION
            record = self._error(item, Stage.VALIDATE, code, checked.message or "")
            self._fail(
                record, item.item_id, item.page, outcome.text, item.attempts, item.page_total
            )
            return True
        warnings = list(item.render_warnings) + [
            WarningRecord(f.code, f.message) for f in checked.warnings
        ]
        self.writer.add("documents", document_row(self, item, outcome, checked.instance, warnings))
        self.report.extracted += 1
        self.report.with_warnings += bool(warnings)
        self.report.pages += item.page_total
        self.report.visual_tokens += item.visual_tokens
        self.reporter.item_done(item.path, item.page_total, outcome.completion_tokens, None, "")
        return True

    def _escalate(self, item: WorkItem, code: ErrorCode) -> None:
        """Next attempt: more room after a cut-off answer, else a little more temperature."""
        if code is ErrorCode.TRUNCATED_OUTPUT:
            item.max_new_tokens = min(
                item.max_new_tokens * 2, self.config.engine.max_new_tokens * 4
            )
        else:
            step = min(item.attempts, len(TEMPERATURE_LADDER)) - 1
            item.temperature = TEMPERATURE_LADDER[step]

    def _count_tokens(self, outcome: EngineResult) -> None:
        self.report.prompt_tokens += outcome.prompt_tokens
        self.report.completion_tokens += outcome.completion_tokens
        self.report.cached_tokens += outcome.cached_tokens

    def _error(self, item: WorkItem, stage: Stage, code: ErrorCode, message: str) -> ErrorRecord:
        return ErrorRecord(
            item.source.sha256,
            item.path,
            stage,
            code,
            f"{item.path}: {message}",
            page=item.page,
            attempts=item.attempts,
        )

    def _fail(
        self,
        record: ErrorRecord,
        item_id: str,
        page: int | None,
        raw: str,
        attempts: int,
        pages: int = 0,
    ) -> None:
        self.writer.add("errors", error_row(self, record, item_id, page, raw, attempts))
        self.report.failed += 1
        self.report.failed_pages += pages
        self.report.errors_by_code[str(record.code)] += 1
        self.reporter.item_done(record.path, pages, 0, str(record.code), record.message)
