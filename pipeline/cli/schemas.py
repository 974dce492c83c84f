"""`docextract schemas`: list the built-in schemas, or show one's engine schema and prompt."""

from __future__ import annotations

import json

import typer

from pipeline.cli.common import exits_on_errors

schemas_app = typer.Typer(
    help="List the built-in schemas, or show the engine schema and prompt of one.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)


@schemas_app.callback()
def list_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Print the list as JSON: [{name, summary}, ...]."
    ),
) -> None:
    """List the built-in schemas with a one-line summary each."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from pipeline.cli.common import make_console, print_table, wants_rich
    from schemas import BUILTIN_SCHEMAS, SCHEMA_SUMMARIES

    if as_json:
        listed = [{"name": n, "summary": SCHEMA_SUMMARIES.get(n, "")} for n in BUILTIN_SCHEMAS]
        typer.echo(json.dumps(listed, ensure_ascii=False))
        return
    table = Table("schema", "summary", title="Built-in schemas")
    for name in BUILTIN_SCHEMAS:
        table.add_row(name, SCHEMA_SUMMARIES.get(name, ""))
    rich = wants_rich()
    console = make_console(rich)
    print_table(table, console, rich)
    console.print("Also: --schema path/to/file.py:Model, package.module:Model or schema.json")


@schemas_app.command("show")
@exits_on_errors
def show_command(
    ref: str = typer.Argument(..., help="Built-in name, file.py:Model, module:Model or .json."),
    json_only: bool = typer.Option(
        False, "--json-only", help="Print only the engine JSON schema (for piping)."
    ),
) -> None:
    """Print the engine JSON schema, the exact prompt (system, prefix, image, suffix), its hash."""
    from pipeline.extract.catalog import resolve_schema
    from pipeline.extract.prompt import build_prompt, render_prompt_text

    spec = resolve_schema(ref)
    template = build_prompt(spec)
    schema_text = json.dumps(template.json_schema, indent=2, ensure_ascii=False)
    if json_only:
        typer.echo(schema_text)
        return
    typer.echo(f"# schema {spec.name} ({spec.source})")
    typer.echo(f"# prompt hash {template.prompt_hash}\n")
    typer.echo("## engine JSON schema")
    typer.echo(schema_text)
    typer.echo("\n## prompt")
    typer.echo(render_prompt_text(template))
