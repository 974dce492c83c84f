"""`docextract bench --engine sglang`: docextract beside sglang driven directly, one engine.

One `sglang.Engine` starts once. A few documents warm it up (kernels, the schema's grammar);
then the reference (pipeline/bench/reference.py: every document one `async_generate` call,
all at once) runs the workload's pages, rendered beforehand, with docextract's own prompt and
schema; then docextract runs the same documents from their files, once per image-processing
mode asked for. sglang's prefix cache is flushed before each measured run, so no run reuses
another's pages. Each run reports pages/s, time to its first result, GPU busy fraction and
where the CPU time of this process went (pipeline.bench.probe).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.bench.probe import Probe
from pipeline.bench.spy import Spy
from pipeline.config import RunConfig
from pipeline.engines.gpu import release_cached_gpu_memory

WARMUP_DOCUMENTS = 8


def reference_requests(config: RunConfig, inputs: Path, engine: Any) -> list[Any]:
    """Every document of `inputs`, rendered here, as the reference's requests."""
    from pipeline.bench.reference import ReferenceRequest
    from pipeline.engines.base import SamplingConfig
    from pipeline.engines.sglang import build_sampling_params
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema
    from pipeline.extract.prompt import build_prompt, build_request
    from pipeline.inputs.discover import discover_sources
    from pipeline.inputs.render import render_document

    spec = resolve_schema(config.schema_ref)
    template, schema = build_prompt(spec), engine_json_schema(spec.model)
    sampling = SamplingConfig(max_new_tokens=config.engine.max_new_tokens, seed=config.engine.seed)
    requests = []
    for source in discover_sources([inputs]).sources:
        document = render_document(source, config.render, 0, config.max_pages)
        if document.error is not None or not document.pages:
            continue
        request = build_request(template, document.pages, schema, sampling, source.sha256)
        requests.append(
            ReferenceRequest(
                prompt=engine.build_prompt(request),
                images=[page.to_pil() for page in document.pages],
                sampling_params=build_sampling_params(request),
            )
        )
    return requests


def run_sglang_bench(
    config: RunConfig,
    docs: int,
    seed: int = 0,
    modes: tuple[str, ...] = ("sglang", "docextract"),
    profile: Path | None = None,
    engine: Any = None,
    rounds: int = 1,
    spy: Path | None = None,
    unconstrained: bool = False,
    in_flight: tuple[int, ...] = (),
    first_waves: tuple[int, ...] = (),
    on_run: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Figures of the reference and of docextract in each image-processing mode.

    `engine` is an SGLangEngine to use (default: one built from `config.engine`); it is
    started here and closed at the end. With `rounds` > 1 the same runs repeat on the same
    engine; the top-level figures are the last round's, `rounds` holds every round's and
    `spread` the min / median / max of each figure that `spread_of` names. `spy` is a folder
    for py-spy profiles of each run (pipeline.bench.spy); `unconstrained` adds a reference run
    without the JSON schema, which shows what the grammar costs; each of `in_flight` adds a
    docextract run (in the first mode) that keeps at most that many requests in flight, and
    each of `first_waves` one with that `engine.first_wave`. `on_run(label, figures)` is
    called as each run ends, so a bench cut short still tells what it measured.
    """
    from pipeline.bench.docgen import generate_workload
    from pipeline.bench.reference import drive
    from pipeline.bench.throughput import hardware
    from pipeline.engines.sglang import SGLangEngine

    engine = engine or SGLangEngine(config.engine)
    engine.start()
    try:
        loop = engine.backend.loop
        with tempfile.TemporaryDirectory(prefix="docextract-bench-") as tmp:
            inputs = Path(tmp) / "in"
            inputs.mkdir()
            generate_workload(inputs, docs, seed)
            requests = reference_requests(config, inputs, engine)
            loop.run_until_complete(drive(engine.backend, requests[:WARMUP_DOCUMENTS]))
            bench = _Rounds(config, engine, loop, inputs, Path(tmp), requests, spy, on_run)
            all_rounds = [
                bench.one_round(
                    n, modes, profile if n == 0 else None, unconstrained, in_flight, first_waves
                )
                for n in range(rounds)
            ]
        figures: dict[str, Any] = dict(all_rounds[-1])
        if rounds > 1:
            figures["rounds"] = all_rounds
            figures["spread"] = spread_of(all_rounds)
        figures["answer_tokens_per_document"] = config.engine.max_new_tokens
        figures["hardware"] = hardware()
        figures["engine"] = {"model": engine.model, "server_args": _plain(engine.server_args)}
        return figures
    finally:
        engine.close()


class _Rounds:
    """The measured runs of one bench on one started engine."""

    def __init__(
        self, config: RunConfig, engine: Any, loop: Any, inputs: Path, tmp: Path,
        requests: list[Any], spy: Path | None,
        on_run: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:  # fmt: skip
        self.config, self.engine, self.loop = config, engine, loop
        self.inputs, self.tmp, self.requests, self.spy = inputs, tmp, requests, spy
        self.on_run = on_run or (lambda label, figures: None)

    def reference(self, label: str, requests: list[Any]) -> dict[str, Any]:
        from pipeline.bench.reference import drive

        self.loop.run_until_complete(_flush(self.engine.backend))
        with Probe() as probe, Spy(self.spy, label) as spy:
            figures = self.loop.run_until_complete(drive(self.engine.backend, requests))
        run = _derived({**figures, **probe.figures(), **_profiles(spy)})
        self.on_run(label, run)
        return run

    def one_round(
        self, n: int, modes: tuple[str, ...], profile: Path | None, unconstrained: bool,
        in_flight: tuple[int, ...] = (), first_waves: tuple[int, ...] = (),
    ) -> dict[str, Any]:  # fmt: skip
        figures: dict[str, Any] = {"reference": self.reference(f"r{n}.reference", self.requests)}
        if unconstrained:
            free = [_without_schema(request) for request in self.requests]
            figures["reference[no schema]"] = self.reference(f"r{n}.reference-no-schema", free)
        for mode in modes:
            table = profile and profile.with_suffix(f".{mode}.txt")
            figures[f"docextract[{mode}]"] = self.docextract(f"r{n}.docextract-{mode}", mode, table)
        for window in in_flight:
            figures[f"docextract[{modes[0]}] {window} in flight"] = self.docextract(
                f"r{n}.docextract-{modes[0]}-{window}", modes[0], None, window
            )
        for wave in first_waves:
            figures[f"docextract[{modes[0]}] first wave {wave}"] = self.docextract(
                f"r{n}.docextract-{modes[0]}-wave-{wave}", modes[0], None, first_wave=wave
            )
        reference = figures["reference"]["pages_per_s"]
        for mode in modes:
            ratio = figures[f"docextract[{mode}]"]["pages_per_s"] / max(reference, 1e-9)
            default = mode == self.config.engine.sglang.image_processing
            target = " (the default; target >= 1.0, goal 3)" if default else ""
            figures[f"docextract[{mode}] / reference pages/s{target}"] = round(ratio, 2)
        return figures

    def docextract(
        self, label: str, mode: str, table: Path | None, window: int | None = None,
        first_wave: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One docextract run in image-processing `mode`, with at most `window` requests in
        flight (default: the engine's own limit) and `first_wave` (default: the config's)."""
        self.loop.run_until_complete(_flush(self.engine.backend))
        use_image_processing(self.engine, mode)
        # one request per document, as the reference sends: no retries
        engine = self.config.engine
        if first_wave is not None:
            engine = engine.model_copy(update={"first_wave": first_wave})
        run_config = self.config.model_copy(
            update={"inputs": (self.inputs,), "out": self.tmp / label, "retries": 0,
                    "engine": engine}
        )  # fmt: skip
        limit = self.engine.max_in_flight
        self.engine.max_in_flight = window or limit
        try:
            with Spy(self.spy, label) as spy:
                run = _docextract_run(run_config, self.engine, self.loop, table)
        finally:
            self.engine.max_in_flight = limit
        wave = run_config.engine.first_wave
        figures = _derived({**run, **_profiles(spy), "in_flight": window or limit,
                            "first_wave": wave})  # fmt: skip
        self.on_run(label, figures)
        return figures


def use_image_processing(engine: Any, mode: str) -> None:
    """Switch who runs the image processor ("sglang" or "docextract") on a started
    SGLangEngine between runs, so the bench compares both on one engine."""
    from pipeline.engines.sglang_inputs import SGLangInputs

    old = engine.inputs
    assert old is not None, "start() first"
    engine.inputs = SGLangInputs(old.processor, old.hf_config, mode, page_keys=old.page_keys)
    old.close()


SPREAD_FIGURES = ("pages_per_s", "first_result_s", "gpu_busy", "scheduler_cpu_s",
                  "output_tokens_per_s")  # fmt: skip
"""The figures of each run that `spread_of` summarises over rounds."""


def spread_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """{run: {figure: [min, median, max]}} over the rounds, and [min, median, max] of each
    ratio to the reference."""
    import statistics

    def three(values: list[float]) -> list[float]:
        return [min(values), round(statistics.median(values), 3), max(values)]

    spread: dict[str, Any] = {}
    for name, run in rounds[0].items():
        if isinstance(run, dict):
            spread[name] = {
                figure: three([r[name][figure] for r in rounds])
                for figure in SPREAD_FIGURES
                if all(isinstance(r[name].get(figure), int | float) for r in rounds)
            }
        elif " / reference" in name:
            spread[name] = three([r[name] for r in rounds])
    return spread


def _derived(run: dict[str, Any]) -> dict[str, Any]:
    """A run's figures plus output tokens/s and the CPU seconds of sglang's scheduler(s)."""
    tokens = (run.get("output_tokens_per_page") or 0) * (run.get("pages_per_s") or 0)
    children = run.get("cpu_s_by_child_process") or {}
    scheduler = [s for name, s in children.items() if name.startswith("sglang::sched")]
    return {
        **run,
        "output_tokens_per_s": round(tokens, 1),
        "scheduler_cpu_s": round(sum(scheduler), 1) if scheduler else None,
    }


def _without_schema(request: Any) -> Any:
    from dataclasses import replace

    params = {k: v for k, v in request.sampling_params.items() if k != "json_schema"}
    return replace(request, sampling_params=params)


def _profiles(spy: Spy) -> dict[str, Any]:
    return {"profiles": {role: str(path) for role, path in spy.files.items()}} if spy.files else {}


def _docextract_run(config: RunConfig, engine: Any, loop: Any, profile: Path | None) -> dict:
    from pipeline.bench.throughput import run_figures
    from pipeline.output.progress import PlainReporter
    from pipeline.run import run_extraction

    profiler = cProfile.Profile() if profile else None
    started = datetime.now(UTC)
    with open(os.devnull, "w") as sink, Probe() as probe:
        if profiler:
            profiler.enable()
        try:
            report = run_extraction(
                config,
                engine=engine,
                reporter=PlainReporter(sink, every_s=1e9),
                runner=loop.run_until_complete,
            )
        finally:
            if profiler:
                profiler.disable()
    if profiler and profile:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
        profile.write_text(text.getvalue())
    return {**run_figures(report, started), **probe.figures()}


async def _flush(backend: Any) -> None:
    """Empty sglang's prefix cache (waits until no request runs) and this process's cache of
    GPU memory, so that no run inherits the memory an earlier one left reserved."""
    await backend.tokenizer_manager.flush_cache()
    release_cached_gpu_memory()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool) else repr(v) for k, v in values.items()}
