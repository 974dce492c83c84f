"""The one configuration object, built from defaults, a TOML file, DOCEXTRACT_* variables and
command-line flags (later sources win), validated once and frozen.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.config_help import HELP
from pipeline.errors import ConfigError

# One visual token is 32x32 pixels; 1280 tokens caps an A4 page at 150 dpi near 1,300 tokens.
TOKEN_PIXELS = 32 * 32
DEFAULT_MAX_PIXELS = 1280 * TOKEN_PIXELS
DEFAULT_MIN_PIXELS = 64 * TOKEN_PIXELS
DEFAULT_MAX_DECODED_BYTES = 320 * 2**20  # a 600 dpi A3 RGB scan, 7016x9921x4, is 266 MiB
DEFAULT_MODEL = "Qwen/Qwen3-VL-30B-A3B-Instruct-FP8"
DEFAULT_LOCAL_MODEL = "Qwen/Qwen3-VL-2B-Instruct"
MAX_PAGES_PER_REQUEST = 100  # a request's pages are in memory together: about 4 MB each

EngineName = Literal["auto", "sglang", "openai", "transformers", "null"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _flag(value: Any) -> bool | None:
    """A boolean setting as given (True, "true", "1", "on", ...); None where unset or unclear:
    the field's own validation reads it then."""
    text = str(value).strip().lower()
    return True if text in ("true", "1", "yes", "on") else False if text in (
        "false", "0", "no", "off") else None  # fmt: skip


class RenderConfig(_Frozen):
    """How pages become images."""

    dpi: float = Field(150.0, gt=0, le=1200, description=HELP["render.dpi"])
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description=HELP["render.max_pixels"])
    min_pixels: int = Field(DEFAULT_MIN_PIXELS, gt=0, description=HELP["render.min_pixels"])
    max_page_area_pt2: float = Field(
        14_400.0 * 14_400.0, gt=0, description="Largest PDF page area accepted, in points²."
    )
    max_image_pixels: int = Field(
        200_000_000, gt=0, description="Largest decoded image accepted (decompression-bomb guard)."
    )
    max_decoded_bytes: int = Field(
        DEFAULT_MAX_DECODED_BYTES, gt=0,
        description="Largest image frame decoded, in bytes as it is rendered (width x height "
        "x 1 for gray, 4 for colour or transparency; a JPEG at the scale it is decoded at), "
        "checked from its header before decoding: a larger one is an image_too_large row. "
        "Each render process may use 4 times this, plus its window of pages, beyond what it "
        "starts with (RLIMIT_DATA on Linux); running out is a render_oom row. The default "
        "admits a 600 dpi A3 colour scan (266 MiB).",
    )  # fmt: skip
    timeout_s: float = Field(120.0, gt=0, description=HELP["render.timeout_s"])
    text_layer: bool = Field(False, description=HELP["render.text_layer"])
    text_lines: bool = Field(False, description=HELP["render.text_lines"])
    model_boxes: bool = Field(False, description=HELP["render.model_boxes"])
    workers: int = Field(0, ge=0, le=256, description=HELP["render.workers"])
    passwords: tuple[str, ...] = Field((), description=HELP["render.passwords"])

    @model_validator(mode="before")
    @classmethod
    def _model_boxes_ground(cls, values: Any) -> Any:
        """model_boxes turns text_layer (grounding) on, unless it is set off, which is an
        error: the boxes are there to locate the answer's values."""
        if not isinstance(values, dict) or _flag(values.get("model_boxes")) is not True:
            return values
        if _flag(values.get("text_layer")) is False:
            raise ValueError(
                "model_boxes locates the answer's values on the model's reading of a page: it "
                "needs grounding (--grounding, render.text_layer = true)"
            )
        return {**values, "text_layer": True}

    @model_validator(mode="after")
    def _budget_is_ordered(self) -> RenderConfig:
        if self.min_pixels > self.max_pixels:
            raise ValueError("min_pixels must not exceed max_pixels")
        return self


class SGLangConfig(_Frozen):
    """In-process sglang.Engine settings (see DESIGN.md §2)."""

    attention_backend: str | None = Field(
        None, description="None lets sglang pick its tuned default for the GPU and model."
    )
    mm_attention_backend: str | None = Field(
        None, description="None lets sglang pick (fa3 on Hopper)."
    )
    tp_size: int = Field(1, ge=1, description="GPUs per replica; block-FP8 MoE needs 1 or 2.")
    dp_size: int | None = Field(None, ge=1, description="None means one replica per GPU.")
    mem_fraction_static: float | None = Field(None, gt=0, lt=1)
    context_length: int | None = Field(None, gt=0)
    max_running_requests: int | None = Field(None, gt=0)
    load_format: str | None = Field(None, description='"dummy" loads random weights.')
    log_level: str = Field("warning", description="sglang's own log level.")
    deterministic: bool = Field(
        False,
        description="Bit-reproducible decoding (sglang's enable_deterministic_inference; slower).",
    )
    image_processing: Literal["docextract", "sglang"] = Field(
        "sglang",
        description='Who runs the model\'s image processor for Qwen-VL models: "sglang" (in '
        "its tokenizer manager, on the GPU; faster with the full-size model, README \"Speed\") "
        'or "docextract" (in a thread pool, handing sglang its output: faster where the host '
        "is the bottleneck, as with small models; about 30 MB of memory per page in flight).",
    )
    compact_json: bool = Field(
        False,
        description="Send each request's schema as the grammar of its JSON with no whitespace "
        "(an EBNF grammar xgrammar writes from it) instead of as the JSON schema, which sglang "
        "follows with \", \" and \": \" between items and keys: about a sixth fewer answer "
        "tokens. Its speed on the GPU is not measured yet.",
    )  # fmt: skip
    extra_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Further sglang ServerArgs fields, passed as they are "
        "(e.g. disable_cuda_graph = true).",
    )


class OpenAIConfig(_Frozen):
    """OpenAI-compatible server (sglang.launch_server or sglang-router)."""

    base_url: str = Field("http://127.0.0.1:30000/v1", description=HELP["engine.openai.base_url"])
    api_key_env: str = Field("OPENAI_API_KEY", description="Variable holding the API key.")
    concurrency: int = Field(64, ge=1)
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)


class TransformersConfig(_Frozen):
    """Local transformers engine."""

    device: str = Field("auto", description="auto, cpu, cuda or mps.")
    dtype: str = Field("auto", description="auto, float32, bfloat16 or float16.")
    batch_size: int = Field(4, ge=1)


class EngineConfig(_Frozen):
    """Which model backend answers, and how it decodes."""

    name: EngineName = Field("auto", description=HELP["engine.name"])
    model: str | None = Field(None, description=HELP["engine.model"])
    max_new_tokens: int = Field(2048, gt=0, description=HELP["engine.max_new_tokens"])
    unreachable_s: float = Field(
        30.0, gt=0,
        description="Seconds the engine may stay unreachable (every request a connection "
        "failure) before the run stops with exit 3, keeping what it committed.",
    )  # fmt: skip
    unreachable_requests: int = Field(
        3, ge=1, description="Requests in a row that must fail to connect before that clock runs."
    )
    first_wave: int = Field(
        32, ge=0,
        description="Requests sent before the first answer comes back; then as many as the "
        "engine takes (0: all at once). An engine prefills every waiting request before it "
        "decodes any, so a small first wave brings the first rows within seconds.",
    )  # fmt: skip
    seed: int = 0
    sglang: SGLangConfig = SGLangConfig()
    openai: OpenAIConfig = OpenAIConfig()
    transformers: TransformersConfig = TransformersConfig()


class RunConfig(_Frozen):
    """Everything a run needs. Built once by `load_config`, then passed down read-only."""

    inputs: tuple[Path, ...] = Field((), description=HELP["inputs"])
    schema_ref: str = Field("invoice", description=HELP["schema_ref"])
    out: Path = Field(Path("out"), description=HELP["out"])
    render: RenderConfig = RenderConfig()
    engine: EngineConfig = EngineConfig()
    max_pages: int = Field(8, ge=1, le=MAX_PAGES_PER_REQUEST, description=HELP["max_pages"])
    per_page: bool = Field(False, description=HELP["per_page"])
    retries: int = Field(2, ge=0, description=HELP["retries"])
    force: bool = Field(False, description=HELP["force"])
    retry_errors: bool = Field(False, description=HELP["retry_errors"])
    wait: bool = Field(False, description=HELP["wait"])
    engine_restarts: int = Field(0, ge=0, description=HELP["engine_restarts"])
    shard: tuple[int, int] = Field((0, 1), description=HELP["shard"])
    max_failure_rate: float = Field(0.0, ge=0, le=1, description=HELP["max_failure_rate"])
    dry_run: bool = Field(False, description=HELP["dry_run"])
    review_below: float | None = Field(None, ge=0, le=1, description=HELP["review_below"])
    einvoice: Literal["prefer", "model", "verify"] = Field(
        "prefer", description=HELP["einvoice"]
    )
    einvoice_max_bytes: int = Field(
        16 * 2**20, gt=0,
        description="Largest e-invoice XML read, attached or standalone; a larger one is an "
        "einvoice_invalid row (xml_too_large), refused before it is loaded, or as it inflates "
        "where an attachment states less. The reading process may use 1 GiB plus 32 bytes per "
        "byte of it.",
    )  # fmt: skip
    log_format: Literal["auto", "rich", "plain", "json"] = Field(
        "auto", description=HELP["log_format"]
    )
    part_rows: int = Field(4096, ge=1, description="Rows per Parquet part file, at most.")
    flush_s: float = Field(
        30.0,
        gt=0,
        description="Commit waiting rows once the oldest has waited this long (what a SIGKILL "
        "can cost); otherwise parts are written when full and at the end of the run.",
    )

    @field_validator("out")
    @classmethod
    def _out_is_text(cls, value: Path) -> Path:
        """Parquet readers (pyarrow, DuckDB) open paths as UTF-8 text: a folder whose name has
        bytes that are not would take rows no reader can find."""
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{os.fsdecode(value)!r}: the output folder's name is not UTF-8 text, and "
                "Parquet readers cannot open it; choose another"
            ) from None
        return value

    @field_validator("shard", mode="before")
    @classmethod
    def _shard_from_text(cls, value: Any) -> Any:
        """"1/4" as the CLI, TOML and DOCEXTRACT_SHARD write it; a pair passes unchanged."""
        if isinstance(value, str):
            parts = value.split("/")
            if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
                raise ValueError(f"shard must look like I/N, got {value!r}")
            return tuple(int(part) for part in parts)
        return value

    @model_validator(mode="after")
    def _shard_in_range(self) -> RunConfig:
        index, count = self.shard
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard must be I/N with 0 <= I < N, got {index}/{count}")
        if self.einvoice == "verify" and self.per_page:
            raise ValueError("einvoice verify compares whole documents: it cannot go with per_page")
        if self.review_below is not None and not self.render.text_layer:
            raise ValueError(
                "review_below marks fields by their grounding confidence: it needs grounding "
                "(--grounding, render.text_layer = true)"
            )
        return self


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


# DOCEXTRACT_* variables that are not configuration fields.
_NOT_FIELDS = {
    "DOCEXTRACT_CONFIG", "DOCEXTRACT_CACHE", "DOCEXTRACT_KILL_AT", "DOCEXTRACT_CORPUS",
    "DOCEXTRACT_ENGINE_RESTART",  # pipeline.cli.restart's count, set for the command it starts
}  # fmt: skip


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """DOCEXTRACT_ENGINE__NAME=openai -> {"engine": {"name": "openai"}}."""
    layer: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("DOCEXTRACT_") or key in _NOT_FIELDS:
            continue
        path = key.removeprefix("DOCEXTRACT_").lower().split("__")
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return layer


def _toml_layer(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from exc  # fmt: skip
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc


def load_config(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> RunConfig:
    """Build the frozen RunConfig: defaults < TOML file < DOCEXTRACT_* variables < flags.

    `flags` uses the RunConfig shape (nested dicts for sections); None values are ignored so
    a flag the user did not give never overrides a file. The TOML file defaults to
    $DOCEXTRACT_CONFIG, then ./docextract.toml when it exists.
    """
    env = os.environ if env is None else env
    if config_file is None:
        named = env.get("DOCEXTRACT_CONFIG")
        config_file = Path(named) if named else None
        if config_file is None and Path("docextract.toml").is_file():
            config_file = Path("docextract.toml")
    layers = _merge(_toml_layer(config_file), _env_layer(env))
    layers = _merge(layers, _drop_none(flags or {}))
    try:
        return RunConfig.model_validate(layers)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc


def _problem(err: Any) -> str:
    """One validation error as `path: message`; a name that is no setting gets the setting
    it most likely means (`schema: no such setting; name it schema_ref`)."""
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "value_error":  # one of the checks here: its own words, not pydantic's
        message = str(err["ctx"]["error"]) if "error" in err.get("ctx", {}) else err["msg"]
        return f"{where}: {message}" if where else message
    if err["type"] != "extra_forbidden":
        return f"{where}: {err['msg']}"
    close = difflib.get_close_matches(str(err["loc"][-1]), _settings_at(err["loc"][:-1]), n=1)
    return f"{where}: no such setting" + (f"; name it {close[0]}" if close else "")


def _settings_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the section at `loc` (() is RunConfig itself)."""
    section: type[BaseModel] = RunConfig
    for part in loc:
        field = section.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        section = annotation
    return list(section.model_fields)


def _drop_none(flags: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in flags.items():
        if isinstance(value, Mapping):
            inner = _drop_none(value)
            if inner:
                cleaned[key] = inner
        elif value is not None:
            cleaned[key] = value
    return cleaned
