"""`docextract bench --engine sglang`: docextract beside sglang driven directly, one engine.

One `sglang.Engine` starts once. A few documents warm it up (kernels, the schema's grammar);
then the reference (benchmarks/sglang_reference.py: every document one `async_generate` call,
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.bench.probe import Probe
from pipeline.config import RunConfig

WARMUP_DOCUMENTS = 8


def reference_requests(config: RunConfig, inputs: Path, engine: Any) -> list[Any]:
    """Every document of `inputs`, rendered here, as the reference's requests."""
    from benchmarks.sglang_reference import ReferenceRequest
    from pipeline.engines.base import SamplingConfig
    from pipeline.engines.sglang import build_sampling_params
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.engine_schema import engine_json_schema
    from pipeline.extract.prompt import build_prompt, build_request
    from pipeline.inputs.discover import discover_sources
    from pipeline.inputs.render import render_document

    spec = resolve_schema(config.schema_ref)
    template, schema = build_prompt(spec), engine_json_schema(spec.model)
    sampling = SamplingConfig(
        max_new_tokens=config.engine.max_new_tokens, seed=config.engine.seed
    )
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
) -> dict[str, Any]:
    """Figures of the reference and of docextract in each image-processing mode.

    `engine` is an SGLangEngine to use (default: one built from `config.engine`); it is
    started here and closed at the end."""
    from benchmarks.sglang_reference import drive
    from pipeline.bench.docgen import generate_workload
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
            figures: dict[str, Any] = {}
            loop.run_until_complete(_flush(engine.backend))
            with Probe() as probe:
                reference = loop.run_until_complete(drive(engine.backend, requests))
            figures["reference"] = {**reference, **probe.figures()}
            for mode in modes:
                loop.run_until_complete(_flush(engine.backend))
                engine.set_image_processing(mode)
                out = Path(tmp) / f"out-{mode}"
                # one request per document, as the reference sends: no retries
                run_config = config.model_copy(
                    update={"inputs": (inputs,), "out": out, "retries": 0}
                )
                figures[f"docextract[{mode}]"] = _docextract_run(
                    run_config, engine, loop, profile and profile.with_suffix(f".{mode}.txt")
                )
        for mode in modes:
            ratio = figures[f"docextract[{mode}]"]["pages_per_s"] / max(
                reference["pages_per_s"], 1e-9
            )
            default = mode == config.engine.sglang.image_processing
            target = " (the default; target >= 1.0, goal 3)" if default else ""
            figures[f"docextract[{mode}] / reference pages/s{target}"] = round(ratio, 2)
        figures["hardware"] = hardware()
        figures["engine"] = {"model": engine.model, "server_args": _plain(engine.server_args)}
        return figures
    finally:
        engine.close()


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
    """Empty sglang's prefix cache (waits until no request runs)."""
    await backend.tokenizer_manager.flush_cache()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool) else repr(v) for k, v in values.items()}
