"""A pool of render processes that survives crashes, hangs and a host that runs SGLang.

Workers are started with the "spawn" method (what SGLang forces anyway), ignore SIGINT (the
parent decides when to stop) and restore default SIGTERM handling, so signal handlers installed
by the host program never run inside them. Each worker owns one pipe and renders one task at a
time; a worker that dies or runs past the time limit is killed and replaced, and its task comes
back as a RENDER_CRASH, RENDER_OOM (killed by SIGKILL, as for lack of memory) or RENDER_TIMEOUT
error. Each worker has a memory limit (pipeline.inputs.memory_cap). Page pixels do not go
through the pipe: see pipeline.inputs.pixel_transport. Where spawning would run the caller's
unguarded main script again (pipeline.inputs.spawn_safety), the pool renders in the calling
thread instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode
from pipeline.faults import fault_point
from pipeline.inputs.memory_cap import DataLimit, is_out_of_memory, out_of_memory, worker_death
from pipeline.inputs.pixel_transport import (
    PixelBuffers,
    map_pixels,
    receive_fd,
    reuse_freed_memory,
    send_fd,
    unix_socket,
)
from pipeline.inputs.render import render_document
from pipeline.inputs.render_result import failed_render
from pipeline.inputs.spawn_safety import works_in_this_process
from pipeline.records import RenderedDocument, SourceFile

log = logging.getLogger(__name__)

_READY = "ready"
STARTUP_GRACE_S = 60.0  # a worker still importing is not timed out before this
RenderFn = Callable[[SourceFile, RenderConfig, int, "int | None"], RenderedDocument]


@dataclass(frozen=True, slots=True)
class RenderTask:
    """One document (or a window of its pages) to render."""

    source: SourceFile
    first_page: int = 0
    window_pages: int | None = None


def following_window(document: RenderedDocument, window_pages: int | None) -> RenderTask | None:
    """The window of pages after `document`'s (None when it was the last, or the whole
    document failed): long documents are rendered `window_pages` pages at a time, so memory holds
    one window of images. After a window that failed at one page, the next window starts
    after that page."""
    if document.error is not None:
        failed = document.error.page  # from 1: also the index of the page after it
        if failed is None or failed >= document.page_count:
            return None
        return RenderTask(document.source, failed, window_pages)
    if not document.pages:
        return None
    following = document.pages[-1].index + 1
    if following >= document.page_count:
        return None
    return RenderTask(document.source, following, window_pages)


def _worker_main(conn: Connection, config: RenderConfig, render_fn: RenderFn) -> None:
    """Worker loop: receive a task, render it, put the pixels in a memfd, send record and fd."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    reuse_freed_memory()
    # Imported before "ready" so start-up is not render time. PyMuPDF also imports its
    # layout-analysis package when present (onnxruntime, numpy: about 0.3 s); rasterising never
    # uses it, so a worker blocks it.
    if "pymupdf" not in sys.modules:
        sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
    import PIL.Image  # noqa: F401
    import pymupdf  # noqa: F401

    limit = DataLimit(config)
    try:
        sock = unix_socket(conn)
        conn.send(_READY)
    except (BrokenPipeError, OSError):
        return
    buffers = PixelBuffers()
    try:
        _serve(conn, sock, config, render_fn, buffers, limit)
    finally:
        buffers.close()


def _serve(
    conn: Connection,
    sock: Any,
    config: RenderConfig,
    render_fn: RenderFn,
    buffers: PixelBuffers,
    limit: DataLimit,
) -> None:
    """Render each (task, buffers given back) message until None or a closed pipe, each under
    the data limit of its window of pages."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task, given_back = message
        buffers.give_back(given_back)
        limit.set_for(task.window_pages)
        fault_point("render-task")  # in the render process: SIGKILL it as for lack of memory
        try:
            result = render_fn(task.source, config, task.first_page, task.window_pages)
        except Exception as exc:  # noqa: BLE001 - a custom render_fn may raise
            result = _raised(task, exc, config)
        packed = None
        if result.pages:
            try:
                packed = buffers.pack(result.pages)
            except OSError as exc:
                result = _error_result(
                    task, ErrorCode.RENDER_OOM, f"no memory left for the page pixels: {exc}"
                )
        header = dataclasses.replace(
            result, pages=tuple(dataclasses.replace(page, pixels=b"") for page in result.pages)
        )
        del result
        try:
            if packed is None:
                conn.send((header, [], 0))
            else:
                conn.send((header, packed.spans, packed.buffer))
                send_fd(sock, packed.fd)
        except (BrokenPipeError, OSError):
            return


def _raised(task: RenderTask, exc: Exception, config: RenderConfig) -> RenderedDocument:
    """The failure of a task whose render function raised `exc`."""
    if is_out_of_memory(exc):
        return _error_result(task, ErrorCode.RENDER_OOM, out_of_memory("rendering", config))
    return _error_result(task, ErrorCode.RENDER_FAILED, f"render failed: {exc!r}")


def _error_result(task: RenderTask, code: ErrorCode, message: str) -> RenderedDocument:
    """The failure of a whole task: which of its pages broke the worker is not known, so it
    is the document's (with the window it was rendering, when not the first)."""
    if task.first_page:
        message += f" (while rendering from page {task.first_page + 1})"
    return failed_render(task.source, code, message)


class _Worker:
    """One render process and the parent's end of its pipe."""

    def __init__(self, context: Any, config: RenderConfig, render_fn: RenderFn) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.sock = unix_socket(self.conn)
        self.process = context.Process(
            target=_worker_main, args=(child, config, render_fn), daemon=True
        )
        self.process.start()
        child.close()
        self.task: RenderTask | None = None
        self.deadline = 0.0
        self.ready = False
        self._asked = False  # told to stop
        self.timeout_s = config.timeout_s
        # Numbers of the worker's pixel buffers whose pages are all dropped here; appended
        # from any thread, sent back with the next task.
        self.given_back: deque[int] = deque()

    def assign(self, task: RenderTask) -> None:
        self.task = task
        grace = 0.0 if self.ready else STARTUP_GRACE_S
        self.deadline = time.monotonic() + self.timeout_s + grace
        given_back = []
        while self.given_back:
            given_back.append(self.given_back.popleft())
        self.conn.send((task, given_back))

    def mark_ready(self) -> None:
        """Consume the start-up message; the task's clock starts now."""
        message = self.conn.recv()
        if message != _READY:
            raise OSError(f"unexpected message from render worker: {message!r}")
        self.ready = True
        self.deadline = time.monotonic() + self.timeout_s

    def receive(self) -> RenderedDocument:
        header, spans, buffer = self.conn.recv()
        views = []
        if spans:
            release = functools.partial(self.given_back.append, buffer)
            views = map_pixels(receive_fd(self.sock), spans, on_release=release)
        pages = tuple(
            dataclasses.replace(page, pixels=view)
            for page, view in zip(header.pages, views, strict=True)
        )
        self.task = None
        return dataclasses.replace(header, pages=pages)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self._release()

    def ask_to_stop(self) -> None:
        """Tell the idle worker to stop after its loop; `stop` then waits for it."""
        if not self._asked:
            self._asked = True
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(None)

    def stop(self) -> None:
        self.ask_to_stop()
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._release()

    def _release(self) -> None:
        self.sock.close()
        self.conn.close()


class RenderPool:
    """Render documents in worker processes; use as a context manager.

    `render(tasks)` pulls tasks lazily (at most one in flight per worker, `workers * 2`
    outstanding counting the one read ahead) and yields each RenderedDocument as it
    completes, in completion order. `workers=0` means one per CPU core. `render_fn` must be a
    module-level function with render_document's signature (it is sent to the workers).
    `inline=True` renders in the calling thread, one task at a time, with no processes (no
    crash isolation, no time limit); None decides by `works_in_this_process`.
    """

    def __init__(
        self,
        config: RenderConfig,
        workers: int = 0,
        render_fn: RenderFn = render_document,
        inline: bool | None = None,
    ) -> None:
        self.config = config
        self.inline = inline
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.render_fn = render_fn
        self._context = get_context("spawn")
        self._pool: list[_Worker] = []
        self.crashes = 0
        self.timeouts = 0
        self._pending: Iterator[RenderTask] = iter(())
        self._exhausted = True

    def __enter__(self) -> RenderPool:
        if self.inline is None:
            self.inline = works_in_this_process(
                log, "rendering in this process, one page at a time", "render processes",
                "render in parallel",
            )  # fmt: skip
        if not self.inline:
            self._pool = [self._spawn() for _ in range(self.workers)]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker: busy ones by force, idle ones all told before any is waited for."""
        pool, self._pool = self._pool, []
        idle = [worker for worker in pool if worker.task is None]
        for worker in idle:
            worker.ask_to_stop()
        for worker in pool:
            if worker.task is None:
                worker.stop()
            else:
                worker.kill()

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self.config, self.render_fn)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool[self._pool.index(worker)] = self._spawn()

    def render(self, tasks: Iterable[RenderTask]) -> Iterator[RenderedDocument]:
        """Yield the rendering of every task; crashes and timeouts become error records."""
        if self.inline:
            yield from self._render_inline(tasks)
            return
        if not self._pool:
            raise RuntimeError("enter the pool first: with RenderPool(...) as pool")
        self._pending = iter(tasks)
        self._exhausted = False
        for worker in self._pool:
            self._refill(worker)
        while busy := [w for w in self._pool if w.task is not None]:
            yield from self._collect(busy)

    def _render_inline(self, tasks: Iterable[RenderTask]) -> Iterator[RenderedDocument]:
        for task in tasks:
            try:
                first, window = task.first_page, task.window_pages
                result = self.render_fn(task.source, self.config, first, window)
            except Exception as exc:  # noqa: BLE001 - a custom render_fn may raise
                result = _raised(task, exc, self.config)
            yield result

    def _refill(self, worker: _Worker) -> None:
        """Give an idle worker the next task, if any is left."""
        if self._exhausted or worker.task is not None:
            return
        task = next(self._pending, None)
        if task is None:
            self._exhausted = True
            return
        self._assign(worker, task)

    def _assign(self, worker: _Worker, task: RenderTask) -> None:
        try:
            worker.assign(task)
        except (BrokenPipeError, OSError):
            # The idle worker died (killed from outside); a fresh one takes the task.
            index = self._pool.index(worker)
            self._replace(worker)
            self._pool[index].assign(task)

    def _collect(self, busy: list[_Worker]) -> Iterator[RenderedDocument]:
        """Wait for at least one busy worker to answer, die or time out."""
        now = time.monotonic()
        wait_s = max(0.0, min(w.deadline for w in busy) - now)
        by_handle: dict[Any, _Worker] = {}
        for worker in busy:
            by_handle[worker.conn] = worker
            by_handle[worker.process.sentinel] = worker
        ready = wait(list(by_handle), timeout=wait_s)
        woken = list(dict.fromkeys(by_handle[handle] for handle in ready))
        handled: list[_Worker] = []
        for worker in woken:
            task = worker.task
            assert task is not None
            try:
                if not worker.ready and worker.conn.poll():
                    worker.mark_ready()
                if worker.ready and worker.conn.poll():
                    handled.append(worker)
                    result = worker.receive()
                    # It renders the next task while this one is used.
                    self._refill(worker)
                    yield result
                    continue
            except (EOFError, OSError, ConnectionError):
                pass  # it died, possibly half-way through a message
            else:
                if not wait([worker.process.sentinel], 0):
                    continue  # alive: only its start-up message had arrived
            handled.append(worker)
            self.crashes += 1
            worker.process.join(timeout=1)  # its pipe may close a moment before it exits
            death = worker_death(worker.process.exitcode)
            self._replace(worker)
            yield _error_result(task, *death)
        now = time.monotonic()
        for worker in busy:
            if worker in handled or worker.task is None or worker.deadline > now:
                continue
            if worker.conn.poll():
                continue  # the answer arrived just now; the next round reads it
            self.timeouts += 1
            task = worker.task
            self._replace(worker)
            yield _error_result(
                task,
                ErrorCode.RENDER_TIMEOUT,
                f"rendering took longer than {self.config.timeout_s:g} s; raise [render] "
                "timeout_s (docextract pages: --timeout) or check the file",
            )
        for worker in self._pool:  # replaced workers start on the next tasks
            self._refill(worker)
