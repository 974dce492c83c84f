"""The SGLang adapter checked against SGLang's real source (read with ast, never imported)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from pipeline.engines.contract import (
    check_sglang_contract,
    fetch_sglang_source,
    read_async_generate_parameters,
    read_sampling_fields,
    read_server_arg_fields,
)
from pipeline.engines.sglang import (
    GENERATE_KWARGS,
    SAMPLING_KEYS,
    SERVER_ARG_KEYS,
    SGLANG_VERSION,
    choose_attention_backends,
)

FAKE_SOURCE = Path(__file__).parent / "data" / "sglang_fake_source"


def test_adapter_matches_the_pinned_sglang_source(sglang_source_dir):
    assert check_sglang_contract(sglang_source_dir) == []


def test_the_parsed_names_are_real(sglang_source_dir):
    fields = read_server_arg_fields(sglang_source_dir)
    assert len(fields) > 200  # the whole ServerArgs, not a fragment
    assert set(SERVER_ARG_KEYS) <= fields
    assert {"grammar_backend", "enable_multimodal", "page_size"} <= fields
    params = [p.name for p in read_async_generate_parameters(sglang_source_dir)]
    assert params[:4] == ["prompt", "sampling_params", "input_ids", "image_data"]
    assert set(SAMPLING_KEYS) <= read_sampling_fields(sglang_source_dir)


def test_attention_backends_are_values_sglang_accepts(sglang_source_dir):
    """Every backend the adapter may pick is among sglang's own choices."""
    package = sglang_source_dir / "sglang" / "srt" / "arg_groups"
    choices = ast.parse((package / "choices.py").read_text())
    attention = next(
        ast.literal_eval(node.value)
        for node in ast.walk(choices)
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "ATTENTION_BACKEND_CHOICES" for t in node.targets)
    )
    mm_source = (package / "fields" / "mm.py").read_text()
    mm_call = next(
        node
        for node in ast.walk(ast.parse(mm_source))
        if isinstance(node, ast.AnnAssign)
        and getattr(node.target, "id", "") == "mm_attention_backend"
    )
    mm_choices = next(
        ast.literal_eval(kw.value)
        for node in ast.walk(mm_call)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "choices"
    )
    for capability in [(9, 0), (8, 0), (8, 9), (10, 0), (7, 5), None]:
        text_backend, vision_backend, reason = choose_attention_backends(capability)
        assert text_backend in attention, capability
        assert vision_backend in mm_choices, capability
        assert reason
    assert choose_attention_backends((9, 0))[:2] == ("fa3", "fa3")


def test_fetch_reuses_the_cache(sglang_source_dir):
    again = fetch_sglang_source(SGLANG_VERSION, sglang_source_dir.parent)
    assert again == sglang_source_dir
    assert (again / ".complete").is_file()


def test_renamed_keywords_are_reported():
    problems = check_sglang_contract(FAKE_SOURCE)
    assert len(problems) == 3, problems
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
                         json_schema=None, sampling_seed=None):
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
