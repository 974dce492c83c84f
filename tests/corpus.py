"""Where the shared corpus of real-world documents lies: $DOCEXTRACT_CORPUS, else the
`shared/corpus` folder beside this checkout. Tests that use it skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(
    os.environ.get("DOCEXTRACT_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
