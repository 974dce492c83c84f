"""A pool of render processes that survives crashes, hangs and a host that runs SGLang.

Workers are started with the "spawn" method (what SGLang forces anyway), ignore SIGINT (the
parent decides when to stop) and restore default SIGTERM handling, so signal handlers installed
by the host program never run inside them. Each worker owns one pipe and renders one task at a
time; a worker that dies or runs past the time limit is killed and replaced, and its task comes
back as a RENDER_CRASH or RENDER_TIMEOUT error. Page pixels do not go through the pipe (a
pipe costs several copies and ~14 ms per A4 page): each worker writes them into its own
memory-mapped file under /dev/shm and the parent copies each page out once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import mmap
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.records import ErrorRecord, RenderedDocument, SourceFile
from pipeline.render import render_document

_READY = "ready"
STARTUP_GRACE_S = 60.0  # a worker still importing is not timed out before this
RenderFn = Callable[[SourceFile, RenderConfig, int, "int | None"], RenderedDocument]


@dataclass(frozen=True, slots=True)
class RenderTask:
    """One document (or a window of its pages) to render."""

    source: SourceFile
    first_page: int = 0
    max_pages: int | None = None


class _Arena:
    """A growable memory-mapped file that carries page pixels from a worker to the parent.

    The parent creates the file, the worker opens it, then the parent unlinks it: both keep an
    open descriptor, so the memory is freed by the kernel however either process ends.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.handle = open(path, "w+b" if create else "r+b")  # noqa: SIM115 - lives with the arena
        self.size = 0
        self.map: mmap.mmap | None = None

    def write(self, bodies: list[bytes]) -> list[tuple[int, int]]:
        total = sum(len(body) for body in bodies)
        if total > self.size:
            size = max(total, 2 * self.size, 1 << 22)
            os.ftruncate(self.handle.fileno(), size)
            self._remap(size)
        spans, offset = [], 0
        for body in bodies:
            assert self.map is not None
            self.map[offset : offset + len(body)] = body
            spans.append((offset, len(body)))
            offset += len(body)
        return spans

    def read(self, size: int, spans: list[tuple[int, int]]) -> list[bytes]:
        if size != self.size:
            self._remap(size)
        assert self.map is not None or not spans
        return [self.map[offset : offset + length] for offset, length in spans]  # type: ignore[index]

    def _remap(self, size: int) -> None:
        if self.map is not None:
            self.map.close()
        self.map = mmap.mmap(self.handle.fileno(), size)
        self.size = size

    def close(self) -> None:
        if self.map is not None:
            self.map.close()
            self.map = None
        self.handle.close()


def _arena_folder() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _worker_main(
    conn: Connection, config: RenderConfig, render_fn: RenderFn, arena_path: Path
) -> None:
    """Worker loop: receive a task, render it, put the pixels in the arena, send the record."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import PIL.Image  # noqa: F401 - imported before "ready" so start-up is not render time
    import pymupdf  # noqa: F401

    try:
        arena = _Arena(arena_path, create=False)
        conn.send(_READY)
    except (BrokenPipeError, OSError):
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = render_fn(task.source, config, task.first_page, task.max_pages)
        except Exception as exc:  # noqa: BLE001 - a custom render_fn may raise
            result = _error_result(task, ErrorCode.RENDER_FAILED, f"render failed: {exc!r}")
        spans = arena.write([page.pixels for page in result.pages])
        header = dataclasses.replace(
            result, pages=tuple(dataclasses.replace(page, pixels=b"") for page in result.pages)
        )
        del result
        try:
            conn.send((header, arena.size, spans))
        except (BrokenPipeError, OSError):
            return


def _error_result(task: RenderTask, code: ErrorCode, message: str) -> RenderedDocument:
    source = task.source
    error = ErrorRecord(
        doc_id=source.sha256,
        path=str(source.path),
        stage=Stage.RENDER,
        code=code,
        message=f"{source.path}: {message}",
        page=task.first_page or None,
    )
    return RenderedDocument(source=source, error=error)


class _Worker:
    """One render process, the parent's end of its pipe and its pixel arena."""

    _numbers = itertools.count()

    def __init__(self, context: Any, config: RenderConfig, render_fn: RenderFn) -> None:
        name = f"docextract-render-{os.getpid()}-{next(self._numbers)}"
        self.arena = _Arena(_arena_folder() / name, create=True)
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker_main, args=(child, config, render_fn, self.arena.path), daemon=True
        )
        self.process.start()
        child.close()
        self.task: RenderTask | None = None
        self.deadline = 0.0
        self.ready = False
        self.timeout_s = config.timeout_s

    def assign(self, task: RenderTask) -> None:
        self.task = task
        grace = 0.0 if self.ready else STARTUP_GRACE_S
        self.deadline = time.monotonic() + self.timeout_s + grace
        self.conn.send(task)

    def mark_ready(self) -> None:
        """Consume the start-up message; the task's clock starts now."""
        message = self.conn.recv()
        if message != _READY:
            raise OSError(f"unexpected message from render worker: {message!r}")
        self.ready = True
        self.deadline = time.monotonic() + self.timeout_s
        self.arena.path.unlink(missing_ok=True)  # both ends hold it open now

    def receive(self) -> RenderedDocument:
        header, size, spans = self.conn.recv()
        bodies = self.arena.read(size, spans)
        pages = tuple(
            dataclasses.replace(page, pixels=body)
            for page, body in zip(header.pages, bodies, strict=True)
        )
        self.task = None
        return dataclasses.replace(header, pages=pages)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self._release()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._release()

    def _release(self) -> None:
        self.conn.close()
        self.arena.close()
        self.arena.path.unlink(missing_ok=True)


class RenderPool:
    """Render documents in worker processes; use as a context manager.

    `render(tasks)` pulls tasks lazily (at most one in flight per worker, `workers * 2`
    outstanding counting the one read ahead) and yields each RenderedDocument as it
    completes, in completion order. `workers=0` means one per CPU core. `render_fn` must be a
    module-level function with render_document's signature (it is sent to the workers).
    """

    def __init__(
        self, config: RenderConfig, workers: int = 0, render_fn: RenderFn = render_document
    ) -> None:
        self.config = config
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.render_fn = render_fn
        self._context = get_context("spawn")
        self._pool: list[_Worker] = []
        self.crashes = 0
        self.timeouts = 0
        self._pending: Iterator[RenderTask] = iter(())
        self._exhausted = True

    def __enter__(self) -> RenderPool:
        self._pool = [self._spawn() for _ in range(self.workers)]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker (idle ones politely, busy ones by force)."""
        pool, self._pool = self._pool, []
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
        if not self._pool:
            raise RuntimeError("enter the pool first: with RenderPool(...) as pool")
        self._pending = iter(tasks)
        self._exhausted = False
        for worker in self._pool:
            self._refill(worker)
        while busy := [w for w in self._pool if w.task is not None]:
            yield from self._collect(busy)

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
                    # Its arena is free again: it renders the next task while this one is used.
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
            code = worker.process.exitcode
            self._replace(worker)
            yield _error_result(
                task,
                ErrorCode.RENDER_CRASH,
                f"the render process died (exit code {code}); the file may be malformed "
                "in a way that crashes the renderer",
            )
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
                f"rendering took longer than {self.config.timeout_s:g} s; raise --timeout "
                "or check the file",
            )
        for worker in self._pool:  # replaced workers start on the next tasks
            self._refill(worker)
