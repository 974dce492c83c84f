"""How page pixels travel from a render process to docextract's process without the pipe.

A pipe costs several copies and ~14 ms per A4 page. Instead the render process writes a
result's pixels into a fresh anonymous file (memfd; an unlinked temporary file where there is no
memfd, as on macOS) and passes its descriptor over the pipe's Unix socket; docextract's process
maps it read-only, and the pages' pixels are views of that mapping, not copies. The file has no
name anywhere, so nothing is left behind however a process ends, and its memory is freed when
the last page viewing it is dropped.
"""

from __future__ import annotations

import mmap
import os
import socket
from multiprocessing.connection import Connection

from pipeline.records import Page


def anonymous_file() -> int:
    """A descriptor of a fresh file with no name: a memfd on Linux, elsewhere (macOS has no
    memfd_create) a temporary file unlinked at once."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("docextract-pages", os.MFD_CLOEXEC)
    import tempfile

    fd, name = tempfile.mkstemp(prefix="docextract-pages-")
    os.unlink(name)
    return fd


def pack_pixels(pages: tuple[Page, ...]) -> tuple[int, list[tuple[int, int]]]:
    """Write every page's pixels into a fresh anonymous file: (its descriptor, (offset,
    length) spans)."""
    fd = anonymous_file()
    try:
        spans, offset = [], 0
        for page in pages:
            view = memoryview(page.pixels).cast("B")
            spans.append((offset, len(view)))
            offset += len(view)
            while view:
                view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        raise
    return fd, spans


def map_pixels(fd: int, spans: list[tuple[int, int]]) -> list[memoryview]:
    """Read-only views of a worker's memfd; the mapping lives as long as any view of it."""
    try:
        size = os.fstat(fd).st_size
        if any(offset + length > size for offset, length in spans):
            raise OSError(f"render worker sent {size} bytes of pixels, fewer than announced")
        whole = memoryview(mmap.mmap(fd, size, access=mmap.ACCESS_READ))
    finally:
        os.close(fd)
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
