"""The orchestrator: the only module that knows the order of the stages.

discover -> render (process pool, own thread) -> request -> engine (async, many in flight)
-> validate (with bounded retries) -> write (part files, ledger commit, in a thread).
Stages are joined by bounded queues, so memory stays flat however large the input folder is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.errors import EngineDied, EngineUnavailable, ModelNeeded, RunStopped
from pipeline.extract.catalog import SchemaSpec, resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from pipeline.extract.estimate import estimate_plan
from pipeline.extract.extraction import Extraction
from pipeline.extract.model_lines import LineReader
from pipeline.extract.plan import CommittedCheck, Identity, WorkPlan, plan_work
from pipeline.extract.prompt import PromptTemplate, RequestBuilder, build_prompt
from pipeline.extract.text_lines import for_schema, needs_the_model, reads_page_text
from pipeline.output.admission import check_run_kind, check_table_schema
from pipeline.output.ledger import Ledger
from pipeline.output.progress import Reporter, make_reporter
from pipeline.output.recorder import (
    MemorySink,
    RunRecorder,
    complete_tables,
    memory_recorder,
    open_recorder,
)
from pipeline.output.report import RunReport, still_failed_text
from pipeline.output.session import OutputSession
from pipeline.output.sink import tables_of, tables_without_parts
from pipeline.output.tables import Provenance
from pipeline.output.writable import writing_to
from pipeline.stopping import run_until_stopped, signals_raise

if TYPE_CHECKING:
    from pydantic import BaseModel


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


Runner = Callable[[Coroutine[Any, Any, None]], None]


def run_extraction(
    config: RunConfig,
    engine: Engine | None = None,
    reporter: Reporter | None = None,
    runner: Runner | None = None,
) -> RunReport:
    """Extract every document under `config.inputs` into OUT; return what happened.

    `runner` runs the run's coroutine to its end (default `asyncio.run`, a fresh event loop);
    a caller whose engine already serves a loop passes that loop's `run_until_complete`.
    See `_extract`; an OUT that cannot be written (no permission, read-only, full disk) raises
    OutputNotWritable, and what was committed before stays committed.
    """
    with writing_to(config.out):
        return _extract(config, engine, reporter, runner or asyncio.run)


@dataclass(frozen=True, slots=True)
class _Job:
    """What a run extracts with: the schema, its prompt, and the schema the engine follows."""

    spec: SchemaSpec
    template: PromptTemplate
    json_schema: dict[str, Any]

    @classmethod
    def of(cls, config: RunConfig) -> _Job:
        spec = resolve_schema(config.schema_ref)
        return cls(spec, build_prompt(spec), engine_json_schema(spec.model))

    def provenance(self, report: RunReport, engine: Engine | None, plan: WorkPlan) -> Provenance:
        """What every row of this run records about where it came from."""
        engine_name = engine.name if engine is not None else report.engine
        return Provenance(
            self.spec.name, self.template.prompt_hash, report.model, engine_name,
            report.run_id, plan.also_at, self.spec.source,
        )  # fmt: skip

    def admit(self, session: OutputSession, report: RunReport) -> None:
        """Refuse an OUT that this job's rows must not join: dry-run rows beside a model's
        (or the reverse), or a table whose parts have other columns (`output.admission`)."""
        check_run_kind(session.out, session.ledger, report.engine, report.model)
        spec = self.spec
        check_table_schema(session.out, spec.name, spec.source, spec.model)

    def needs_model(
        self, config: RunConfig, plan: WorkPlan, ledger: Ledger, identity: Identity,
        reporter: Reporter,
    ) -> bool:  # fmt: skip
        """Whether the engine must start for `plan`: it has documents for the model, and, for
        page_text, a page still to do without a text layer (`text_lines.needs_the_model`)."""
        if not plan.needs_model or not reads_page_text(self.spec.model):
            return plan.needs_model
        documents = len(plan.sources)
        reporter.note(LOOKING_AT_TEXT_LAYERS.format(documents), documents=documents)
        committed = CommittedCheck(ledger, identity, config)
        return needs_the_model(plan.sources, config, committed)

    def extraction(
        self, config: RunConfig, engine: Engine | None, recorder: RunRecorder, ledger: Ledger,
        identity: Identity,
    ) -> Extraction:  # fmt: skip
        """The extraction of this job's documents by `engine`, its rows to `recorder`."""
        requests = RequestBuilder(
            self.template, self.json_schema, config.engine.max_new_tokens, config.engine.seed,
            logprobs=config.render.text_layer,  # the fields' confidence weighs them
        )
        committed = CommittedCheck(ledger, identity, config)
        lines = None
        if config.render.model_boxes and not reads_page_text(self.spec.model):
            lines = LineReader.build(config.engine.max_new_tokens, config.engine.seed)
        return Extraction(config, engine, requests, self.spec.model, recorder, committed, lines)


def _extract(
    config: RunConfig, engine: Engine | None, reporter: Reporter | None, runner: Runner
) -> RunReport:
    """Extract every document under `config.inputs` into OUT; return what happened.

    The engine is built from `config.engine` only when some document needs the model (and
    closed after), unless one is passed in, which the caller then owns: a run whose documents
    are all read from e-invoice XML needs none. When the engine cannot start but some rows
    could be read from XML, those are written and ModelNeeded (exit 3) names the rest. Raises
    OutputLocked, ConfigError, SchemaNotFound, EngineUnavailable, or MixedRows and
    TableMismatch for an OUT its rows must not join (`_Job.admit`); bad documents never
    raise, they become error rows. SIGINT and SIGTERM raise RunInterrupted, and a dying engine
    EngineDied, after the finished work is committed; the exception carries the report (`ended`
    says how the run ended).
    """
    reporter = reporter or make_reporter(config.log_format)
    job = _Job.of(config)
    config = for_schema(config, job.spec.model)
    report = RunReport(
        new_run_id(), job.spec.name, str(config.out),
        prompt_hash=job.template.prompt_hash, dry_run=config.dry_run,
    )  # fmt: skip
    started = time.monotonic()
    session = OutputSession(
        config.out, report.run_id, job.spec.name,
        wait=config.wait, shard=config.shard, on_wait=reporter.note,
    )  # fmt: skip
    unavailable: EngineUnavailable | None = None
    with signals_raise(), session:
        report.reconciled = session.reconciled
        report.engine, report.model = _engine_identity(config, engine)
        job.admit(session, report)
        identity = Identity(job.spec.name, job.template.prompt_hash, report.model)
        plan = plan_work(config, session.ledger, identity)
        plan.summary.count_into(report)
        if config.dry_run:
            committed = CommittedCheck(session.ledger, identity, config)
            page_text = reads_page_text(job.spec.model)
            report.planned = estimate_plan(plan, config, committed, page_text)
        elif plan.size:
            run = _Execution(config, job, session, report, reporter, started)
            unavailable = run.execute(plan, identity, engine, runner)
        else:
            reporter.note(_nothing_to_do(report), skipped=report.skipped,
                          still_failed=report.still_failed)  # fmt: skip
            parts = _complete_tables(job, session, report, plan)
            session.end(report.ended, parts, _config_summary(config, report))
        report.elapsed_s = time.monotonic() - started
        if not config.dry_run:
            session.write_report(report)
    _raise_if_left_for_a_model(report, unavailable)
    return report


def _complete_tables(
    job: _Job, session: OutputSession, report: RunReport, plan: WorkPlan
) -> list[dict[str, Any]]:
    """The parts a run with nothing to do writes: the table its schema's folder lacks, if
    the folder holds the other (written by an older docextract, or by a run killed before
    its end). A schema without a folder gets none."""
    tables = tables_of(job.spec.model)
    missing = tables_without_parts(session.out, job.spec.name, tables)
    if len(missing) in (0, len(tables)):
        return []
    session.begin()
    provenance = job.provenance(report, None, plan)
    return complete_tables(
        session.out, job.spec.model, job.json_schema, session.ledger, provenance
    )


def _nothing_to_do(report: RunReport) -> str:
    """Why a run found no work, without hiding the failures that stand."""
    if report.files == 0:
        return "nothing to do: no documents in the inputs"
    if not report.still_failed:
        return "nothing to do: every document is already extracted"
    return (
        "nothing to do: every document was done by an earlier run, but "
        + still_failed_text(report.still_failed)
    )


@dataclass(slots=True)
class _Execution:
    """The part of a run that writes: start the engine if needed, extract, record the end."""

    config: RunConfig
    job: _Job
    session: OutputSession
    report: RunReport
    reporter: Reporter
    started: float

    def execute(
        self, plan: WorkPlan, identity: Identity, engine: Engine | None, runner: Runner
    ) -> EngineUnavailable | None:
        """Extract the plan; the EngineUnavailable that left the documents needing the model
        undone while the rows read from XML were written, if that happened."""
        config, report = self.config, self.report
        owned = engine is None
        unavailable: EngineUnavailable | None = None
        if engine is None and self.job.needs_model(
            config, plan, self.session.ledger, identity, self.reporter
        ):
            engine, unavailable = _start_engine(config, plan, report, self.job.spec.model)
        self.session.begin()
        parts: list[dict[str, Any]] = []  # what this run committed, for its manifest
        extraction: Extraction | None = None
        try:
            recorder = self._recorder(plan, engine)
            parts = recorder.writer.written
            ledger = self.session.ledger
            extraction = self.job.extraction(config, engine, recorder, ledger, identity)
            runner(run_until_stopped(extraction.execute(plan)))
        except RunStopped as stopped:
            report.ended = stopped.ended
            stopped.report = report
            if isinstance(stopped, EngineDied) and extraction is not None:
                self._remember_death(extraction.in_flight, identity)
            raise
        except BaseException:
            report.ended = "failed"
            raise
        finally:
            self._end(parts, engine if owned else None)
        return unavailable

    def _remember_death(self, in_flight: set[str], identity: Identity) -> None:
        """Record the items the engine had when it died: the next run reads them last, alone
        (`pipeline.policy.read_alone`)."""
        self.report.in_flight_at_death = len(in_flight)
        if in_flight:
            keys = [identity.key(item_id) for item_id in sorted(in_flight)]
            self.session.ledger.record_engine_death(keys, self.report.run_id)

    def _recorder(self, plan: WorkPlan, engine: Engine | None) -> RunRecorder:
        return open_recorder(
            self.session.out, self.job.spec.model, self.job.json_schema,
            (self.config.part_rows, self.config.flush_s), self.session.ledger, self.report,
            self.reporter, self.job.provenance(self.report, engine, plan),
            self.config.render.text_layer, self.config.review_below,
        )  # fmt: skip

    def _end(self, parts: list[dict[str, Any]], owned_engine: Engine | None) -> None:
        report = self.report
        report.elapsed_s = time.monotonic() - self.started
        self.reporter.finish(report)
        self.session.end(report.ended, parts, _config_summary(self.config, report))
        if owned_engine is not None:
            owned_engine.close()
        if report.ended in ("interrupted", "engine_died", "engine_gone"):
            self.session.write_report(report)


def extract_in_memory(
    config: RunConfig, reporter: Reporter, engine: Engine | None = None,
    runner: Runner | None = None,
) -> tuple[RunReport, MemorySink]:  # fmt: skip
    """The run of `config` with its rows kept in memory: no lock, no ledger file, nothing written
    anywhere, and every document new.

    The engine is built here (and closed after) when some document needs the model, unless one
    is passed in, which the caller then owns. Raises what `run_extraction` raises before work
    starts, RunInterrupted on SIGINT or SIGTERM, and ModelNeeded when the engine cannot start
    but rows were read from e-invoice XML (they are in the sink, on the exception's report)."""
    job = _Job.of(config)
    config = for_schema(config, job.spec.model)
    report = RunReport(new_run_id(), job.spec.name, "", prompt_hash=job.template.prompt_hash)
    report.engine, report.model = _engine_identity(config, engine)
    identity = Identity(job.spec.name, job.template.prompt_hash, report.model)
    owned, unavailable = engine is None, None
    with signals_raise(), Ledger(None) as ledger:
        plan = plan_work(config, ledger, identity, writes=False)
        plan.summary.count_into(report)
        if engine is None and job.needs_model(config, plan, ledger, identity, reporter):
            engine, unavailable = _start_engine(config, plan, report, job.spec.model)
        provenance = job.provenance(report, engine, plan)
        recorder, sink = memory_recorder(
            job.spec.model, job.json_schema, report, reporter, provenance,
            config.render.text_layer, config.review_below,
        )  # fmt: skip
        extraction = job.extraction(config, engine, recorder, ledger, identity)
        try:
            if plan.size:
                (runner or asyncio.run)(run_until_stopped(extraction.execute(plan)))
        finally:
            if owned and engine is not None:
                engine.close()
    _raise_if_left_for_a_model(report, unavailable)
    return report, sink


def _raise_if_left_for_a_model(report: RunReport, unavailable: EngineUnavailable | None) -> None:
    """ModelNeeded where documents (pages) wait for a model: the engine could not start, or a
    page_text run left it unstarted (`_Job.needs_model`) and a page had no text layer after
    all once rendered."""
    if report.needs_model:
        raise ModelNeeded(unavailable or EngineUnavailable(UNSTARTED), report)


LOOKING_AT_TEXT_LAYERS = (
    "page_text: reading the text layers of {} documents; the model starts only for a page "
    "without one"
)

UNSTARTED = (
    "the engine was not started: every page still to do had a text layer when the run began, "
    "but these had none once rendered; run again to have the model read them"
)


def _start_engine(
    config: RunConfig, plan: WorkPlan, report: RunReport, model: type[BaseModel]
) -> tuple[Engine | None, EngineUnavailable | None]:
    """The engine, started; or, where it cannot start but the plan has rows to read from
    e-invoice XML (or the schema is page_text, whose pages with a text layer need no model), no
    engine: those rows are written, and the documents (pages) that need the model are left for a
    run whose engine starts (`report.needs_model`). Raises EngineUnavailable when nothing could
    be done without it."""
    from pipeline.engines import build_engine

    try:
        return build_engine(config.engine), None
    except EngineUnavailable as exc:
        if reads_page_text(model):  # its pages with a text layer need no model
            return None, exc
        if not (plan.from_xml or plan.xml_errors):
            raise
        report.needs_model = [str(source.path) for source in plan.sources]
        plan.sources, plan.verify = [], {}
        return None, exc


def _config_summary(config: RunConfig, report: RunReport) -> dict[str, Any]:
    """What a run was asked to do, for its manifest."""
    return {
        "inputs": [str(path) for path in config.inputs],
        "schema": report.schema,
        "engine": report.engine,
        "model": report.model,
        "prompt_hash": report.prompt_hash,
        "force": config.force,
        "retry_errors": config.retry_errors,
        "per_page": config.per_page,
        "max_pages": config.max_pages,
        "shard": f"{config.shard[0]}/{config.shard[1]}",
        "part_rows": config.part_rows,
        "flush_s": config.flush_s,
    }


def _engine_identity(config: RunConfig, engine: Engine | None) -> tuple[str, str]:
    if engine is not None:
        return engine.name, engine.model
    from pipeline.engines import engine_model_name, resolve_engine_name

    name, _reason = resolve_engine_name(config.engine)
    return name, engine_model_name(config.engine, name)
