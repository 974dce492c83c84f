"""The SGLang adapter checked against each supported SGLang release's real source (read with
ast, never imported)."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import pytest

from pipeline.engines.sglang import (
    GENERATE_KWARGS,
    SAMPLING_KEYS,
    SERVER_ARG_KEYS,
    SGLANG_VERSION,
)
from tests.sglang_contract import (
    SUPPORTED_SGLANG_VERSIONS,
    check_sglang_contract,
    fetch_sglang_source,
    read_async_generate_parameters,
    read_attention_backend_choices,
    read_sampling_fields,
    read_server_arg_fields,
)

FAKE_SOURCE = Path(__file__).parent / "data" / "sglang_fake_source"


def test_the_pinned_release_is_a_supported_one():
    assert SGLANG_VERSION in SUPPORTED_SGLANG_VERSIONS


def test_adapter_matches_each_supported_sglang_source(sglang_source_dir):
    assert check_sglang_contract(sglang_source_dir) == []


def test_the_parsed_names_are_real(sglang_source_dir):
    fields = read_server_arg_fields(sglang_source_dir)
    assert len(fields) > 200  # the whole ServerArgs, not a fragment
    assert set(SERVER_ARG_KEYS) <= fields
    assert {"grammar_backend", "enable_multimodal", "page_size"} <= fields
    params = [p.name for p in read_async_generate_parameters(sglang_source_dir)]
    assert params[:4] == ["prompt", "sampling_params", "input_ids", "image_data"]
    assert set(SAMPLING_KEYS) <= read_sampling_fields(sglang_source_dir)


def test_attention_backends_named_in_the_docs_are_values_sglang_accepts(sglang_source_dir):
    """The backends DESIGN.md and the config help name (sglang's picks on Hopper, and the usual
    fallbacks) are among each release's own choices for the two settings."""
    attention, mm_choices = read_attention_backend_choices(sglang_source_dir)
    assert {"fa3", "flashinfer", "triton"} <= attention
    assert {"fa3", "sdpa", "triton_attn"} <= mm_choices
    assert "sdpa" not in attention  # the two lists are told apart


def test_backend_choices_read_from_either_layout(tmp_path):
    """0.5.2x lists the choices in arg_groups/choices.py and fields/mm.py; 0.5.17 in
    server_args.py. A file that lacks them is an error, not an empty set."""
    srt = tmp_path / "sglang" / "srt"
    srt.mkdir(parents=True)
    (srt / "server_args.py").write_text(textwrap.dedent("""
        ATTENTION_BACKEND_CHOICES = ["triton", "fa3"]

        class ServerArgs:
            mm_attention_backend: A[Optional[str], Arg(help="x", choices=["sdpa"])] = None
    """))
    assert read_attention_backend_choices(tmp_path) == ({"triton", "fa3"}, {"sdpa"})
    (srt / "server_args.py").write_text("class ServerArgs:\n    mm_attention_backend: str\n")
    with pytest.raises(LookupError):
        read_attention_backend_choices(tmp_path)


def test_fetch_reuses_the_cache(sglang_version, sglang_source_dir):
    again = fetch_sglang_source(sglang_version, sglang_source_dir.parent)
    assert again == sglang_source_dir
    assert (again / ".complete").is_file()
    assert (again / "sglang" / "srt" / "entrypoints" / "engine.py").is_file()


def test_a_cache_from_a_shorter_file_list_is_unpacked_again(tmp_path):
    """A cache made before json_schema_validation.py was wanted gets that file on the next fetch,
    from the wheel already downloaded (no index needed)."""
    wanted = "sglang/srt/constrained/json_schema_validation.py"
    (tmp_path / "downloads").mkdir()
    with zipfile.ZipFile(tmp_path / "downloads" / "sglang-9.9.9-py3-none-any.whl", "w") as whl:
        whl.writestr("sglang/srt/server_args.py", "class ServerArgs:\n    pass\n")
        whl.writestr(wanted, "def validate_xgrammar_json_schema(schema):\n    pass\n")
        whl.writestr("sglang/srt/layers/big.py", "")
    old = tmp_path / "sglang-9.9.9"
    old.mkdir()
    (old / ".complete").write_text("sglang-9.9.9-py3-none-any.whl\n")
    target = fetch_sglang_source("9.9.9", tmp_path)
    assert (target / wanted).is_file() and (target / "sglang/srt/server_args.py").is_file()
    assert not (target / "sglang/srt/layers/big.py").exists()
    (target / wanted).unlink()
    assert fetch_sglang_source("9.9.9", tmp_path) == target  # now complete: reused as it is
    assert not (target / wanted).exists()


def test_renamed_keywords_are_reported():
    problems = check_sglang_contract(FAKE_SOURCE)
    # The fabricated source renames three names; keys the adapter gained after it was written
    # are missing from it too, one problem each.
    newer = set(SERVER_ARG_KEYS) - read_server_arg_fields(FAKE_SOURCE) - {"mm_attention_backend"}
    assert len(problems) == 3 + len(newer), problems
    assert any("'mm_attention_backend'" in p and "ServerArgs" in p for p in problems)
    assert any("'image_data'" in p and "async_generate" in p for p in problems)
    assert any("'json_schema'" in p and "SamplingParams" in p for p in problems)
    # log_level comes from field_order.py; a class without _NS_PATH does not count.
    assert "log_level" in read_server_arg_fields(FAKE_SOURCE)
    assert "_private_flag" not in read_server_arg_fields(FAKE_SOURCE)


def test_older_layout_with_dataclass_server_args(tmp_path):
    """Releases before the arg_groups split declare every field on ServerArgs itself."""
    srt = tmp_path / "sglang" / "srt"
    (srt / "entrypoints").mkdir(parents=True)
    (srt / "sampling").mkdir()
    fields = "\n".join(f"    {name}: object = None" for name in SERVER_ARG_KEYS)
    (srt / "server_args.py").write_text(
        "import dataclasses\n\n@dataclasses.dataclass\nclass ServerArgs:\n" + fields + "\n"
    )
    params = ", ".join(f"{name}=None" for name in GENERATE_KWARGS)
    (srt / "entrypoints" / "engine.py").write_text(textwrap.dedent(f"""
        class Engine:
            async def async_generate(self, {params}):
                pass
    """))
    (srt / "sampling" / "sampling_params.py").write_text(textwrap.dedent("""
        class SamplingParams:
            def __init__(self, max_new_tokens=128, temperature=1.0, top_p=1.0,
                         json_schema=None, ebnf=None, sampling_seed=None):
                pass
    """))
    assert check_sglang_contract(tmp_path) == []
    (srt / "server_args.py").write_text("class ServerArgs:\n    model_path: str = ''\n")
    problems = check_sglang_contract(tmp_path)
    assert any("'dp_size'" in p for p in problems)
    assert not any("'model_path'" in p for p in problems)


def test_unreadable_source_is_a_problem_not_a_crash(tmp_path):
    problems = check_sglang_contract(tmp_path)
    assert len(problems) == 1 and "cannot read" in problems[0]
