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


def test_the_readme_quotes_make_as_make_reports_a_run_that_exits_3(tmp_path):
    """`make run` stops on docextract's exit 3 with make's own exit 2, and the README shows
    make's line for it with the Makefile's line number of today."""
    import os
    import subprocess

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    shim = venv / "bin" / "docextract"
    shim.write_text("#!/bin/sh\nexit 3\n")
    shim.chmod(0o755)
    (venv / ".installed").touch()  # nothing to install
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    env = {key: value for key, value in os.environ.items() if key not in outer}
    done = subprocess.run(["make", "run", f"VENV={venv}", f"OUT={tmp_path / 'out'}"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    reported = re.findall(r"make: \*\*\* \[Makefile:\d+: run\] Error 3", done.stderr)
    quoted = re.findall(r"make: \*\*\* \[Makefile:\d+: \w+\] Error \d+", README)
    assert len(reported) == 1 and quoted and set(quoted) == set(reported)
    assert "`Error 3`" in README and "failed target, 2" in README


def test_the_readme_pastes_no_count_of_tests():
    """Counts of the suite's tests change with every test: the README quotes none."""
    assert not re.findall(r"^\d+ passed\b.*$", README, re.MULTILINE)


def test_the_schema_table_lists_every_builtin_schema_and_every_rule_code():
    """One row per built-in schema, in registry order, naming each rule code its module can
    return; and the codes in the table are real ones."""
    import inspect
    import sys

    from schemas import BUILTIN_SCHEMAS

    rows = [line for line in _section("Schemas, rules and custom models") if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    assert names == list(BUILTIN_SCHEMAS)
    for name, row in zip(names, rows, strict=True):
        source = inspect.getsource(sys.modules[BUILTIN_SCHEMAS[name].__module__])
        in_code = set(re.findall(rf'"({name}\.\w+)"', source))
        in_table = set(re.findall(rf"`({name}\.\w+)`", row.split("|")[3]))
        assert in_code and in_table == in_code, name
