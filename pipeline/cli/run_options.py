"""The options of `docextract run`, each declared once, grouped as its help shows them.

Each help text is the RunConfig field's own (`field_help`), so the flags, the TOML file and the
API describe a setting in the same words.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import typer

from pipeline.config_help import DEFAULTS, field_help

_EXTRACTION, _ENGINE, _RENDERING = "Extraction", "Engine", "Rendering"
_SCHEDULING, _OUTPUT = "Re-runs and scheduling", "Output"


def complete_engine(incomplete: str) -> list[str]:
    """Shell completion of --engine: the engine names."""
    from typing import get_args

    from pipeline.config import EngineName

    return [name for name in get_args(EngineName) if name.startswith(incomplete)]


def complete_schema(incomplete: str) -> list[str]:
    """Shell completion of --schema: the built-in names, then .py and .json files and folders."""
    from schemas import BUILTIN_SCHEMAS

    names = [name for name in BUILTIN_SCHEMAS if name.startswith(incomplete)]
    found = sorted(Path().glob(f"{glob.escape(incomplete)}*"))
    files = [f"{p}/" if p.is_dir() else str(p) for p in found
             if p.is_dir() or p.suffix in (".py", ".json")]  # fmt: skip
    return names + files


def complete_out_schema(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of --schema where it names a table of OUT (export, review): the
    schemas the OUT already given on the line holds."""
    from pipeline.output.current import list_schemas

    # While completing, click leaves the positional arguments unparsed, in ctx.args.
    out = ctx.params.get("out") or next(iter(ctx.args), None)
    return [name for name in list_schemas(Path(out)) if name.startswith(incomplete)] if out else []


def _option(default: Any, *names: str, field: str = "", panel: str, help: str = "",
            complete: Any = None) -> Any:  # fmt: skip
    return typer.Option(
        default, *names, help=help or field_help(field), rich_help_panel=panel,
        show_default=DEFAULTS.get(field, False), autocompletion=complete,
    )  # fmt: skip


def quiet_option(panel: str | None = None) -> Any:
    """-q, for the root command and for `run`."""
    return typer.Option(
        False, "--quiet", "-q", help="Errors only: no progress, no first line, no summary.",
        rich_help_panel=panel,
    )  # fmt: skip


def verbose_option(panel: str | None = None) -> Any:
    """-v / -vv, for the root command and for `run`."""
    return typer.Option(
        0, "--verbose", "-v", count=True, show_default=False,
        help="More detail on stderr: -v info, -vv debug.", rich_help_panel=panel,
    )  # fmt: skip


INPUTS = typer.Argument(..., help=field_help("inputs"))
SCHEMA = _option(None, "--schema", "-s", field="schema_ref", panel=_EXTRACTION,
                 complete=complete_schema)  # fmt: skip
OUT = _option(None, "--out", "-o", field="out", panel=_EXTRACTION)
CONFIG_FILE = _option(None, "--config", help="TOML file (default ./docextract.toml).",
                      panel=_EXTRACTION)  # fmt: skip
DRY_RUN = _option(None, "--dry-run", field="dry_run", panel=_EXTRACTION)
EINVOICE = _option(None, "--einvoice", field="einvoice", panel=_EXTRACTION)
ENGINE = _option(None, "--engine", "-e", field="engine.name", panel=_ENGINE,
                 complete=complete_engine)  # fmt: skip
MODEL = _option(None, "--model", field="engine.model", panel=_ENGINE)
BASE_URL = _option(None, "--base-url", field="engine.openai.base_url", panel=_ENGINE)
MAX_NEW_TOKENS = _option(None, "--max-new-tokens", field="engine.max_new_tokens", panel=_ENGINE)
RETRIES = _option(None, "--retries", field="retries", panel=_ENGINE)
DPI = _option(None, "--dpi", field="render.dpi", panel=_RENDERING)
MAX_PIXELS = _option(None, "--max-pixels", field="render.max_pixels", panel=_RENDERING)
MIN_PIXELS = _option(None, "--min-pixels", field="render.min_pixels", panel=_RENDERING)
PASSWORD = _option(None, "--password", field="render.passwords", panel=_RENDERING)
PASSWORDS_FILE = _option(None, "--passwords-file", help="File with one password per line.",
                         panel=_RENDERING)  # fmt: skip
WORKERS = _option(None, "--workers", field="render.workers", panel=_RENDERING)
MAX_PAGES = _option(None, "--max-pages", field="max_pages", panel=_RENDERING)
PER_PAGE = _option(None, "--per-page/--per-document", field="per_page", panel=_RENDERING)
GROUNDING = _option(None, "--grounding/--no-grounding", field="render.text_layer",
                    panel=_RENDERING)  # fmt: skip
MODEL_BOXES = _option(None, "--model-boxes/--no-model-boxes", field="render.model_boxes",
                      panel=_RENDERING)  # fmt: skip
REVIEW_BELOW = _option(None, "--review-below", field="review_below", panel=_RENDERING)
FORCE = _option(None, "--force", field="force", panel=_SCHEDULING)
RETRY_ERRORS = _option(None, "--retry-errors", field="retry_errors", panel=_SCHEDULING)
WAIT = _option(None, "--wait", field="wait", panel=_SCHEDULING)
ENGINE_RESTARTS = _option(None, "--engine-restarts", field="engine_restarts", panel=_SCHEDULING)
SHARD = _option(None, "--shard", field="shard", panel=_SCHEDULING)
MAX_FAILURE_RATE = _option(None, "--max-failure-rate", field="max_failure_rate",
                           panel=_SCHEDULING)  # fmt: skip
LOG_FORMAT = _option(None, "--log-format", field="log_format", panel=_SCHEDULING)
AS_JSON = _option(
    False, "--json", panel=_SCHEDULING,
    help="Print the summary (with --dry-run: the plan) as one JSON object on stdout.",
)  # fmt: skip
QUIET = quiet_option(_OUTPUT)
VERBOSE = verbose_option(_OUTPUT)
