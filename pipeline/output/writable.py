"""An OUT that cannot be written, told apart from every other failure: exit 7, one line."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import OutputNotWritable

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_DENIED = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ENOENT,
     errno.EISDIR}
)  # fmt: skip


def output_problem(exc: BaseException, out: Path) -> OutputNotWritable | None:
    """`exc` as an OUT that cannot be written (a full disk, no permission, a read-only or
    impossible folder, a ledger SQLite cannot write), or None when it is something else."""
    code = getattr(exc, "errno", None)
    sqlite_name = str(getattr(exc, "sqlite_errorname", "") or "")
    if code in _DISK_FULL or sqlite_name == "SQLITE_FULL" or "disk is full" in str(exc):
        return OutputNotWritable(
            f"{out}: the disk is full; free some space and run again (what was committed "
            "before is kept)"
        )
    if isinstance(exc, sqlite3.OperationalError) and (
        sqlite_name.startswith(("SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN"))
        or "disk I/O error" in str(exc)
    ):
        return OutputNotWritable(f"{out}: the ledger cannot be written ({exc})")
    if isinstance(exc, sqlite3.DatabaseError) and (
        sqlite_name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in str(exc)
    ):
        return OutputNotWritable(
            f"{out}: the ledger (.docextract/ledger.sqlite) is damaged ({exc}); move it aside "
            "and run again: the next run rebuilds it from the parts"
        )
    name = getattr(exc, "filename", None)
    if code in _DENIED and name is not None and _is_within(Path(name), out):
        reason = getattr(exc, "strerror", None) or exc
        return OutputNotWritable(f"{out}: cannot be written ({name}: {reason})")
    return None


@contextmanager
def writing_to(out: Path) -> Iterator[None]:
    """Raise what `output_problem` makes of an OSError or SQLite error inside, from it."""
    try:
        yield
    except (OSError, sqlite3.DatabaseError) as exc:
        problem = output_problem(exc, out)
        if problem is None:
            raise
        raise problem from exc


def _is_within(path: Path, folder: Path) -> bool:
    return path.absolute().is_relative_to(folder.absolute())
