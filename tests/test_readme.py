"""The README's map of the code stays true: every module and name it points to exists."""

from __future__ import annotations

import re

from tests.run_helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> list[str]:
    lines = README.split(f"\n## {title}\n", 1)[1].splitlines()
    end = next(n for n, line in enumerate(lines) if line.startswith("#"))
    return [f"## {title}", *lines[:end]]


def _seams() -> list[tuple[str, str]]:
    """(module, name) pairs of the seams table: `output/session.py` `OutputSession`."""
    rows = [line for line in _section("Development") if line.startswith("| ")]
    pairs = []
    for row in rows:
        where = row.split("|")[2]
        pairs += re.findall(r"`([\w/]+\.py)` `(\w+)`", where)
    return pairs


def test_the_development_map_fits_in_40_lines_and_points_at_real_code():
    assert len(_section("Development")) <= 40
    seams = _seams()
    assert len(seams) >= 5
    for module, name in seams:
        path = ROOT / "pipeline" / module
        assert path.is_file(), module
        defined = rf"^(class|def) {name}\b|^{name}\b"
        assert re.search(defined, path.read_text(), re.MULTILINE), (module, name)
