"""`docextract bench`: a reproducible throughput figure for this machine and engine.

A synthetic workload from the project's own document generator (1-3 page invoices in four
languages, a quarter degraded like scans) runs through the whole pipeline; the figures come
from the run report and the documents table.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.engines.base import Engine
from pipeline.output.report import RunReport


def hardware() -> dict[str, Any]:
    """CPU cores and model, and the GPUs nvidia-smi lists (none without a driver)."""
    from pipeline.engines.gpu import gpu_names

    gpus = gpu_names()
    return {
        "cpu_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "gpus": gpus,
        "gpu_count": len(gpus),
    }


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def run_bench(
    config: RunConfig, docs: int, engine: Engine | None = None, seed: int = 0
) -> dict[str, Any]:
    """Generate `docs` documents, extract them with `config`'s engine, and report figures.

    `config.inputs` and `config.out` are replaced by a temporary workload and output folder.
    """
    from pipeline.bench.docgen import generate_workload
    from pipeline.output.progress import PlainReporter
    from pipeline.run import run_extraction

    with tempfile.TemporaryDirectory(prefix="docextract-bench-") as tmp:
        inputs, out = Path(tmp) / "in", Path(tmp) / "out"
        inputs.mkdir()
        generate_workload(inputs, docs, seed)
        bench_config = config.model_copy(update={"inputs": (inputs,), "out": out})
        started = datetime.now(UTC)
        with open(os.devnull, "w") as sink:
            report = run_extraction(
                bench_config, engine=engine, reporter=PlainReporter(sink, every_s=1e9)
            )
        figures = run_figures(report, started)
    return {"engine": report.engine, "model": report.model, **figures, "hardware": hardware()}


def run_figures(report: RunReport, started: datetime) -> dict[str, Any]:
    """Throughput, tokens and latency of a finished run (its OUT folder still there);
    `started` is when the run was asked for. Pages/s counts every page the run settled,
    failed documents' too: the engine read them all. Visual tokens are counted on extracted
    pages only (None where none was, as with random weights)."""
    from pipeline.output.sink import TABLES

    folder = Path(report.out) / report.schema
    latencies = _column(folder / TABLES[0], "latency_s")
    created = [t for table in TABLES for t in _column(folder / table, "created_at")]
    elapsed = max(report.elapsed_s, 1e-9)
    done = report.pages + report.failed_pages
    pages = max(done, 1)
    return {
        "documents": report.attempted,
        "failed": report.failed,
        "pages": done,
        "elapsed_s": round(elapsed, 2),
        "pages_per_s": round(done / elapsed, 3),
        "documents_per_s": round(report.attempted / elapsed, 3),
        "first_result_s": (
            round((min(created) - started).total_seconds(), 3) if created else None
        ),
        "visual_tokens_per_page": _per(report.visual_tokens, report.pages),
        "prompt_tokens_per_page": round(report.prompt_tokens / pages, 1),
        "output_tokens_per_page": round(report.completion_tokens / pages, 1),
        "prefix_cache_hit_ratio": (
            round(report.cached_tokens / report.prompt_tokens, 3)
            if report.cached_tokens and report.prompt_tokens
            else None
        ),
        "latency_p50_s": _round(_percentile(latencies, 0.50)),
        "latency_p95_s": _round(_percentile(latencies, 0.95)),
    }


def _column(folder: Path, name: str) -> list[Any]:
    """The non-null values of one column of a table's part files."""
    import pyarrow.parquet as pq

    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return []
    return [v for v in pq.read_table(parts, columns=[name]).column(0).to_pylist() if v is not None]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _per(total: int, pages: int) -> float | None:
    return round(total / pages, 1) if pages else None
