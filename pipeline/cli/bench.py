"""`docextract bench`: throughput on this machine with the chosen engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from pipeline.cli.run_options import complete_engine, complete_schema
from pipeline.config_help import field_help
from pipeline.errors import ConfigError


def bench_command(
    engine: str = typer.Option(
        "auto", "--engine", "-e", help=field_help("engine.name"), autocompletion=complete_engine
    ),
    model: str = typer.Option(None, "--model", help=field_help("engine.model")),
    docs: int = typer.Option(64, "--docs", min=1, help="Synthetic documents to generate."),
    schema: str = typer.Option(
        "invoice", "--schema", help="Schema to extract.", autocompletion=complete_schema
    ),
    base_url: str = typer.Option(None, "--base-url", help=field_help("engine.openai.base_url")),
    config_file: Path = typer.Option(
        None, "--config", exists=True, dir_okay=False, help="A docextract.toml to start from."
    ),
    max_new_tokens: int = typer.Option(
        None, "--max-new-tokens", min=1, help=field_help("engine.max_new_tokens")
    ),
    sglang_args: list[str] = typer.Option(
        None, "--sglang", metavar="KEY=VALUE",
        help="An [engine.sglang] setting or sglang ServerArgs field (value as JSON); repeatable.",
    ),  # fmt: skip
    image_processing: str = typer.Option(
        "sglang,docextract", "--image-processing",
        help="With --engine sglang: the image-processing modes to run, comma-separated.",
    ),  # fmt: skip
    profile: Path = typer.Option(
        None, "--profile", help="With --engine sglang: write cProfile tables of each run here."
    ),
    rounds: int = typer.Option(
        1, "--rounds", min=1, help="With --engine sglang: repeat the measured runs this often."
    ),
    spy: Path = typer.Option(
        None, "--spy", help="With --engine sglang: write py-spy profiles of each run here."
    ),
    unconstrained: bool = typer.Option(
        False, "--unconstrained",
        help="With --engine sglang: also run the reference without the JSON schema.",
    ),  # fmt: skip
    in_flight: str = typer.Option(
        "", "--in-flight",
        help="With --engine sglang: comma-separated request windows, each one more docextract run.",
    ),  # fmt: skip
    first_wave: str = typer.Option(
        "", "--first-wave",
        help="With --engine sglang: comma-separated first waves, each one more docextract run.",
    ),  # fmt: skip
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Measure pages/s, tokens per page and latency on a synthetic workload.

    With --engine sglang, also sglang driven directly on the same pages, on the same engine.
    """
    from pipeline.config import load_config

    flags: dict[str, Any] = {
        "schema_ref": schema,
        "engine": {
            "name": engine,
            "model": model,
            "max_new_tokens": max_new_tokens,
            "openai": {"base_url": base_url},
            "sglang": sglang_settings(sglang_args or []),
        },
    }
    config = load_config(flags, config_file)
    if config.engine.name == "sglang":
        from pipeline.bench.sglang import run_sglang_bench

        modes = tuple(m.strip() for m in image_processing.split(",") if m.strip())
        figures = run_sglang_bench(
            config, docs, modes=modes, profile=profile, rounds=rounds, spy=spy,
            unconstrained=unconstrained,
            in_flight=_numbers(in_flight), first_waves=_numbers(first_wave), on_run=_run_ended,
        )  # fmt: skip
    else:
        from pipeline.bench.throughput import run_bench

        figures = run_bench(config, docs)
    if as_json:
        typer.echo(json.dumps(figures))
        return
    from rich.table import Table

    from pipeline.cli.common import make_console, print_table, wants_rich

    title = f"docextract bench · {figures.get('engine', engine)}"
    table = Table("figure", "value", title=title)
    for key, value in figures.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    rich = wants_rich()
    print_table(table, make_console(rich), rich)


def _run_ended(label: str, figures: dict[str, Any]) -> None:
    """One line on stderr as each run of the sglang bench ends: what a bench stopped by its
    engine keeps."""
    typer.echo(f"bench run {label}: {json.dumps(figures)}", err=True)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n.strip())


def sglang_settings(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs as [engine.sglang] settings; keys that are not settings go to
    extra_args (sglang ServerArgs fields). A value is read as JSON, else kept as text."""
    from pipeline.config import SGLangConfig

    settings: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--sglang {pair!r}: expected KEY=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        (settings if key in SGLangConfig.model_fields else extra)[key] = value
    if extra:
        settings["extra_args"] = extra
    return settings
