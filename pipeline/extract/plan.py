"""Deciding what a run must do: discovered files, minus other shards, minus committed work,
with the e-invoices a run of the invoice schema reads from their XML set apart."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from pipeline.config import RunConfig
from pipeline.errors import ConfigError, ErrorCode
from pipeline.extract.xml_reader import XmlReader, XmlRow
from pipeline.faults import fault_point
from pipeline.inputs.discover import discover_sources, shard_of
from pipeline.inputs.einvoice import EInvoice
from pipeline.items import EINVOICE_MODEL, path_item_id
from pipeline.output.ledger import ItemKey, Ledger
from pipeline.output.report import RunReport
from pipeline.policy import ERROR, is_done
from pipeline.records import ErrorRecord, SourceFile, storable


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes an extraction the same as a committed one."""

    schema: str
    prompt_hash: str
    model: str

    def key(self, item_id: str) -> ItemKey:
        return ItemKey(item_id, self.schema, self.prompt_hash, self.model)

    @property
    def of_xml(self) -> Identity:
        """The identity of rows read from e-invoice XML (see `pipeline.items.EINVOICE_MODEL`)."""
        return replace(self, model=EINVOICE_MODEL)


@dataclass
class PlanSummary:
    """What discovery found and what the plan left out, as a run's report counts them."""

    files: int = 0
    duplicates: int = 0
    other_shards: int = 0
    documents: int = 0  # of this shard
    skipped: int = 0  # committed already
    still_failed: int = 0  # of `skipped`: committed as a failure a re-run would repeat
    copies: list[dict[str, str]] = field(default_factory=list)

    def count_into(self, report: RunReport) -> None:
        report.files, report.duplicates = self.files, self.duplicates
        report.other_shards, report.documents = self.other_shards, self.documents
        report.skipped += self.skipped
        report.still_failed += self.still_failed
        report.copies.extend(self.copies)


@dataclass(frozen=True, slots=True)
class Skip:
    """An input the plan skips because the ledger holds it: `status` as committed ("ok" or
    "error"), and the path it was committed under where that is another file (`copy_of`)."""

    path: str
    kind: str
    status: str
    copy_of: str | None = None


@dataclass
class WorkPlan:
    """Sources to extract, discovery errors to record, and the other paths of duplicates; rows
    read from e-invoice XML, and their failures (recorded under the XML's identity); the XML
    invoices that sources in --einvoice verify are checked against, by document id; the inputs
    skipped because the ledger holds them."""

    sources: list[SourceFile] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    also_at: dict[str, list[str]] = field(default_factory=dict)
    from_xml: list[XmlRow] = field(default_factory=list)
    xml_errors: list[ErrorRecord] = field(default_factory=list)
    verify: dict[str, EInvoice] = field(default_factory=dict)
    skips: list[Skip] = field(default_factory=list)
    summary: PlanSummary = field(default_factory=PlanSummary)
    engine_deaths: dict[str, int] = field(default_factory=dict)
    """Items in flight when an engine died, not committed since: item id -> the fewest requests
    in flight at such a death (`pipeline.policy.read_alone`)."""

    def skip(self, skipped: Skip) -> None:
        """Leave out an input the ledger holds, and count it (and any failure of it that stands)."""
        self.skips.append(skipped)
        self.summary.skipped += 1
        self.summary.still_failed += skipped.status == ERROR
        if skipped.copy_of is not None:
            self.summary.copies.append({"path": skipped.path, "copy_of": skipped.copy_of})

    @property
    def needs_model(self) -> bool:
        return bool(self.sources)

    @property
    def size(self) -> int:
        return len(self.sources) + len(self.errors) + len(self.from_xml) + len(self.xml_errors)


def error_item_id(record: ErrorRecord) -> str:
    """Files without a content hash (unreadable) are identified by path."""
    return record.doc_id or path_item_id(storable(record.path))


def plan_work(
    config: RunConfig, ledger: Ledger, identity: Identity, writes: bool = True
) -> WorkPlan:
    """Discover the inputs and keep what this shard has not committed yet; `summary` counts
    what was found and left out.

    What is committed is skipped as `pipeline.policy.is_done` says. With --per-page a
    document's pages are checked after rendering instead. A run that `writes` into
    `config.out` never reads its own output as input.
    """
    discovery = discover_sources(
        list(config.inputs), exclude=config.out if writes else None, absolute=writes
    )
    fault_point("after-discover")
    discovery.errors = _drop_unmatched_inputs(discovery.errors, config)
    index, count = config.shard
    plan = WorkPlan()
    summary = plan.summary
    for duplicate, first in discovery.duplicates:
        plan.also_at.setdefault(str(first), []).append(str(duplicate))
    summary.files = len(discovery.sources) + len(discovery.errors) + len(discovery.duplicates)
    summary.duplicates = len(discovery.duplicates)

    candidates = [s for s in discovery.sources if shard_of(s.sha256, count) == index]
    errors = [e for e in discovery.errors if _error_shard(e, count) == index]
    summary.other_shards = (len(discovery.sources) - len(candidates)) + (
        len(discovery.errors) - len(errors)
    )
    summary.documents = len(candidates)

    xml = identity.of_xml
    given = {e: _as_given(e) for e in errors if not e.doc_id}
    committed = ledger.committed(
        [identity.key(s.sha256) for s in candidates]
        + [xml.key(s.sha256) for s in candidates if XmlReader.may_carry(s)]
        + [identity.key(error_item_id(e)) for e in [*errors, *given.values()]]
    )
    done = {key: status for key, (status, _path) in committed.items()}

    def skip(key: ItemKey, source: SourceFile) -> None:
        status, first_path = committed[key]
        # Content an earlier run extracted, arriving again under another name, is not
        # extracted twice; the summary names each such copy and the file it copies.
        same = os.path.abspath(first_path) == storable(str(source.path))  # older OUTs: as given
        plan.skip(Skip(str(source.path), str(source.kind), status, None if same else first_path))
        for copy_path in plan.also_at.get(str(source.path), []):
            summary.copies.append({"path": copy_path, "copy_of": first_path})

    with XmlReader(config, identity.schema) as reader:
        for source in candidates:
            key = identity.key(source.sha256)
            if reader.takes(source):
                xml_key = xml.key(source.sha256)
                if is_done(done.get(xml_key), config):
                    skip(xml_key, source)
                    continue
                if _read_xml(source, plan, reader):
                    continue
            elif (refused := reader.refusal(source)) is not None:
                if is_done(done.get(key), config):
                    skip(key, source)
                else:
                    plan.errors.append(refused)
                continue
            if config.per_page or not is_done(done.get(key), config):
                plan.sources.append(source)
            else:
                skip(key, source)
    for error in errors:
        error = _as_recorded(error, given.get(error), done.keys(), identity)
        status = done.get(identity.key(error_item_id(error)))
        if status is not None and is_done(status, config):
            plan.skip(Skip(error.path, "", status))
        else:
            plan.errors.append(error)
    plan.engine_deaths = ledger.engine_deaths(identity.schema, identity.prompt_hash, identity.model)
    return plan


def _read_xml(source: SourceFile, plan: WorkPlan, reader: XmlReader) -> bool:
    """Put what `reader` reads of `source`'s e-invoice into the plan: its row, its failure, or,
    under --einvoice verify, the document for the model with the invoice to compare; False when
    it carries none."""
    read = reader.read(source)
    if read is None:
        return False
    if isinstance(read, ErrorRecord):
        plan.xml_errors.append(read)
    elif reader.verifies(source):
        plan.sources.append(source)
        plan.verify[source.sha256] = read.einvoice
    else:
        plan.from_xml.append(read)
    return True


def _as_given(record: ErrorRecord) -> ErrorRecord:
    """A failure without a content hash as an older docextract recorded it: under its path as
    the inputs were given (relative to this folder), not its absolute path."""
    path = os.path.relpath(record.path)
    return replace(record, path=path, message=record.message.replace(record.path, path, 1))


def _as_recorded(
    error: ErrorRecord, given: ErrorRecord | None, done: Collection[ItemKey], identity: Identity
) -> ErrorRecord:
    """`error`, or the same failure as an older docextract recorded it (`given`) where only
    that one is committed: a run over that OUT records it under its identity again, instead
    of a second time."""
    if given is None or identity.key(error_item_id(error)) in done:
        return error
    return given if identity.key(error_item_id(given)) in done else error


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

    def skipped_status(self, item_id: str) -> str | None:
        """The committed status of `item_id` where the run skips it, else None."""
        key = self.identity.key(item_id)
        status = self.ledger.status_of([key]).get(key)
        return status if status is not None and is_done(status, self.config) else None

    def undone(self, item_ids: list[str]) -> tuple[set[str], int]:
        """The ids among `item_ids` still to do, and how many of the others stand failed."""
        keys = {item_id: self.identity.key(item_id) for item_id in item_ids}
        done = self.ledger.status_of(keys.values())
        undone = {i for i, key in keys.items() if not is_done(done.get(key), self.config)}
        failed = sum(done.get(keys[i]) == ERROR for i in item_ids if i not in undone)
        return undone, failed
