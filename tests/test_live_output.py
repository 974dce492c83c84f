"""tests/live_output.py, the plugin that puts each passing GPU test's figures on the terminal as
the test ends: run by a real pytest in a subprocess, one test at a time and with pytest-xdist's
workers (whose output xdist alone drops)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.run_helpers import ROOT

TESTS = """
def test_one():
    print("figure one: 1.5 pages/s")

def test_two():
    print("figure two: first result 7 s")

def test_fails():
    print("said by a failing test")
    assert False

def test_quiet():
    pass
"""
CONFTEST = """
from tests import live_output

def pytest_configure(config):
    live_output.register(config)
"""


def _pytest(folder: Path, *args: str, plugin: bool = True) -> str:
    (folder / "test_figures.py").write_text(TESTS)
    (folder / "conftest.py").write_text(CONFTEST if plugin else "")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", *args,
         str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the one failing test
    return done.stdout


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-at-a-time", "xdist"])
def test_each_passing_tests_output_shows_once_under_its_name(tmp_path, workers):
    pytest.importorskip("xdist")
    shown = _pytest(tmp_path, "-v", *workers)  # as make gpu-test runs it
    summary = shown.index("1 failed, 3 passed")
    for name, figure in (("test_one", "figure one: 1.5 pages/s"),
                         ("test_two", "figure two: first result 7 s")):  # fmt: skip
        assert shown.count(figure) == 1, shown
        header = shown.index(f"\n--- test_figures.py::{name}\n")
        assert header < shown.index(f"\n{figure}\n") < summary
    assert "--- test_figures.py::test_fails" not in shown
    assert "--- test_figures.py::test_quiet" not in shown
    assert shown.count("\nsaid by a failing test\n") == 1  # in the failure's own section


def test_without_it_xdist_shows_no_figures_and_with_s_it_stays_out_of_the_way(tmp_path):
    pytest.importorskip("xdist")
    assert "figure one" not in _pytest(tmp_path, "-q", "-n", "2", plugin=False)
    shown = _pytest(tmp_path, "-q", "-s")
    assert shown.count("figure one: 1.5 pages/s") == 1 and "--- test_figures.py" not in shown
