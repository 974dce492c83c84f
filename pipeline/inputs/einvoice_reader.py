"""E-invoices read in a process of their own, so that no file can take docextract's memory or
stop its run.

`EInvoiceReader.read` gives what `read_file_einvoice` gives (the XML attached to a PDF, which
MuPDF inflates, or a standalone XML file), read in one worker process. The worker is started
("spawn", as the render workers are) on the first read, so a run with nothing to probe starts
none; it reads every file after that, and is replaced after a failure. Its address space is
limited (RLIMIT_AS, `memory_limit`) and each read has a time limit: a read that runs out of
memory, crashes the worker or runs past the limit raises InvoiceXmlError (READ_FAILED) for
that file alone. What MuPDF said while reading is logged here, as if read here. Where spawning
would run the caller's unguarded main script again (pipeline.inputs.spawn_safety), files are
read in the calling process, without that protection.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import signal
import sys
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pipeline.grounding.textlayer import PageText
from pipeline.inputs.einvoice import (
    MAX_XML_BYTES,
    EInvoice,
    InvoiceXmlError,
    InvoiceXmlProblem,
    read_file_einvoice,
)
from pipeline.inputs.spawn_safety import works_in_this_process

log = logging.getLogger(__name__)

HEADROOM_BYTES = 1 << 30
"""Address space for the interpreter, PyMuPDF and the libraries they load (about 120 MB when
idle), with room to spare."""
BYTES_PER_XML_BYTE = 32
"""Address space per byte of XML: the XML, its parsed elements and the invoice built from them."""
STARTUP_GRACE_S = 60.0  # a worker still importing is not timed out before this
_READY = "ready"

Found = tuple[EInvoice, int, tuple[PageText, ...]] | None


def memory_limit(max_bytes: int) -> int:
    """The address space (RLIMIT_AS) of the reading process, for XML of at most `max_bytes`:
    1 GiB plus 32 bytes per byte of XML (1.5 GiB for the default 16 MiB)."""
    return HEADROOM_BYTES + BYTES_PER_XML_BYTE * max_bytes


class ReaderLost(Exception):
    """The reading process died, could not start or ran past its time limit."""


class EInvoiceReader:
    """Reads the e-invoice each input file carries in a worker process; use as a context
    manager. `inline=True` reads in the calling process; None decides by
    `works_in_this_process`."""

    def __init__(self, max_bytes: int = MAX_XML_BYTES, timeout_s: float = 120.0,
                 inline: bool | None = None) -> None:  # fmt: skip
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.inline = inline
        self._worker: _Worker | None = None

    def __enter__(self) -> EInvoiceReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The reading process's id; None before the first read and after a failure."""
        return None if self._worker is None else self._worker.process.pid

    def close(self) -> None:
        """Stop the worker, if one was started."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def read(self, path: str | Path, standalone: bool, text_layer: bool = False) -> Found:
        """What `read_file_einvoice(path, standalone, max_bytes, text_layer)` gives, read in the
        worker.

        Raises InvoiceXmlError (READ_FAILED, too, for a read that crashed the worker, ran out
        of memory or time) and OSError as it does.
        """
        if self._reads_inline():
            return read_file_einvoice(path, standalone, self.max_bytes, text_layer)
        try:
            reply, said = self._ask((str(path), standalone, text_layer))
        except ReaderLost as lost:
            self._discard()
            raise InvoiceXmlError(InvoiceXmlProblem.READ_FAILED, str(lost)) from None
        for name, level, message in said:
            logging.getLogger(name).log(level, "%s", message)
        return self._answer(reply)

    def _reads_inline(self) -> bool:
        if self.inline is None:
            self.inline = works_in_this_process(
                log, "reading e-invoices in this process", "a reading process",
                "read them in a process of their own",
            )  # fmt: skip
        return self.inline

    def _ask(self, request: tuple[str, bool, bool]) -> tuple[tuple[Any, ...], list[Any]]:
        if self._worker is None:
            self._worker = _Worker(self.max_bytes)
        try:
            self._worker.conn.send(request)
        except (BrokenPipeError, OSError):  # the idle worker died: a fresh one takes it
            self._discard()
            self._worker = _Worker(self.max_bytes)
            self._worker.conn.send(request)
        return self._worker.answer(self.timeout_s)

    def _answer(self, reply: tuple[Any, ...]) -> Found:
        kind = reply[0]
        if kind == "found":
            found: Found = reply[1]
            return found
        if kind == "oserror":
            raise reply[1]
        problem = InvoiceXmlProblem(reply[1])
        if problem is InvoiceXmlProblem.READ_FAILED:  # memory or state it may not get back
            self._discard()
        raise InvoiceXmlError(problem, reply[2])

    def _discard(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()


class _Worker:
    """The reading process and the parent's end of its pipe."""

    def __init__(self, max_bytes: int) -> None:
        context = get_context("spawn")
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child, max_bytes), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def answer(self, timeout_s: float) -> tuple[tuple[Any, ...], list[Any]]:
        """The worker's reply to the request just sent; ReaderLost when it dies first, or
        runs past `timeout_s` (after its start-up, which may take STARTUP_GRACE_S)."""
        if not self.ready:
            if self._receive(STARTUP_GRACE_S, "start") != _READY:
                raise ReaderLost("the e-invoice reader answered out of turn")
            self.ready = True
        reply: tuple[tuple[Any, ...], list[Any]] = self._receive(timeout_s, "read this file")
        return reply

    def _receive(self, timeout_s: float, doing: str) -> Any:
        if not wait([self.conn, self.process.sentinel], timeout_s):
            self.kill()
            raise ReaderLost(f"the e-invoice reader took longer than {timeout_s:g} s to {doing}")
        with contextlib.suppress(EOFError, OSError):
            if self.conn.poll():
                return self.conn.recv()
        self.process.join(timeout=5)  # its pipe may close a moment before it exits
        raise ReaderLost(f"the e-invoice reader {_how_it_ended(self.process.exitcode)} "
                         f"while it was to {doing}")  # fmt: skip

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        self.kill()


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = " (out of memory, or killed from outside)" if name == "SIGKILL" else ""
        return f"was killed by {name}{why}"
    return f"exited with code {exitcode}"


# --- in the worker ------------------------------------------------------------------------------


class _Said(logging.Handler):
    """What was logged in the worker since the last `take`, for the parent to log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    def take(self) -> list[tuple[str, int, str]]:
        taken, self.records = self.records, []
        return taken


def _worker_main(conn: Connection, max_bytes: int) -> None:
    """Limit this process's memory, then read each (path, standalone, text_layer) request
    until None or a closed pipe, answering (reply, what was logged)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _limit_memory(memory_limit(max_bytes))
    if "pymupdf" not in sys.modules:  # its layout analysis (onnxruntime) is never used here
        sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
    import pymupdf  # noqa: F401 - before "ready", so start-up is not reading time

    said = _Said()
    logging.getLogger().addHandler(said)
    logging.getLogger().setLevel(logging.INFO)
    try:
        conn.send(_READY)
        while (request := conn.recv()) is not None:
            reply = _read(request[0], request[1], max_bytes, request[2])
            conn.send((reply, said.take()))
    except (EOFError, BrokenPipeError, OSError):
        return


def _limit_memory(limit: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read(path: str, standalone: bool, max_bytes: int, text_layer: bool) -> tuple[Any, ...]:
    """The reply to one request: ("found", result), ("oserror", error) or ("invalid",
    problem, message)."""
    try:
        return "found", read_file_einvoice(path, standalone, max_bytes, text_layer)
    except InvoiceXmlError as exc:
        return "invalid", str(exc.problem), str(exc)
    except OSError as exc:
        return "oserror", exc
    except MemoryError:
        limit = memory_limit(max_bytes) / 2**20
        message = f"reading it took more memory than the e-invoice reader has ({limit:,.0f} MiB)"
        return "invalid", str(InvoiceXmlProblem.READ_FAILED), message
    except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is
        message = f"reading it failed: {type(exc).__name__}: {exc}"
        return "invalid", str(InvoiceXmlProblem.READ_FAILED), message
