"""The orchestrator: the only module that knows the order of the stages.

discover -> render (process pool, own thread) -> request -> engine (async, many in flight)
-> validate (with bounded retries) -> write (part files, ledger commit, in a thread).
Stages are joined by bounded queues, so memory stays flat however large the input folder is.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.errors import EngineUnavailable, ModelNeeded, OutputNotWritable, RunStopped
from pipeline.extract.catalog import resolve_schema
from pipeline.extract.engine_schema import engine_json_schema
from pipeline.extract.estimate import estimate_plan
from pipeline.extract.extraction import Extraction
from pipeline.extract.plan import CommittedCheck, Identity, WorkPlan, plan_work
from pipeline.extract.prompt import RequestBuilder, build_prompt
from pipeline.output.layout import runs_dir
from pipeline.output.ledger import Ledger
from pipeline.output.lock import OutputLock, RunMark, is_run_live
from pipeline.output.manifest import recover_manifests, write_manifest
from pipeline.output.progress import Reporter, make_reporter
from pipeline.output.recorder import open_recorder
from pipeline.output.report import RunReport
from pipeline.output.sink import reconcile
from pipeline.output.tables import Provenance
from pipeline.stopping import run_until_stopped, signals_raise


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
    try:
        return _extract(config, engine, reporter, runner or asyncio.run)
    except (OSError, sqlite3.OperationalError) as exc:
        problem = _output_problem(exc, config.out)
        if problem is None:
            raise
        raise problem from exc


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST})


def _output_problem(exc: Exception, out: Path) -> OutputNotWritable | None:
    """The exception as an OUT that cannot be written, or None when it is something else."""
    code = getattr(exc, "errno", None)
    if code in _DISK_FULL or "disk is full" in str(exc):
        return OutputNotWritable(
            f"{out}: the disk is full; free some space and run again (what was committed "
            "before is kept)"
        )
    name = getattr(exc, "filename", None)
    if code in _DENIED and name is not None and _is_within(Path(name), out):
        reason = getattr(exc, "strerror", None) or exc
        return OutputNotWritable(f"{out}: cannot be written ({name}: {reason})")
    return None


def _is_within(path: Path, folder: Path) -> bool:
    return path.absolute().is_relative_to(folder.absolute())


def _extract(
    config: RunConfig, engine: Engine | None, reporter: Reporter | None, runner: Runner
) -> RunReport:
    """Extract every document under `config.inputs` into OUT; return what happened.

    The engine is built from `config.engine` only when some document needs the model (and
    closed after), unless one is passed in, which the caller then owns: a run whose documents
    are all read from e-invoice XML needs none. When the engine cannot start but some rows
    could be read from XML, those are written and ModelNeeded (exit 3) names the rest. Raises
    OutputLocked, ConfigError, SchemaNotFound or EngineUnavailable; bad documents never raise,
    they become error rows. SIGINT and SIGTERM raise RunInterrupted, and a dying engine
    EngineDied, after the finished work is committed; the exception carries the report (`ended`
    says how the run ended).
    """
    reporter = reporter or make_reporter(config.log_format)
    spec = resolve_schema(config.schema_ref)
    template = build_prompt(spec)
    json_schema = engine_json_schema(spec.model)
    report = RunReport(
        new_run_id(),
        spec.name,
        str(config.out),
        prompt_hash=template.prompt_hash,
        dry_run=config.dry_run,
    )
    started = time.monotonic()
    started_at = time.time()
    out = config.out
    parts: list[dict[str, Any]] = []  # what this run committed, for its manifest
    with (
        signals_raise(),
        OutputLock(out, wait=config.wait, shard=config.shard, on_wait=reporter.note),
        RunMark(out, report.run_id),
        Ledger(out) as ledger,
    ):

        def is_other_live(run_id: str) -> bool:
            return run_id != report.run_id and is_run_live(out, run_id)

        report.reconciled = reconcile(out, spec.name, ledger, is_other_live)
        recover_manifests(out, ledger, is_other_live)
        engine_name, model = _engine_identity(config, engine)
        report.engine, report.model = engine_name, model
        identity = Identity(spec.name, template.prompt_hash, model)
        plan = plan_work(config, ledger, identity, report)
        unavailable: EngineUnavailable | None = None
        if config.dry_run:
            report.planned = estimate_plan(plan, config)
        elif plan.size:
            owned = engine is None
            if engine is None and plan.needs_model:
                engine, unavailable = _start_engine(config, plan, report)
            ledger.start_run(report.run_id)
            try:
                provenance = Provenance(
                    spec.name, template.prompt_hash, model,
                    engine.name if engine is not None else engine_name, report.run_id,
                    plan.also_at,
                )
                recorder = open_recorder(
                    out, spec.model, json_schema, (config.part_rows, config.flush_s), ledger,
                    report, reporter, provenance,
                )
                parts = recorder.writer.parts.written
                requests = RequestBuilder(
                    template, json_schema, config.engine.max_new_tokens, config.engine.seed
                )
                committed = CommittedCheck(ledger, identity, config)
                extraction = Extraction(
                    config, engine, requests, spec.model, recorder, committed
                )
                runner(run_until_stopped(extraction.execute(plan)))
            except RunStopped as stopped:
                report.ended = stopped.ended
                stopped.report = report
                raise
            except BaseException:
                report.ended = "failed"
                raise
            finally:
                report.elapsed_s = time.monotonic() - started
                reporter.finish(report)
                ledger.finish_run(report.run_id, report.ended)
                if owned and engine is not None:
                    engine.close()
                with contextlib.suppress(OSError):  # else the next run writes it from the ledger
                    write_manifest(
                        out, report.run_id, report.ended, started_at, time.time(), parts,
                        _config_summary(config, report),
                    )
                if report.ended in ("interrupted", "engine_died"):
                    report.write_json(runs_dir(out))
        else:
            why = "no documents in the inputs" if report.files == 0 else (
                "every document is already extracted"
            )
            reporter.note(f"nothing to do: {why}", skipped=report.skipped)
            write_manifest(
                out, report.run_id, report.ended, started_at, time.time(), [],
                _config_summary(config, report),
            )
        report.elapsed_s = time.monotonic() - started
        if not config.dry_run:
            report.write_json(runs_dir(out))
    if unavailable is not None:
        raise ModelNeeded(unavailable, report)
    return report


def _start_engine(
    config: RunConfig, plan: WorkPlan, report: RunReport
) -> tuple[Engine | None, EngineUnavailable | None]:
    """The engine, started; or, where it cannot start but the plan has rows to read from
    e-invoice XML, no engine: those rows are written, and the documents that need the model are
    left for a run whose engine starts (`report.needs_model`). Raises EngineUnavailable when
    nothing could be done without it."""
    from pipeline.engines import build_engine

    try:
        return build_engine(config.engine), None
    except EngineUnavailable as exc:
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
