"""RenderPool with real worker processes: results, laziness, crashes, hangs and signals."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.inputs.discover import discover_sources
from pipeline.inputs.render import render_document
from pipeline.inputs.renderpool import RenderPool, RenderTask
from pipeline.records import RenderedDocument, SourceFile
from tests.fixtures_documents import make_pdf

pytestmark = pytest.mark.slow
CONFIG = RenderConfig(max_pixels=256 * 32 * 32, timeout_s=30)


def misbehaving_render(
    source: SourceFile, config: RenderConfig, first_page: int = 0, max_pages: int | None = None
) -> RenderedDocument:
    """render_document, except for files named to crash, hang or raise (runs in workers)."""
    name = source.path.name
    if name.startswith("crash"):
        os._exit(7)
    if name.startswith("segv"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("hang"):
        time.sleep(600)
    if name.startswith("raise"):
        raise RuntimeError("renderer bug")
    return render_document(source, config, first_page, max_pages)


def make_sources(folder: Path, names: list[str], pages: int = 1) -> list[SourceFile]:
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        make_pdf(folder / name, pages=pages + number % 2)
    found = discover_sources([folder / name for name in names])
    assert not found.errors and len(found.sources) == len(names)
    return found.sources


def test_pool_results_equal_in_process_rendering(tmp_path: Path) -> None:
    sources = make_sources(tmp_path, [f"doc{i}.pdf" for i in range(5)])
    with RenderPool(CONFIG, workers=2) as pool:
        results = list(
            pool.render(RenderTask(s, 0, 1 if i == 1 else None) for i, s in enumerate(sources))
        )
    assert sorted(str(r.source.path) for r in results) == sorted(str(s.path) for s in sources)
    for result in results:
        index = sources.index(result.source)
        expected = render_document(result.source, CONFIG, 0, 1 if index == 1 else None)
        assert result.error is None and result.page_count == expected.page_count
        assert result.pages == expected.pages  # pixels included, byte for byte


def test_tasks_are_pulled_lazily(tmp_path: Path) -> None:
    sources = make_sources(tmp_path, ["a.pdf", "b.pdf"])
    pulled = 0

    def tasks() -> Iterator[RenderTask]:
        nonlocal pulled
        for number in range(40):
            pulled += 1
            yield RenderTask(sources[number % 2])

    with RenderPool(CONFIG, workers=2) as pool:
        stream = pool.render(tasks())
        next(stream)
        assert pulled <= 2 * 2
        seen = 1 + sum(1 for _ in stream)
    assert seen == 40 and pulled == 40


@pytest.mark.timeout(60)
def test_crash_hang_and_exception_become_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    names = ["crash.pdf", "good1.pdf", "hang.pdf", "segv.pdf", "raise.pdf", "good2.pdf"]
    sources = make_sources(tmp_path, names)
    config = CONFIG.model_copy(update={"timeout_s": 2.0})
    started = time.monotonic()
    with RenderPool(config, workers=2, render_fn=misbehaving_render) as pool:
        results = {r.source.path.name: r for r in pool.render(RenderTask(s) for s in sources)}
        crashes, timeouts = pool.crashes, pool.timeouts
        # the pool is whole again: replaced workers render normally
        again = list(pool.render([RenderTask(sources[1])]))
    assert time.monotonic() - started < 30
    assert set(results) == set(names)
    codes = {name: (r.error.code if r.error else None) for name, r in results.items()}
    assert codes == {
        "crash.pdf": ErrorCode.RENDER_CRASH,
        "segv.pdf": ErrorCode.RENDER_CRASH,
        "hang.pdf": ErrorCode.RENDER_TIMEOUT,
        "raise.pdf": ErrorCode.RENDER_FAILED,
        "good1.pdf": None,
        "good2.pdf": None,
    }
    for name in ("crash.pdf", "hang.pdf", "segv.pdf"):
        error = results[name].error
        assert error.stage is Stage.RENDER and str(tmp_path / name) in error.message
    assert "exit code 7" in results["crash.pdf"].error.message
    # the limit is named where a run sets it: `docextract run` has no --timeout
    assert "2 s; raise [render] timeout_s (docextract pages" in results["hang.pdf"].error.message
    assert (crashes, timeouts) == (2, 1)
    assert again[0].error is None and len(again[0].pages) == 2


def test_workers_ignore_sigint_and_dead_idle_workers_are_replaced(tmp_path: Path) -> None:
    sources = make_sources(tmp_path, ["a.pdf", "b.pdf", "c.pdf"])
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # a host with its own handlers
    try:
        with RenderPool(CONFIG, workers=2) as pool:
            first = list(pool.render([RenderTask(sources[0])]))
            pids = [w.process.pid for w in pool._pool]
            os.kill(pids[0], signal.SIGINT)  # e.g. Ctrl-C reaching the process group
            os.kill(pids[1], signal.SIGKILL)  # e.g. a host killing its process tree
            time.sleep(0.5)
            results = list(pool.render(RenderTask(s) for s in sources))
            assert pool._pool[0].process.pid == pids[0]  # survived SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert first[0].error is None
    assert sorted(r.source.path.name for r in results) == ["a.pdf", "b.pdf", "c.pdf"]
    assert all(r.error is None for r in results), [r.error for r in results]


def test_worker_count_defaults_to_cpu_count_and_one_worker_works(tmp_path: Path) -> None:
    assert RenderPool(CONFIG, workers=0).workers == (os.cpu_count() or 1)
    sources = make_sources(tmp_path, ["a.pdf", "b.pdf"])
    with RenderPool(CONFIG, workers=1) as pool:
        results = list(pool.render(RenderTask(s) for s in sources))
        processes = [w.process for w in pool._pool]
    assert len(results) == 2 and all(r.error is None for r in results)
    assert not any(p.is_alive() for p in processes)  # closed on exit


def pixel_mappings() -> int:
    """How many of the pool's pixel files this process has mapped."""
    maps = Path("/proc/self/maps").read_text()
    return sum("memfd:docextract-pages" in line for line in maps.splitlines())


def test_pages_share_a_mapping_that_outlives_the_pool_and_goes_with_them(tmp_path: Path) -> None:
    sources = make_sources(tmp_path, ["a.pdf", "b.pdf", "c.pdf"])
    before = pixel_mappings()
    with RenderPool(CONFIG, workers=2) as pool:
        results = list(pool.render(RenderTask(s) for s in sources))
    assert pixel_mappings() == before + len(sources)  # one per result, not one per page
    for result in results:
        expected = render_document(result.source, CONFIG)
        assert result.pages == expected.pages  # still readable with the workers gone
        for page in result.pages:
            assert isinstance(page.pixels, memoryview) and page.pixels.readonly
            assert page.to_pil().tobytes() == bytes(page.pixels)
    kept = results[0].pages[-1]
    del results, result, page
    gc.collect()
    assert pixel_mappings() == before + 1  # the page still held keeps its own file alive
    del kept
    gc.collect()
    assert pixel_mappings() == before


@pytest.mark.timeout(60)
def test_a_killed_host_leaves_no_named_file_behind(tmp_path: Path) -> None:
    make_sources(tmp_path, ["a.pdf"])
    script = (
        "import os, signal, sys\n"
        "from pipeline.config import RenderConfig\n"
        "from pipeline.inputs.renderpool import RenderPool\n"
        "pool = RenderPool(RenderConfig(), workers=2).__enter__()\n"
        "print(os.getpid(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parent.parent
    shm = Path("/dev/shm")
    before = set(shm.iterdir()) if shm.is_dir() else set()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid = done.stdout.strip()
    after = set(shm.iterdir()) if shm.is_dir() else set()
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    assert not [path for path in after - before if pid in path.name]
    assert not [path for path in tmp.glob(f"docextract-render-{pid}-*")]


def test_workers_of_the_docextract_command_do_not_import_the_cli():
    """multiprocessing's spawn runs the parent's main script again in each render worker, as
    `__mp_main__`: for the `docextract` command that must not pull in typer and rich."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "docextract"
    if not script.exists():
        script = Path(shutil.which("docextract") or "")
    if not script.is_file():
        pytest.skip("the docextract command is not installed")
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "print(sorted(m for m in ('typer', 'rich', 'click', 'pipeline.cli') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_pixels_travel_without_memfd_create(monkeypatch):
    """Where os.memfd_create does not exist (macOS), pages travel in an unlinked temporary
    file: the same descriptor passing, nothing left on disk."""
    from pipeline.inputs.pixel_transport import PixelBuffers, map_pixels
    from tests.fixtures_model import make_pages

    pages = make_pages("doc", ((64, 32), (32, 96)))
    monkeypatch.delattr(os, "memfd_create")
    buffers = PixelBuffers()
    packed = buffers.pack(pages)
    assert os.fstat(packed.fd).st_nlink == 0  # no name anywhere
    views = map_pixels(os.dup(packed.fd), packed.spans)
    assert [bytes(view) for view in views] == [bytes(page.pixels) for page in pages]
    buffers.close()


def test_a_buffer_is_reused_only_once_given_back():
    from pipeline.inputs.pixel_transport import PixelBuffers
    from tests.fixtures_model import make_pages

    buffers = PixelBuffers(keep_free=1)
    first = buffers.pack(make_pages("a", ((64, 32),)))
    second = buffers.pack(make_pages("b", ((64, 32),)))
    assert second.buffer != first.buffer  # the first is still lent
    buffers.give_back([first.buffer])
    third = buffers.pack(make_pages("c", ((32, 32),)))
    assert third.buffer == first.buffer
    buffers.give_back([second.buffer, third.buffer])  # one more idle than it keeps
    kept = {buffers.pack(make_pages(name, ((8, 8),))).buffer for name in "de"}
    assert len(kept & {second.buffer, third.buffer}) == 1
    buffers.close()


def pixel_files() -> set[str]:
    """The inodes of the pool's pixel files that this process maps."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    return {line.split()[4] for line in maps if "memfd:docextract-pages" in line}


def test_a_worker_reuses_buffers_and_never_overwrites_pages_still_held(tmp_path: Path) -> None:
    sources = make_sources(tmp_path, [f"doc{i}.pdf" for i in range(8)])
    files_seen: set[str] = set()
    with RenderPool(CONFIG, workers=1) as pool:
        results = pool.render(RenderTask(s) for s in sources)
        held = next(results)
        expected = [bytes(page.pixels) for page in held.pages]
        for result in results:
            files_seen |= pixel_files()
            assert result.pages and result.error is None
            del result
    # The held document kept its buffer; the seven others went through few, reused ones.
    assert len(files_seen) <= 4
    assert [bytes(page.pixels) for page in held.pages] == expected
