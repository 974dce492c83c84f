"""MuPDF's own messages: never on stdout or stderr, where `--json` output and the log go, but
read after each use and logged."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def silence(pymupdf: Any) -> None:
    """Stop MuPDF printing its errors and warnings; keep them for `drain`."""
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)


def drain(pymupdf: Any, where: str) -> str:
    """What MuPDF said since the last drain, logged at info level under `where`; '' if nothing."""
    said = str(pymupdf.TOOLS.mupdf_warnings(reset=True) or "").strip()
    if said:
        log.info("%s: MuPDF: %s", where, "; ".join(said.splitlines()))
    return said
