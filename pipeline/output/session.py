"""One run's hold on its output folder, from taking the lock to writing the run's manifest."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.errors import RunEnd
from pipeline.output.layout import migrate_layout, runs_dir
from pipeline.output.ledger import Ledger
from pipeline.output.lock import OutputLock, RunMark, is_run_live
from pipeline.output.manifest import recover_manifests, write_manifest
from pipeline.output.report import RunReport
from pipeline.output.sink import reconcile


class OutputSession:
    """A run's hold on OUT.

    Entering takes the folder's lock (waiting for it with `wait`), brings an OUT written by an
    older docextract into the current layout, marks the run live, opens the ledger, and settles
    what runs killed earlier left behind: temporary files, parts that no ledger row names
    (`reconciled` counts both), and manifests those runs never wrote. `begin` records the run
    as started; `end` records how it ended and writes its manifest. Leaving closes the ledger
    and releases the mark and the lock, also when the run raised.
    """

    def __init__(
        self,
        out: Path,
        run_id: str,
        schema: str,
        *,
        wait: bool = False,
        shard: tuple[int, int] = (0, 1),
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.out, self.run_id, self.schema = out, run_id, schema
        self._lock = OutputLock(out, wait=wait, shard=shard, on_wait=on_wait)
        self._stack = contextlib.ExitStack()
        self.ledger: Ledger
        self.reconciled: dict[str, int] = {}
        self.started_at = time.time()
        self._begun = False

    def __enter__(self) -> OutputSession:
        with self._stack as stack:
            stack.enter_context(self._lock)
            migrate_layout(self.out)  # an OUT from an older docextract, once
            stack.enter_context(RunMark(self.out, self.run_id))
            self.ledger = stack.enter_context(Ledger(self.out))
            self.reconciled = reconcile(self.out, self.schema, self.ledger, self.is_other_live)
            recover_manifests(self.out, self.ledger, self.is_other_live)
            self.ledger.mark_killed(self.is_other_live)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def is_other_live(self, run_id: str) -> bool:
        """Whether `run_id` is another run that is still writing here."""
        return run_id != self.run_id and is_run_live(self.out, run_id)

    def begin(self) -> None:
        """Record in the ledger that this run started writing."""
        self.ledger.start_run(self.run_id)
        self._begun = True

    def end(self, ended: RunEnd, parts: list[dict[str, Any]], summary: dict[str, Any]) -> None:
        """Record how the run ended and write its manifest of `parts`.

        A begun run's manifest that cannot be written (a full disk, say) is left to the next
        run, which writes it from the ledger; a run that never began has no ledger row to
        recover it from, so its error stands."""
        if not self._begun:
            self._write_manifest(ended, parts, summary)
            return
        self.ledger.finish_run(self.run_id, ended)
        with contextlib.suppress(OSError):
            self._write_manifest(ended, parts, summary)

    def _write_manifest(
        self, ended: RunEnd, parts: list[dict[str, Any]], summary: dict[str, Any]
    ) -> None:
        write_manifest(self.out, self.run_id, ended, self.started_at, time.time(), parts, summary)

    def write_report(self, report: RunReport) -> None:
        """Keep the run's summary (its report as JSON) under OUT."""
        report.write_json(runs_dir(self.out))
