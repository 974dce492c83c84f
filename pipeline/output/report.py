"""What a run did, as one object: the CLI prints it, cron reads its JSON, CI gates on it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.errors import RunEnd


@dataclass
class RunReport:
    """Counts and figures of one run. `failure_rate` is over the items attempted this run;
    `inputs_failure_rate` over every item of its inputs, with the failures of earlier runs that
    it skipped (`still_failed`). `failures_above` is the rule of exit code 1."""

    run_id: str
    schema: str
    out: str
    engine: str = ""
    model: str = ""
    prompt_hash: str = ""
    dry_run: bool = False
    ended: RunEnd = "finished"
    files: int = 0
    documents: int = 0
    duplicates: int = 0
    skipped: int = 0
    still_failed: int = 0  # of `skipped`: failed in an earlier run, tried again by --retry-errors
    other_shards: int = 0
    extracted: int = 0
    from_xml: int = 0  # of `extracted`: rows read from e-invoice XML, no model asked
    with_warnings: int = 0
    failed: int = 0
    pages: int = 0
    failed_pages: int = 0  # pages of the documents that failed this run
    visual_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    errors_by_code: Counter = field(default_factory=Counter)
    warnings_by_code: Counter = field(default_factory=Counter)  # documents with each warning
    answers_by_replica: Counter = field(default_factory=Counter)  # data-parallel rank -> answers
    answers_by_served_model: Counter = field(default_factory=Counter)  # as a server named it
    reconciled: dict = field(default_factory=dict)
    planned: list = field(default_factory=list)
    copies: list = field(default_factory=list)  # files whose content an earlier run extracted
    needs_model: list = field(default_factory=list)  # paths left for a run whose engine starts
    in_flight_at_death: int = 0  # requests the engine had when it died: read alone next run

    @property
    def attempted(self) -> int:
        return self.extracted + self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.attempted if self.attempted else 0.0

    @property
    def inputs_failure_rate(self) -> float:
        """The share of the inputs that stand failed after this run: its own failures and the
        earlier ones it skipped, over what it attempted and what it skipped."""
        items = self.attempted + self.skipped
        return (self.failed + self.still_failed) / items if items else 0.0

    def failures_above(self, max_failure_rate: float) -> bool:
        """Whether failures stand above `max_failure_rate`, counted two ways: among the items
        this run attempted, and among all its inputs (`inputs_failure_rate`), so a failure
        that a re-run skips still counts every night until it is retried, fixed or removed.
        A dry run attempts nothing and is never above."""
        if self.dry_run:
            return False
        rates = (self.failure_rate, self.inputs_failure_rate)
        return any(rate > max_failure_rate for rate in rates)

    @property
    def other_served_models(self) -> list[str]:
        """Models a server said answered that are not the model the rows are recorded under."""
        return sorted(set(self.answers_by_served_model) - {self.model})

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["errors_by_code"] = dict(sorted(self.errors_by_code.items()))
        data["warnings_by_code"] = dict(sorted(self.warnings_by_code.items()))
        data["answers_by_replica"] = {
            str(rank): count for rank, count in sorted(self.answers_by_replica.items())
        }
        data["answers_by_served_model"] = dict(sorted(self.answers_by_served_model.items()))
        data["failure_rate"] = round(self.failure_rate, 4)
        data["inputs_failure_rate"] = round(self.inputs_failure_rate, 4)
        data["pages_per_s"] = round(self.pages_per_s, 3)
        data["elapsed_s"] = round(self.elapsed_s, 3)
        return data

    def write_json(self, folder: Path) -> Path:
        """Write the summary as <folder>/<run_id>.json (OUT/.docextract/runs, atomically) and return
        its path."""
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{self.run_id}.json"
        tmp = folder / f".{self.run_id}.json.tmp"
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        tmp.replace(final)
        return final


def still_failed_text(count: int) -> str:
    """What a summary says of the failures of earlier runs that a run skipped."""
    if count == 1:
        return "1 document still failed; --retry-errors tries it again"
    return f"{count} documents still failed; --retry-errors tries them again"
