"""A run whose writer fails, at a row and again at its last commit (a disk filling up), still
stops its render thread, and so its render processes, before it returns: a process left
starting a render process as it exits would leave that child a traceback on stderr."""

from __future__ import annotations

import errno
import io
import threading

import pytest

from pipeline.config import load_config
from pipeline.engines.null import NullEngine
from pipeline.errors import OutputNotWritable
from pipeline.extract.extraction import PRODUCER_THREAD
from pipeline.output.progress import PlainReporter
from pipeline.output.recorder import RunRecorder
from pipeline.run import run_extraction
from tests.run_helpers import make_unique_pdf


def _disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


async def _disk_full_at_close(self: RunRecorder) -> None:
    _disk_full()


def test_a_run_whose_writer_fails_to_the_end_joins_its_render_thread(tmp_path, monkeypatch):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for n in range(40):
        make_unique_pdf(inbox / f"doc{n}.pdf", 2, f"DOC{n}")
    monkeypatch.setattr(RunRecorder, "extracted", _disk_full)
    monkeypatch.setattr(RunRecorder, "close", _disk_full_at_close)
    flags = {"inputs": [str(inbox)], "out": str(tmp_path / "out"), "log_format": "plain",
             "render": {"workers": 1}}  # fmt: skip
    with pytest.raises(OutputNotWritable):
        run_extraction(load_config(flags, None, {}), NullEngine(), PlainReporter(io.StringIO()))
    assert not [t for t in threading.enumerate() if t.name == PRODUCER_THREAD and t.is_alive()]
