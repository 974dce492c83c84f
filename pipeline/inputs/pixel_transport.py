"""How page pixels travel from a render process to docextract's process without the pipe.

A pipe costs several copies and ~14 ms per A4 page. Instead each render process keeps a few
anonymous shared files (memfd; an unlinked temporary file where there is no memfd, as on
macOS), writes a result's pixels into one and passes its descriptor over the pipe's Unix
socket; docextract's process maps it read-only, and the pages' pixels are views of that mapping,
not copies. When docextract's process has dropped every page of a buffer, it says so with the
render process's next task, and the buffer takes a later result: memory the kernel has to
allocate and zero afresh costs about as much as rasterising the page. The files have no name
anywhere, so nothing is left behind however a process ends.
"""

from __future__ import annotations

import mmap
import os
import socket
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from pipeline.records import Page

_GRAIN = 1 << 20  # buffer sizes are whole MiB, so pages of similar sizes share buffers


def anonymous_file() -> int:
    """A descriptor of a fresh file with no name: a memfd on Linux, elsewhere (macOS has no
    memfd_create) a temporary file unlinked at once."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("docextract-pages", os.MFD_CLOEXEC)
    import tempfile

    fd, name = tempfile.mkstemp(prefix="docextract-pages-")
    os.unlink(name)
    return fd


@dataclass(eq=False, slots=True)
class _Buffer:
    number: int
    fd: int
    memory: mmap.mmap

    @property
    def size(self) -> int:
        return len(self.memory)

    def close(self) -> None:
        self.memory.close()
        os.close(self.fd)


@dataclass(frozen=True, slots=True)
class Packed:
    """Pixels written into a shared buffer: its number, its descriptor (still the render
    process's own) and each page's (offset, length)."""

    buffer: int
    fd: int
    spans: list[tuple[int, int]]


class PixelBuffers:
    """A render process's shared buffers: lent to docextract's process while it holds pages
    in them, reused once it gives them back, at most `keep_free` kept idle."""

    def __init__(self, keep_free: int = 2) -> None:
        self.keep_free = keep_free
        self._lent: dict[int, _Buffer] = {}
        self._free: list[_Buffer] = []
        self._numbered = 0

    def pack(self, pages: tuple[Page, ...]) -> Packed:
        """Copy every page's pixels into a buffer and lend it. Raises OSError when no memory
        is left for a new buffer."""
        views = [memoryview(page.pixels).cast("B") for page in pages]
        buffer = self._take(sum(len(view) for view in views))
        spans, offset = [], 0
        for view in views:
            buffer.memory[offset : offset + len(view)] = view
            spans.append((offset, len(view)))
            offset += len(view)
        self._lent[buffer.number] = buffer
        return Packed(buffer.number, buffer.fd, spans)

    def give_back(self, numbers: Iterable[int]) -> None:
        """Buffers docextract's process no longer maps: reuse them, or free the surplus."""
        for number in numbers:
            buffer = self._lent.pop(number, None)
            if buffer is not None:
                self._free.append(buffer)
        self._free.sort(key=lambda buffer: buffer.size)
        while len(self._free) > self.keep_free:
            self._free.pop(0).close()

    def close(self) -> None:
        for buffer in [*self._lent.values(), *self._free]:
            buffer.close()
        self._lent.clear()
        self._free.clear()

    def _take(self, size: int) -> _Buffer:
        """The smallest idle buffer that holds `size` bytes, else a new one."""
        for index, buffer in enumerate(self._free):
            if buffer.size >= size:
                return self._free.pop(index)
        size = max(_GRAIN, -(-size // _GRAIN) * _GRAIN)
        fd = anonymous_file()
        try:
            # Allocated now, so a lack of memory is an OSError here, not a SIGBUS on writing.
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
            else:
                os.ftruncate(fd, size)
            memory = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._numbered += 1
        return _Buffer(self._numbered, fd, memory)


def map_pixels(
    fd: int, spans: list[tuple[int, int]], on_release: Callable[[], object] | None = None
) -> list[memoryview]:
    """Read-only views of a render process's buffer (the descriptor is closed here). The
    mapping lives as long as any view of it; `on_release` is called when the last one goes,
    in whichever thread drops it."""
    try:
        size = os.fstat(fd).st_size
        if any(offset + length > size for offset, length in spans):
            raise OSError(f"render worker sent {size} bytes of pixels, fewer than announced")
        memory = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    if on_release is not None:
        weakref.finalize(memory, on_release)
    whole = memoryview(memory)
    return [whole[offset : offset + length] for offset, length in spans]


def send_fd(sock: socket.socket, fd: int) -> None:
    socket.send_fds(sock, [b"F"], [fd])


def receive_fd(sock: socket.socket) -> int:
    message, fds, _, _ = socket.recv_fds(sock, 1, 1, socket.MSG_CMSG_CLOEXEC)
    if not message:
        raise EOFError("render worker closed its pipe")
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError("render worker sent no pixel file")
    return fds[0]


def unix_socket(conn: Connection) -> socket.socket:
    """A socket object over a duplicate of the pipe's descriptor, for passing descriptors."""
    return socket.socket(fileno=os.dup(conn.fileno()))


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep the memory of freed pixmaps for the next ones (False where
    there is no glibc).

    A page's pixmap (4 MB at the defaults) is above malloc's mmap threshold, so by default
    each one is fresh memory from the kernel, zeroed and faulted in page by page: that costs
    about as much as rasterising the page. Raising the mmap and trim thresholds keeps freed
    pixmaps in the heap, where the next ones reuse them; a worker then holds at most its
    largest window of pages.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 256 << 20) and mallopt(m_trim_threshold, 512 << 20))
