"""docextract as a library: the functions behind `import docextract`.

`run` does what `docextract run` does (the same RunConfig, OUT folder, ledger and report) but
returns the report instead of an exit code. `extract` and `extract_table` run the same pipeline
into a temporary OUT and hand back its rows: typed Pydantic objects, or one Arrow table.

Safe to call from a plain script without a main guard (rendering then stays in this process,
see pipeline.inputs.spawn_safety), from `python -c`, and from Jupyter, whose running event loop
is left alone: the run gets its own loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, SerializeAsAny

from pipeline.config import RunConfig, load_config
from pipeline.engines.base import Engine, loop_for
from pipeline.extract.catalog import resolve_schema
from pipeline.output.arrow import from_arrow_value
from pipeline.output.progress import Reporter, make_reporter
from pipeline.output.report import RunReport
from pipeline.run import Runner, extract_in_memory, run_extraction

PathLike = str | os.PathLike[str]

T = TypeVar("T")


class Finding(BaseModel):
    """A warning on an extracted document: a stable code and what was found."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Failure(BaseModel):
    """Why a document (or a page) has no extraction: the stage, a stable code, the message and
    what the model said, when it got that far."""

    model_config = ConfigDict(frozen=True)

    stage: str
    code: str
    message: str
    raw_answer: str | None = None


class Result(BaseModel):
    """One document (or one page with `per_page=True`): its typed data, or why it failed."""

    model_config = ConfigDict(frozen=True)

    path: str
    doc_id: str | None = None  # None for a file whose content could not be read or hashed
    page: int | None = None
    status: Literal["ok", "warning", "error"]
    data: SerializeAsAny[BaseModel] | None = None
    warnings: tuple[Finding, ...] = ()
    error: Failure | None = None
    also_at: tuple[str, ...] = ()
    fields: tuple[dict[str, Any], ...] = ()  # where each leaf is printed: fields-table rows

    @property
    def ok(self) -> bool:
        """Extracted (with or without warnings)."""
        return self.error is None


class _Silent:
    """A reporter that says nothing: library calls print nothing unless asked."""

    def start(self, report: RunReport, planned: int) -> None:
        return None

    def item_done(self, path: str, pages: int, tokens: int, code: str | None, message: str) -> None:
        return None

    def note(self, message: str, **fields: Any) -> None:
        return None

    def finish(self, report: RunReport) -> None:
        return None


def build_config(
    inputs: PathLike | Iterable[PathLike],
    out: PathLike | None,
    *,
    schema: str | None = None,
    engine: str | None = None,
    model: str | None = None,
    config_file: PathLike | None = None,
    engine_settings: Mapping[str, Any] | None = None,
    **settings: Any,
) -> RunConfig:
    """The RunConfig of a run, for `docextract run` and the API alike: defaults < TOML file <
    DOCEXTRACT_* variables < these arguments; None leaves a setting to the layers below.
    `settings` use RunConfig's names (`max_pages=4`, `render={"dpi": 200}`), `engine_settings`
    EngineConfig's (`{"max_new_tokens": 512}`)."""
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    flags: dict[str, Any] = dict(settings)
    flags["inputs"] = [os.fspath(p) for p in paths]
    flags["schema_ref"] = schema
    flags["out"] = Path(out) if out is not None else None
    flags["engine"] = {**(engine_settings or {}), "name": engine, "model": model}
    return load_config(flags, Path(config_file) if config_file is not None else None)


def open_engine(name: str = "auto", model: str | None = None, **engine_settings: Any) -> Engine:
    """Start an engine once and pass it to `extract`/`run` many times (a notebook loads the
    model once). Close it with `engine.close()`. Raises EngineUnavailable with advice."""
    from pipeline.config import EngineConfig
    from pipeline.engines import build_engine

    config = EngineConfig.model_validate({"name": name, "model": model, **engine_settings})
    return build_engine(config)


def run(
    inputs: PathLike | Iterable[PathLike],
    out: PathLike,
    *,
    schema: str | None = None,
    engine: str | Engine | None = None,
    model: str | None = None,
    config_file: PathLike | None = None,
    progress: bool = False,
    **settings: Any,
) -> RunReport:
    """Extract every document under `inputs` into OUT, exactly as `docextract run` does.

    Returns the RunReport (`failure_rate`, `still_failed`, `errors_by_code`, `to_dict()`;
    `failures_above(rate)` is what the CLI turns into exit code 1). Raises the DocextractError
    subclasses the CLI maps to exit codes 2 to 7: ConfigError, SchemaNotFound,
    EngineUnavailable, OutputLocked, OutputNotWritable, ...
    `engine` is an engine name or an engine from `open_engine` (which the caller then closes).
    `progress=True` shows the CLI's progress bar or lines on stderr.
    """
    name, instance = _name_or_instance(engine)
    config = build_config(
        inputs,
        out,
        schema=schema,
        engine=name,
        model=model,
        config_file=config_file,
        **settings,
    )
    reporter: Reporter = make_reporter(config.log_format) if progress else _Silent()
    return run_configured(config, instance, reporter)


def _name_or_instance(engine: str | Engine | None) -> tuple[str | None, Engine | None]:
    """`engine=` of the API: an engine's name (for the config), or a started engine."""
    return (engine, None) if isinstance(engine, str) else (None, engine)


def run_configured(
    config: RunConfig, engine: Engine | None = None, reporter: Reporter | None = None
) -> RunReport:
    """The run of `config`, for `docextract run` and `run` alike: run_extraction, in its own
    loop (`_in_own_loop`). `reporter` defaults to the progress display of `config.log_format`."""
    shown = reporter or make_reporter(config.log_format)
    return _in_own_loop(lambda runner: run_extraction(config, engine, shown, runner), engine)


def _in_own_loop(work: Callable[[Runner | None], T], engine: Engine | None) -> T:
    """`work(runner)`, in a thread of its own when this thread already runs an event loop
    (Jupyter), where asyncio.run would refuse; `runner` runs coroutines in the engine's own
    loop when it serves only one (sglang), so one engine serves run after run, else is None."""
    loop = loop_for(engine) if engine is not None else None
    runner = loop.run_until_complete if loop is not None else None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work(runner)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(runner)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="docextract-run")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def extract(
    paths: PathLike | Iterable[PathLike],
    schema: str = "invoice",
    engine: str | Engine | None = None,
    **settings: Any,
) -> list[Result]:
    """Extract documents into typed objects: one Result per document (per page with
    `per_page=True`), ordered by path, with `data` an instance of the schema's Pydantic model
    or `error` saying why not, and, with `render={"text_layer": True}`, `fields`: where each
    leaf value is printed (rows of the fields table). A bad document never raises; a run
    that cannot start does (EngineUnavailable, SchemaNotFound, ConfigError). `settings` as
    for `run`."""
    model = resolve_schema(schema).model
    documents, errors, fields = _extract_tables(paths, schema, engine, settings)
    by_item: dict[str, list[dict[str, Any]]] = {}
    for field in fields.to_pylist():
        by_item.setdefault(field["item_id"], []).append(_field_entry(field))
    results = [
        _document_result(row, model, by_item.get(row["item_id"], []))
        for row in documents.to_pylist()
    ]
    results += [_error_result(row) for row in errors.to_pylist()]
    return sorted(results, key=lambda r: (r.path, r.page or 0))


def extract_table(
    paths: PathLike | Iterable[PathLike],
    schema: str = "invoice",
    engine: str | Engine | None = None,
    *,
    errors: bool = False,
    **settings: Any,
) -> pa.Table:
    """Extract documents into one Arrow table, the `documents` table of a run (typed `data`
    struct, provenance columns); `errors=True` returns the `errors` table instead."""
    documents, failed, _fields = _extract_tables(paths, schema, engine, settings)
    return failed if errors else documents


def _extract_tables(
    paths: PathLike | Iterable[PathLike],
    schema: str,
    engine: str | Engine | None,
    settings: Mapping[str, Any],
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The documents, errors and fields tables of `paths`, kept in memory: nothing is written,
    nothing
    counts as already done, and no failure rate applies."""
    name, instance = _name_or_instance(engine)
    config = build_config(paths, None, schema=schema, engine=name, **settings)
    _report, sink = _in_own_loop(
        lambda runner: extract_in_memory(config, _Silent(), instance, runner), instance
    )
    return sink.table("documents"), sink.table("errors"), sink.table("fields")


_FIELD_COLUMNS = ("field", "value", "source", "match", "confidence", "on_page", "needs_review")
_BOX_COLUMNS = ("x0", "y0", "x1", "y1")


def _field_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """A fields-table row as `Result.fields` gives it: the grounding, box and box_norm tuples."""
    entry = {name: row[name] for name in _FIELD_COLUMNS}
    placed = row["x0"] is not None
    entry["box"] = tuple(row[c] for c in _BOX_COLUMNS) if placed else None
    entry["box_norm"] = tuple(row["n" + c] for c in _BOX_COLUMNS) if placed else None
    return entry


def _document_result(
    row: Mapping[str, Any], model: type[BaseModel], fields: list[dict[str, Any]]
) -> Result:
    data = model.model_validate(from_arrow_value(model, row["data"]))
    return Result(
        path=row["source_path"],
        doc_id=row["doc_id"],
        page=row["page"],
        status="warning" if row["status"] == "warning" else "ok",
        data=data,
        warnings=tuple(Finding(**w) for w in row["warnings"] or ()),
        also_at=tuple(row["also_at"] or ()),
        fields=tuple(fields),
    )


def _error_result(row: Mapping[str, Any]) -> Result:
    return Result(
        path=row["source_path"],
        doc_id=row["doc_id"],
        page=row["page"],
        status="error",
        error=Failure(
            stage=row["stage"],
            code=row["code"],
            message=row["message"],
            raw_answer=row["raw_answer"],
        ),
        also_at=tuple(row["also_at"] or ()),
    )
