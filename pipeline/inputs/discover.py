"""Discovery: turn paths, folders and globs into unique `SourceFile` records.

The kind of a file comes from its first bytes, not its name; its id is the sha256 of its
content, so the same document under two names is processed once. XML is a document only when it
is an e-invoice (`pipeline.inputs.einvoice_sniff`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ErrorCode, Stage
from pipeline.inputs.einvoice_sniff import WHAT_IS_READ, as_utf8, is_invoice_xml
from pipeline.records import ErrorRecord, FileKind, SourceFile

HEAD_BYTES = 1024
XML_HEAD_BYTES = 4096  # room for the namespace declarations of an e-invoice's root element
# Names a PDF uses for attached files (an e-invoice is one), and the object streams whose
# compressed content could hide them: a PDF showing none of these has nothing attached.
_ATTACHMENT_MARKS = (b"/EmbeddedFile", b"/FileAttachment", b"/ObjStm")
_MARK_OVERLAP = 16  # bytes kept between chunks, so a mark cut in two is still seen
XML_PROLOG_BYTES = 1 << 16  # an XML file's comments before its root element (licence texts)
CHUNK_BYTES = 1 << 20
_GLOB_CHARS = frozenset("*?[")
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_PDF_OBJECT = re.compile(rb"\s*(%[^\n]*\n\s*)*\d+\s+\d+\s+obj\b")
"""A file that starts with a PDF indirect object ("1 0 obj"), comments allowed before it."""


@dataclass(slots=True)
class Discovery:
    """What `discover_sources` found: documents to process, inputs that are not, duplicates."""

    sources: list[SourceFile] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)


def detect_kind(head: bytes) -> FileKind | None:
    """The document kind from a file's first bytes (at least 16; 1 KiB finds late PDF headers)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FileKind.TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileKind.WEBP
    if (
        head[:2] == b"BM"
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in (_BMP_DIB_SIZES)
    ):
        return FileKind.BMP
    if b"%PDF-" in head[:HEAD_BYTES]:
        return FileKind.PDF
    if is_invoice_xml(head):
        return FileKind.XML
    return None


def _shows_attachments(data: bytes) -> bool:
    """Whether PDF bytes name an attached file, or hold compressed objects that could."""
    return any(mark in data for mark in _ATTACHMENT_MARKS)


def _looks_like_xml(head: bytes) -> bool:
    """Whether a file starts like XML (its root element may come after long comments)."""
    return as_utf8(head).removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def shard_of(sha256: str, count: int) -> int:
    """The shard (0..count-1) a document belongs to; stable across runs and machines."""
    return int(sha256[:16], 16) % count


def discover_sources(
    inputs: Sequence[str | Path], exclude: Path | None = None, *, absolute: bool = False
) -> Discovery:
    """Expand files, folders (recursively, skipping hidden entries) and globs (`**` allowed)
    into unique documents sorted by path. Problems become DISCOVER error records; a file whose
    content was already seen goes to `duplicates` as (this path, first path).

    Files under `exclude` (the output folder, when it sits inside an input folder) are not
    inputs, unless the input named is itself inside `exclude` (or is it); the parts of the
    tables a run wrote there never are. With `absolute`, the paths
    found are absolute (links kept as they are named), so they name the same files from any
    folder; an input that matches nothing is still named as given.
    """
    found = Discovery()
    candidates: dict[Path, Path] = {}
    skipped = _identity(exclude) if exclude is not None else None
    for item in inputs:
        named = os.path.abspath(item) if absolute else item
        paths = list(_expand(named, found.errors))
        if not paths and not Path(item).is_dir():  # an empty inbox is a quiet night, no error
            found.errors.append(
                _error(str(item), ErrorCode.NOT_FOUND, "no such file, folder or glob match")
            )
        inside = skipped is not None and _identity(Path(item)).is_relative_to(skipped)
        for path in paths:
            identity = _identity(path)
            if skipped is not None and identity.is_relative_to(skipped) and (
                not inside or _written_by_a_run(identity, skipped)
            ):
                continue
            # Keyed by the path as named, links kept: a file named twice is read once, and a
            # link to a file is a path of its own, found as a duplicate of its target.
            candidates.setdefault(Path(os.path.abspath(path)), path)
    first_by_hash: dict[str, Path] = {}
    for path in sorted(candidates.values(), key=str):
        source = _inspect(path, found.errors)
        if source is None:
            continue
        first = first_by_hash.get(source.sha256)
        if first is not None:
            found.duplicates.append((path, first))
            continue
        first_by_hash[source.sha256] = path
        found.sources.append(source)
    return found


def _written_by_a_run(path: Path, out: Path) -> bool:
    """Whether `path` is a part of a table a run wrote in `out` (`<schema>/<table>/part-*`):
    never an input, even where the input named is `out` itself."""
    parts = path.relative_to(out).parts
    return len(parts) == 3 and parts[2].startswith("part-") and parts[2].endswith(".parquet")


def _expand(item: str | Path, errors: list[ErrorRecord]) -> Iterator[Path]:
    path = Path(item)
    if path.is_dir():
        yield from _walk(path, errors)
    elif path.exists() or path.is_symlink():
        yield path
    elif _GLOB_CHARS & set(str(item)):
        for match in sorted(glob.glob(str(item), recursive=True)):
            matched = Path(match)
            if matched.is_dir():
                yield from _walk(matched, errors)
            else:
                yield matched


def _walk(root: Path, errors: list[ErrorRecord]) -> Iterator[Path]:
    """Files under `root`, through links to folders too, each folder once (a link that loops
    back is not followed again); a folder that cannot be listed becomes an UNREADABLE error."""

    def unreadable(exc: OSError) -> None:
        message = f"folder cannot be read: {exc.strerror}"
        errors.append(_error(str(exc.filename), ErrorCode.UNREADABLE, message))

    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        try:
            here = os.stat(folder)
        except OSError as exc:
            unreadable(exc)
            dirs[:] = []
            continue
        if (here.st_dev, here.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on Python 3.11 and 3.12
        return path.absolute()


def _inspect(path: Path, errors: list[ErrorRecord]) -> SourceFile | None:
    name = str(path)
    try:
        if not path.exists():
            errors.append(
                _error(name, ErrorCode.NOT_FOUND, "file not found (a broken link or a link loop)")
            )
            return None
        if not path.is_file():
            errors.append(_error(name, ErrorCode.NOT_A_DOCUMENT, "not a regular file"))
            return None
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            mtime_ns = os.fstat(handle.fileno()).st_mtime_ns
            head = handle.read(XML_HEAD_BYTES)
            digest.update(head)
            size += len(head)
            kind = detect_kind(head)
            if kind is None and _looks_like_xml(head):
                more = handle.read(XML_PROLOG_BYTES - len(head))
                digest.update(more)
                size += len(more)
                head += more
                kind = detect_kind(head)
            if kind is None and b"%PDF-" in head:
                kind = FileKind.PDF  # a header after junk: MuPDF repairs such files
            attachments = _shows_attachments(head)
            tail = head[-_MARK_OVERLAP:]
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                if kind is None and b"%PDF-" in tail + chunk:
                    kind = FileKind.PDF  # a header after junk: MuPDF repairs such files
                if not attachments and kind in (None, FileKind.PDF):  # images need no look
                    attachments = _shows_attachments(tail + chunk)
                tail = chunk[-_MARK_OVERLAP:]
    except OSError as exc:
        errors.append(_error(name, ErrorCode.UNREADABLE, f"cannot read: {exc.strerror or exc}"))
        return None
    if size == 0:
        errors.append(_error(name, ErrorCode.EMPTY_FILE, "file is empty (0 bytes)"))
        return None
    if kind is None and _PDF_OBJECT.match(head):
        kind = FileKind.PDF  # no header, but PDF objects: MuPDF repairs such files
    if kind is None:
        errors.append(
            _error(
                name,
                ErrorCode.NOT_A_DOCUMENT,
                f"not a PDF, PNG, JPEG, TIFF, WebP or BMP file, nor {WHAT_IS_READ} (checked "
                "its first bytes)",
                digest.hexdigest(),
            )
        )
        return None
    return SourceFile(
        path=path,
        sha256=digest.hexdigest(),
        size=size,
        kind=kind,
        mtime_ns=mtime_ns,
        may_have_attachments=kind is not FileKind.PDF or attachments,
    )


def _error(path: str, code: ErrorCode, message: str, doc_id: str = "") -> ErrorRecord:
    return ErrorRecord(
        doc_id=doc_id, path=path, stage=Stage.DISCOVER, code=code, message=f"{path}: {message}"
    )
