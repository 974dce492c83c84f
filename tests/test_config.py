"""One frozen configuration from defaults, a TOML file, DOCEXTRACT_* variables and flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.config import load_config
from pipeline.errors import ConfigError


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docextract.toml"
    path.write_text(text)
    return path


def test_later_sources_win_and_unset_flags_do_not_override(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        'schema_ref = "receipt"\nretries = 5\n[render]\ndpi = 100\n'
        "[engine.openai]\nconcurrency = 8\n",
    )
    env = {"DOCEXTRACT_RETRIES": "3", "DOCEXTRACT_ENGINE__OPENAI__CONCURRENCY": "16"}
    config = load_config({"retries": None, "render": {"dpi": 72, "max_pixels": None}}, path, env)
    assert config.schema_ref == "receipt"  # file
    assert config.retries == 3  # environment over file; the unset flag is ignored
    assert config.engine.openai.concurrency == 16  # nested environment variable
    assert config.render.dpi == 72  # flag over file
    assert config.render.max_pixels == 1280 * 32 * 32  # default


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config({}, None, {})
    with pytest.raises(ValidationError):
        config.retries = 9  # type: ignore[misc]


def test_file_named_by_environment_and_bad_files_name_the_problem(tmp_path: Path) -> None:
    path = _toml(tmp_path, "max_pages = 3\n")
    assert load_config({}, None, {"DOCEXTRACT_CONFIG": str(path)}).max_pages == 3
    broken = _toml(tmp_path, "max_pages = = 3\n")
    with pytest.raises(ConfigError, match="docextract.toml: not valid TOML"):
        load_config({}, broken, {})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config({}, tmp_path / "missing.toml", {})
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'out = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="latin.toml: not valid TOML: not UTF-8 text"):
        load_config({}, latin, {})
    with pytest.raises(ConfigError, match="cannot read the config file: Is a directory"):
        load_config({}, tmp_path, {})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_pagez": 3}, "max_pagez"),
        ({"render": {"min_pixels": 5000, "max_pixels": 4000}}, "min_pixels"),
        ({"shard": (2, 2)}, "shard"),
        ({"engine": {"name": "gpt"}}, "engine.name"),
        ({"max_pages": 3000}, "max_pages"),  # a request's pages are in memory together
    ],
)
def test_invalid_values_are_config_errors_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.split(".")[0]):
        load_config(values, None, {})


def test_shard_parsing() -> None:
    assert load_config({"shard": "1/4"}, None, {}).shard == (1, 4)
    with pytest.raises(ConfigError, match="I/N"):
        load_config({"shard": "one of four"}, None, {})


def test_a_shard_written_as_text_reads_as_in_the_cli(tmp_path: Path) -> None:
    """The Python API, the TOML file and DOCEXTRACT_SHARD take "I/N" as --shard does."""
    assert load_config({"shard": "1/4"}, None, {}).shard == (1, 4)
    assert load_config({}, _toml(tmp_path, 'shard = "2/3"\n'), {}).shard == (2, 3)
    assert load_config({}, None, {"DOCEXTRACT_SHARD": "0/2"}).shard == (0, 2)
    for bad in ("1/", "a/b", "1/2/3", "4/4"):
        with pytest.raises(ConfigError, match="shard"):
            load_config({"shard": bad}, None, {})


def test_every_flag_of_run_has_its_config_fields_description_as_help():
    """One text per setting: the run command's option help is RunConfig's field description."""
    import typer.main
    from pydantic import BaseModel

    from pipeline.cli.app import app
    from pipeline.config import RunConfig
    from pipeline.config_help import HELP

    def description(path: str) -> str | None:
        model: type[BaseModel] = RunConfig
        *parents, name = path.split(".")
        for parent in parents:
            model = model.model_fields[parent].annotation  # type: ignore[assignment]
        return model.model_fields[name].description

    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    helps = {param.name: getattr(param, "help", None) for param in command.params}
    for path, text in HELP.items():
        assert description(path) == text, path
    flags = {"schema": "schema_ref", "engine": "engine.name", "model": "engine.model",
             "base_url": "engine.openai.base_url", "dpi": "render.dpi",
             "max_pixels": "render.max_pixels", "workers": "render.workers",
             "password": "render.passwords", "max_new_tokens": "engine.max_new_tokens",
             "retries": "retries", "force": "force", "shard": "shard", "out": "out",
             "log_format": "log_format", "max_failure_rate": "max_failure_rate"}
    for flag, path in flags.items():
        assert helps[flag] == description(path), flag


def test_a_setting_named_wrong_names_the_setting_it_means(tmp_path: Path) -> None:
    """`schema =` in the TOML file (or DOCEXTRACT_SCHEMA) says to name it schema_ref, and a
    misspelt name in a section gets that section's setting."""
    path = _toml(tmp_path, 'schema = "receipt"\n[render]\ndpii = 100\n')
    with pytest.raises(ConfigError) as wrong:
        load_config({}, path, {})
    assert "schema: no such setting; name it schema_ref" in str(wrong.value)
    assert "render.dpii: no such setting; name it dpi" in str(wrong.value)
    with pytest.raises(ConfigError, match="schema: no such setting; name it schema_ref"):
        load_config({}, None, {"DOCEXTRACT_SCHEMA": "receipt"})
    with pytest.raises(ConfigError, match=r"colour: no such setting$"):
        load_config({"colour": "blue"}, None, {})


def test_run_help_shows_the_defaults_of_runconfig():
    """`run --help` shows each option's default, and those are RunConfig's own."""
    import typer.main
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from pipeline.config import RunConfig
    from pipeline.config_help import DEFAULTS

    def shown(path: str) -> str:
        value = RunConfig()
        for part in path.split("."):
            value = getattr(value, part)
        if path == "shard":
            return "/".join(str(n) for n in value)  # type: ignore[attr-defined]
        if path == "per_page":
            return "per-page" if value else "per-document"
        if path == "render.text_layer":
            return "grounding" if value else "no-grounding"
        if path == "render.model_boxes":
            return "model-boxes" if value else "no-model-boxes"
        return f"{value:g}" if isinstance(value, float) else str(value)

    assert {path: shown(path) for path in DEFAULTS} == DEFAULTS
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    defaults = {param.name: getattr(param, "show_default", None) for param in command.params}
    assert defaults["dpi"] == "150" and defaults["schema"] == "invoice"
    assert len([d for d in defaults.values() if isinstance(d, str)]) == len(DEFAULTS)
    helped = " ".join(CliRunner().invoke(app, ["run", "--help"]).output.split())
    assert "[default: (150)]" in helped and "[default: (invoice)]" in helped


def test_render_workers_are_bounded() -> None:
    """Each render process starts up front: 100000 of them took the machine's memory."""
    assert load_config({"render": {"workers": 256}}, None, {}).render.workers == 256
    with pytest.raises(ConfigError, match="render.workers"):
        load_config({"render": {"workers": 100000}}, None, {})


def test_config_problems_read_in_their_own_words() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"shard": "2/2"}, None, {})
    assert str(caught.value) == "invalid configuration: shard must be I/N with 0 <= I < N, got 2/2"
    latin = Path(os.fsdecode(b"out-\xff"))
    with pytest.raises(ConfigError, match="out: .*the output folder's name is not UTF-8 text"):
        load_config({"out": latin}, None, {})
