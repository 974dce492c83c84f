"""One run's moving parts, joined by bounded queues inside one event loop.

render pool (own thread) -> dispatch -> lanes (requests in flight to the engine) -> settle,
with bounded retries -> the recorder's background writer. Memory is bounded by the queues and
the requests in flight, never by the size of the input. What an outcome means is `settle`'s
business (and the XML reader's, `xml_reader`, for an e-invoice under verification), what a
re-run skips `pipeline.policy`'s, and rows and counts the recorder's: this module only moves
work between threads and queues. Rows read from e-invoice XML are written first; a plan with
nothing for the model renders nothing and needs no engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from pydantic import BaseModel

from pipeline.config import RunConfig
from pipeline.engines.base import (
    Engine,
    EngineOutcome,
    EngineRequest,
    EngineResult,
    generate_guarded,
)
from pipeline.extract.breaker import Breaker, unreachable
from pipeline.extract.model_lines import LineReader, read_pages, unread_pages
from pipeline.extract.plan import CommittedCheck, WorkPlan, error_item_id
from pipeline.extract.settle import Extracted, Failed, Retry, settle
from pipeline.extract.text_lines import TEXT_LAYER, from_text_layer, placed_lines, reads_page_text
from pipeline.extract.xml_reader import record_rows, record_verified
from pipeline.faults import fault_point
from pipeline.inputs.einvoice import EInvoice
from pipeline.inputs.renderpool import RenderPool, RenderTask, following_window
from pipeline.items import WorkItem, failure_item, killed_engine, work_items
from pipeline.output.recorder import RunRecorder
from pipeline.policy import ERROR, read_alone
from pipeline.records import ErrorRecord, RenderedDocument, SourceFile
from pipeline.stopping import finish_despite_cancel

PRODUCER_GRACE_S = 10.0
READ_ALONE = (
    "now reading, one request at a time, the {} documents that were in flight when the engine "
    "died: one it dies on alone is recorded as failed (killed_engine) by the next run"
)
PRODUCER_THREAD = "docextract-render"
_DONE = object()


class Extraction:
    """One run's queues and threads: a render thread, a dispatcher and engine lanes."""

    def __init__(
        self,
        config: RunConfig,
        engine: Engine | None,
        request_for: Callable[[WorkItem], EngineRequest],
        model: type[BaseModel],
        recorder: RunRecorder,
        committed: CommittedCheck,
        lines: LineReader | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.request_for = request_for
        self.model = model
        self.recorder = recorder
        self.committed = committed
        self.batch = max(1, engine.preferred_batch) if engine is not None else 1
        self.lanes = max(1, engine.max_in_flight // self.batch) if engine is not None else 0
        wave = config.engine.first_wave
        self.first_lanes = min(self.lanes, max(1, wave // self.batch)) if wave else self.lanes
        self.answered = asyncio.Event()
        """Set at the first answer (or when every request is queued): the other lanes go."""
        self.verify: dict[str, EInvoice] = {}
        self.page_text = reads_page_text(model)
        """Pages with lines of text are read from them, not asked (`text_lines`)."""
        self.breaker = Breaker(config.engine.unreachable_requests, config.engine.unreachable_s)
        self.lines = lines
        """With model boxes: reads an extracted item's pages without text as lines (grounding)."""
        self.in_flight: set[str] = set()
        """The ids of the items whose requests the engine has and has not answered yet."""
        self.killed_engine: set[str] = set()
        """Items the engine died reading alone: recorded as failed, not asked again."""
        self._producers: list[tuple[threading.Thread, threading.Event]] = []
        """Each pass's render thread and the event that stops it."""

    async def execute(self, plan: WorkPlan) -> None:
        """Record the plan's errors and XML rows, then extract its sources with the engine
        (which must be there when the plan has sources). The documents that were in flight when
        an engine died come last, one request at a time (`pipeline.policy.read_alone`)."""
        self.recorder.reporter.start(self.recorder.report, plan.size)
        self.verify = plan.verify
        suspects, self.killed_engine = read_alone(plan.engine_deaths)
        try:
            for record in plan.errors:
                self.recorder.failed(record, error_item_id(record))
            record_rows(plan.from_xml, plan.xml_errors, self.recorder)
            if not plan.sources:
                return
            if self.engine is None and not self.page_text:
                raise RuntimeError("a plan with sources needs an engine")
            alone = [source for source in plan.sources if source.sha256 in suspects]
            await self._read([source for source in plan.sources if source.sha256 not in suspects])
            if alone:
                asked = sum(source.sha256 not in self.killed_engine for source in alone)
                if asked:
                    self.recorder.reporter.note(READ_ALONE.format(asked), documents=asked)
                self.batch = self.lanes = self.first_lanes = 1
                await asyncio.to_thread(self._join_producers)  # one pool's workers at a time
                await self._read(alone)
        finally:
            for _producer, stop in self._producers:
                stop.set()
            try:
                await finish_despite_cancel(self.recorder.close())
            finally:  # even when the last commit fails: the pools stop their workers first
                await finish_despite_cancel(asyncio.to_thread(self._join_producers))

    async def _read(self, sources: list[SourceFile]) -> None:
        """Render `sources` in the pool's thread and ask the engine, `self.lanes` at a time."""
        if not sources:
            return
        stop = threading.Event()
        self.answered = asyncio.Event()
        rendered: asyncio.Queue = asyncio.Queue(maxsize=self._render_workers() * 2)
        requests: asyncio.Queue = asyncio.Queue(maxsize=self.batch * 2 + 8)
        loop = asyncio.get_running_loop()
        producer = threading.Thread(
            target=self._produce, args=(loop, rendered, sources, stop), daemon=True,
            name=PRODUCER_THREAD,
        )  # fmt: skip
        self._producers.append((producer, stop))
        producer.start()
        tasks = [asyncio.create_task(self._serve(requests, n)) for n in range(self.lanes)]
        tasks.append(asyncio.create_task(self._dispatch(rendered, requests)))
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # A lane that died (e.g. the writer failed) would leave the dispatcher waiting on a
            # full queue for ever: the first failure ends them all.
            for task in tasks:
                task.cancel()
            raise

    def _join_producers(self) -> None:
        for producer, _stop in self._producers:
            producer.join(PRODUCER_GRACE_S)

    def _render_workers(self) -> int:
        return self.config.render.workers or os.cpu_count() or 1

    def _tasks(self, sources: list[SourceFile]) -> Iterator[RenderTask]:
        for source in sources:
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
        sources: list[SourceFile],
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

        done = False
        try:
            with RenderPool(self.config.render, self._render_workers()) as pool:
                tasks: Iterable[RenderTask] = self._tasks(sources)
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
                # Every document is out: the lanes finish while the workers stop (the run
                # still joins this thread before it returns).
                done = True
                put(_DONE)
        except BaseException as exc:  # the pool itself failed: end the run, say why
            if done:
                raise  # too late to end the run with it: the thread's own traceback says why
            put(exc)
        finally:
            if not done:
                put(_DONE)

    async def _dispatch(self, rendered: asyncio.Queue, requests: asyncio.Queue) -> None:
        while (document := await rendered.get()) is not _DONE:
            if isinstance(document, BaseException):
                raise document
            items = work_items(document, self.config.per_page, self.config.max_pages)
            for item in self._undone(items):
                if isinstance(item, ErrorRecord):
                    self._render_failed(item)
                elif item.item_id in self.killed_engine:
                    self._fail_as_killer(item)
                elif not self._read_without_model(item):
                    await requests.put(item)
        self.answered.set()  # the lanes still waiting must take their _DONE
        for _ in range(self.lanes):
            await requests.put(_DONE)

    def _undone(self, items: list[WorkItem | ErrorRecord]) -> list[WorkItem | ErrorRecord]:
        """With --per-page every document is rendered again: its committed pages are skipped
        here (without it, the plan skipped committed documents already)."""
        pages = [item.item_id for item in items if isinstance(item, WorkItem)]
        if not self.config.per_page or not pages:
            return items
        undone, failed_before = self.committed.undone(pages)
        self.recorder.skipped(len(pages) - len(undone), still_failed=failed_before)
        return [i for i in items if not isinstance(i, WorkItem) or i.item_id in undone]

    def _read_without_model(self, item: WorkItem) -> bool:
        """Record a page_text page from its text layer; True when it needs no request (read
        so, or left for a run with a model where there is no engine to ask)."""
        if not self.page_text:
            return False
        read = from_text_layer(item)
        if read is None:
            if self.engine is not None:
                return False
            self.recorder.needs_model(item.path)
            return True
        answer, lines, result = read
        item.release()
        provenance = replace(self.recorder.provenance, engine=TEXT_LAYER)
        warnings = list(item.render_warnings)
        self.recorder.extracted(item, result, answer, warnings, provenance, lines)
        return True

    @contextlib.contextmanager
    def _asking(self, items: Iterable[WorkItem]) -> Iterator[None]:
        """`items` count as in flight while the engine has their requests. They stay in when
        the block raises: an engine's death cancels the run here, and the ledger records what
        was still in flight (`pipeline.run`)."""
        asked = {item.item_id for item in items}
        self.in_flight |= asked
        yield
        self.in_flight -= asked

    def _fail_as_killer(self, item: WorkItem) -> None:
        """Record an item the engine died reading alone as failed, without asking again."""
        item.release()
        record = killed_engine(item.source, item.page)
        self.recorder.failed(record, item.item_id, item.page, pages=item.page_total)

    def _render_failed(self, record: ErrorRecord) -> None:
        item_id, page = failure_item(record, self.config.per_page)
        status = self.committed.skipped_status(item_id) if self.config.per_page else None
        if status is not None:
            # A failure already on record is not a new one, but it still stands.
            self.recorder.skipped(still_failed=int(status == ERROR))
            return
        self.recorder.failed(record, item_id, page, pages=0 if page is None else 1)

    async def _serve(self, requests: asyncio.Queue, lane: int) -> None:
        """One lane: take up to `batch` items, ask the engine, retry what may be retried.
        Lanes past the first wave wait for the first answer."""
        if lane >= self.first_lanes:
            await self.answered.wait()
        while (first := await requests.get()) is not _DONE:
            batch = [first]
            while len(batch) < self.batch and not requests.empty():
                item = requests.get_nowait()
                if item is _DONE:
                    requests.put_nowait(_DONE)
                    break
                batch.append(item)
            pending = batch
            held: list[tuple[WorkItem, Extracted]] = []
            while pending:
                with self._asking(pending):
                    fault_point("before-generate", (item.source.path.name for item in pending))
                    assert self.engine is not None
                    outcomes = await generate_guarded(
                        self.engine, [self.request_for(item) for item in pending]
                    )
                self.answered.set()
                self.breaker.observe(outcomes)
                # An engine that cannot be reached is no fault of the document: ask again
                # until it answers or the breaker stops the run.
                pending = [
                    item
                    for item, outcome in zip(pending, outcomes, strict=True)
                    if unreachable(outcome) or not self._settle(item, outcome, held)
                ]
                self.recorder.retried(len(pending))
            if held:
                await self._ground_on_model_lines(held)

    def _settle(
        self, item: WorkItem, outcome: EngineOutcome, held: list[tuple[WorkItem, Extracted]]
    ) -> bool:
        """Apply `settle`'s decision; False when the item is to be asked again. An extracted
        item with pages the model must read for grounding goes to `held` instead."""
        config = self.config
        decision = settle(item, outcome, self.model, config.retries, config.engine.max_new_tokens)
        item.attempts += 1
        if isinstance(outcome, EngineResult):
            self.recorder.answered(outcome)
        if isinstance(decision, Retry):
            item.max_new_tokens = decision.settings.max_new_tokens
            item.temperature = decision.settings.temperature
            return False
        einvoice = self.verify.get(item.item_id)
        if isinstance(decision, Extracted) and einvoice is None and self._reads_lines(item):
            held.append((item, decision))
            return True
        item.release()
        if einvoice is not None and isinstance(decision, Extracted | Failed):
            record_verified(item, einvoice, decision, self.recorder, self.engine)
        elif isinstance(decision, Extracted):
            lines = placed_lines(item, decision.instance)
            self.recorder.extracted(
                item, decision.result, decision.instance, decision.warnings, lines=lines
            )
        elif isinstance(decision, Failed):
            self.recorder.failed(
                decision.record,
                item.item_id,
                item.page,
                decision.raw,
                item.attempts,
                item.page_total,
            )
        return True

    def _reads_lines(self, item: WorkItem) -> bool:
        return self.lines is not None and bool(unread_pages(item))

    async def _ground_on_model_lines(self, held: list[tuple[WorkItem, Extracted]]) -> None:
        """Record extracted items once the model has read their pages without text as lines,
        their values located there (`model_lines`)."""
        assert self.engine is not None and self.lines is not None

        def observe(outcomes: Sequence[EngineOutcome]) -> None:
            for outcome in outcomes:
                if isinstance(outcome, EngineResult):
                    self.recorder.answered(outcome)
            self.breaker.observe(outcomes)

        items = [item for item, _ in held]
        with self._asking(items):
            read = await read_pages(self.lines, self.engine, items, observe)
        for item, decision in held:
            item.release()
            pages = read[item.item_id]
            warnings = [*decision.warnings, *pages.warnings]
            self.recorder.extracted(
                item, decision.result, decision.instance, warnings, model_pages=pages.pages
            )
