"""Deciding what a run must do: discovered files, minus other shards, minus committed work."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pipeline.config import RunConfig
from pipeline.errors import ConfigError, ErrorCode
from pipeline.inputs.discover import discover_sources, shard_of
from pipeline.output.ledger import ItemKey, Ledger
from pipeline.output.report import RunReport
from pipeline.policy import is_done
from pipeline.records import ErrorRecord, SourceFile, storable


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes an extraction the same as a committed one."""

    schema: str
    prompt_hash: str
    model: str

    def key(self, item_id: str) -> ItemKey:
        return ItemKey(item_id, self.schema, self.prompt_hash, self.model)


@dataclass
class WorkPlan:
    """Sources to extract, discovery errors to record, and the other paths of duplicates."""

    sources: list[SourceFile] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    also_at: dict[str, list[str]] = field(default_factory=dict)


def error_item_id(record: ErrorRecord) -> str:
    """Files without a content hash (unreadable) are identified by path."""
    return record.doc_id or f"path:{storable(record.path)}"


def plan_work(config: RunConfig, ledger: Ledger, identity: Identity, report: RunReport) -> WorkPlan:
    """Discover the inputs and keep what this shard has not committed yet.

    What is committed is skipped as `pipeline.policy.is_done` says. With --per-page a
    document's pages are checked after rendering instead.
    """
    discovery = discover_sources(list(config.inputs), exclude=config.out)
    discovery.errors = _drop_unmatched_inputs(discovery.errors, config)
    index, count = config.shard
    plan = WorkPlan()
    for duplicate, first in discovery.duplicates:
        plan.also_at.setdefault(str(first), []).append(str(duplicate))
    report.files = len(discovery.sources) + len(discovery.errors) + len(discovery.duplicates)
    report.duplicates = len(discovery.duplicates)

    candidates = [s for s in discovery.sources if shard_of(s.sha256, count) == index]
    errors = [e for e in discovery.errors if _error_shard(e, count) == index]
    report.other_shards = (len(discovery.sources) - len(candidates)) + (
        len(discovery.errors) - len(errors)
    )
    report.documents = len(candidates)

    committed = ledger.committed(
        [identity.key(s.sha256) for s in candidates]
        + [identity.key(error_item_id(e)) for e in errors]
    )
    done = {key: status for key, (status, _path) in committed.items()}
    for source in candidates:
        key = identity.key(source.sha256)
        if config.per_page or not is_done(done.get(key), config):
            plan.sources.append(source)
            continue
        report.skipped += 1
        # Content an earlier run extracted, arriving again under another name, is not
        # extracted twice; the summary names each such copy and the file it copies.
        first_path = committed[key][1]
        if first_path != storable(str(source.path)):
            report.copies.append({"path": str(source.path), "copy_of": first_path})
        for copy_path in plan.also_at.get(str(source.path), []):
            report.copies.append({"path": copy_path, "copy_of": first_path})
    for error in errors:
        if is_done(done.get(identity.key(error_item_id(error))), config):
            report.skipped += 1
        else:
            plan.errors.append(error)
    return plan


def _drop_unmatched_inputs(errors: list[ErrorRecord], config: RunConfig) -> list[ErrorRecord]:
    """A named input that does not exist is a usage error (a typo in a crontab must not pass
    for a broken document); a glob that matches nothing today is an empty inbox."""
    named = {str(path) for path in config.inputs}
    missing = [e.path for e in errors if e.code is ErrorCode.NOT_FOUND and e.path in named]
    literal = [path for path in missing if not any(ch in path for ch in "*?[")]
    if literal:
        raise ConfigError(f"input not found: {', '.join(literal)}")
    return [e for e in errors if e.path not in missing]


def _error_shard(record: ErrorRecord, count: int) -> int:
    if record.doc_id:
        return shard_of(record.doc_id, count)
    import hashlib

    return shard_of(hashlib.sha256(os.fsencode(record.path)).hexdigest(), count)


@dataclass(frozen=True, slots=True)
class CommittedCheck:
    """Which items a run skips because the ledger holds them (`pipeline.policy.is_done`);
    used with --per-page, where pages are known only after rendering."""

    ledger: Ledger
    identity: Identity
    config: RunConfig

    def is_done(self, item_id: str) -> bool:
        key = self.identity.key(item_id)
        return is_done(self.ledger.status_of([key]).get(key), self.config)

    def undone(self, item_ids: list[str]) -> set[str]:
        """The ids among `item_ids` still to do."""
        keys = {item_id: self.identity.key(item_id) for item_id in item_ids}
        done = self.ledger.status_of(keys.values())
        return {i for i, key in keys.items() if not is_done(done.get(key), self.config)}
