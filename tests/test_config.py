"""One frozen configuration from defaults, a TOML file, DOCEXTRACT_* variables and flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.config import load_config, parse_shard
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


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_pagez": 3}, "max_pagez"),
        ({"render": {"min_pixels": 5000, "max_pixels": 4000}}, "min_pixels"),
        ({"shard": (2, 2)}, "shard"),
        ({"engine": {"name": "gpt"}}, "engine.name"),
    ],
)
def test_invalid_values_are_config_errors_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.split(".")[0]):
        load_config(values, None, {})


def test_shard_parsing() -> None:
    assert parse_shard("1/4") == (1, 4)
    with pytest.raises(ConfigError, match="I/N"):
        parse_shard("one of four")
