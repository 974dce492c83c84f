"""`docextract bench`: throughput on this machine with the chosen engine."""

from __future__ import annotations

import json

import typer

from pipeline.cli_common import ExitCode, fail
from pipeline.errors import ConfigError, EngineUnavailable


def bench_command(
    engine: str = typer.Option(
        "auto", "--engine", "-e", help="auto, sglang, openai, transformers or null."
    ),
    model: str = typer.Option(None, "--model", help="Model id or local folder."),
    docs: int = typer.Option(64, "--docs", min=1, help="Synthetic documents to generate."),
    schema: str = typer.Option("invoice", "--schema", help="Schema to extract."),
    base_url: str = typer.Option(None, "--base-url", help="Server for --engine openai."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Measure pages/s, tokens per page and latency on a synthetic workload."""
    from pipeline.bench import run_bench
    from pipeline.config import load_config

    try:
        config = load_config(
            {
                "schema_ref": schema,
                "engine": {"name": engine, "model": model, "openai": {"base_url": base_url}},
            }
        )
        figures = run_bench(config, docs)
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    except EngineUnavailable as exc:
        fail(str(exc), ExitCode.ENGINE)
    if as_json:
        typer.echo(json.dumps(figures))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", title=f"docextract bench · {figures['engine']}")
    for key, value in figures.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)
