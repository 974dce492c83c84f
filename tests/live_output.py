"""Each passing test's captured output on the terminal as soon as the test ends, also from
pytest-xdist's workers, whose output xdist does not forward even with -s.

The GPU suite's tests print their figures (pages/s, restart events, confidences): a run cut
short keeps those of the tests that ended, and a parallel run (`-n 4`) shows them without -s.
`tests/gpu/conftest.py` turns it on with `register(config)`."""

from __future__ import annotations

import pytest


class LiveOutput:
    """Writes a passing test's captured stdout, under its node id, once its call has ended."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        text = report.capstdout.strip()
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if report.when != "call" or not report.passed or not text or reporter is None:
            return
        reporter.ensure_newline()
        reporter.write_line(f"--- {report.nodeid}")
        for line in text.splitlines():
            reporter.write_line(line)


def register(config: pytest.Config) -> None:
    """Turn it on in the process that owns the terminal: not in an xdist worker, whose
    reports the controller receives, and not under -s, where the output is already there."""
    if hasattr(config, "workerinput") or config.getoption("capture") == "no":
        return
    if not config.pluginmanager.has_plugin("live-output"):
        config.pluginmanager.register(LiveOutput(config), "live-output")
