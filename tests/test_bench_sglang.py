"""`docextract bench --engine sglang` end to end on CPU, with the stand-in for sglang.Engine.

The stand-in has sglang.Engine's constructor contract and async_generate signature
(tests/test_engine_sglang.py proves both), plus the two things the bench uses besides: the
engine's event loop and its tokenizer manager's flush_cache."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.bench.sglang import WARMUP_DOCUMENTS, run_sglang_bench
from pipeline.cli.bench import sglang_settings
from pipeline.config import load_config
from pipeline.engines.sglang import SGLangEngine
from pipeline.errors import ConfigError
from tests.fixtures_model import sglang_source
from tests.sglang_contract import read_server_arg_fields
from tests.test_engine_sglang import FakeSGLangEngine


class FakeBackend(FakeSGLangEngine):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loop = asyncio.new_event_loop()
        self.tokenizer_manager = self
        self.flushes: list[int] = []

    async def flush_cache(self):
        self.flushes.append(len(self.calls))


@pytest.mark.slow
def test_reference_and_both_modes_run_the_same_pages_on_one_engine(tiny_model_dir, tmp_path,
                                                                   monkeypatch):
    import torch
    from transformers import AutoProcessor

    # as on a GPU, where sglang's image processor ran in this process: the cache is released
    # before each run and after the engine's shutdown (calls made so far, at each release)
    releases: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache",
                        lambda: releases.append(len(FakeSGLangEngine.instances[-1].calls)))

    FakeBackend.server_fields = read_server_arg_fields(sglang_source("0.5.17"))
    FakeSGLangEngine.instances = []
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    config = load_config(
        {"schema_ref": "invoice", "engine": {"name": "sglang", "model": str(tiny_model_dir)},
         "render": {"workers": 1, "max_pixels": 200_000}, "log_format": "plain"},
        env={},
    )  # fmt: skip
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    engine = SGLangEngine(config.engine, engine_factory=FakeBackend, processor=processor,
                          gpu_count=1, hf_config={"image_token_id": image_token})
    docs = 10
    figures = run_sglang_bench(config, docs, engine=engine, profile=tmp_path / "profile")

    [backend] = FakeSGLangEngine.instances
    reference = figures["reference"]
    by_mode = {mode: figures[f"docextract[{mode}]"] for mode in ("sglang", "docextract")}
    assert reference["documents"] == docs
    for run in by_mode.values():
        assert (run["documents"], run["failed"], run["pages"]) == (docs, 0, reference["pages"])
        assert run["first_result_s"] is not None and run["first_result_s"] <= run["elapsed_s"]
    # warm-up, reference, then one docextract run per mode, the cache flushed before each
    assert backend.flushes == [WARMUP_DOCUMENTS, WARMUP_DOCUMENTS + docs,
                               WARMUP_DOCUMENTS + 2 * docs]  # fmt: skip
    warmup_and_reference = backend.calls[: WARMUP_DOCUMENTS + docs]
    assert all(isinstance(call["prompt"], str) for call in warmup_and_reference)
    sglang_mode = backend.calls[WARMUP_DOCUMENTS + docs : WARMUP_DOCUMENTS + 2 * docs]
    ours = backend.calls[WARMUP_DOCUMENTS + 2 * docs :]
    assert all(call["input_ids"] is None for call in sglang_mode)
    assert all(call["image_data"][0]["format"] == "processor_output" for call in ours)
    reference_prompts = sorted(call["prompt"] for call in backend.calls[WARMUP_DOCUMENTS:][:docs])
    assert sorted(call["prompt"] for call in sglang_mode) == reference_prompts
    assert backend.shutdowns == 1
    assert releases == [*backend.flushes, len(backend.calls)]
    default = "docextract[sglang] / reference pages/s (the default; target >= 1.0, goal 3)"
    assert figures[default] == round(
        by_mode["sglang"]["pages_per_s"] / reference["pages_per_s"], 2)
    assert figures["docextract[docextract] / reference pages/s"] == round(
        by_mode["docextract"]["pages_per_s"] / reference["pages_per_s"], 2)
    assert "cpu_s_by_thread" in reference and "main_process_cpu_s" in by_mode["docextract"]
    profiled = (tmp_path / "profile.docextract.txt").read_text()
    assert "Ordered by: internal time" in profiled and "/pipeline/" in profiled


def test_sglang_settings_split_settings_from_server_args():
    assert sglang_settings(["load_format=dummy", "context_length=8192",
                            "disable_cuda_graph=true", "image_processing=docextract"]) == {
        "load_format": "dummy", "context_length": 8192, "image_processing": "docextract",
        "extra_args": {"disable_cuda_graph": True},
    }  # fmt: skip
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        sglang_settings(["context_length"])


@pytest.mark.slow
def test_rounds_repeat_every_run_and_report_their_spread(tiny_model_dir):
    from transformers import AutoProcessor

    FakeBackend.server_fields = read_server_arg_fields(sglang_source("0.5.17"))
    FakeSGLangEngine.instances = []
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    config = load_config(
        {"schema_ref": "invoice", "engine": {"name": "sglang", "model": str(tiny_model_dir)},
         "render": {"workers": 1, "max_pixels": 200_000}, "log_format": "plain"},
        env={},
    )  # fmt: skip
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    engine = SGLangEngine(config.engine, engine_factory=FakeBackend, processor=processor,
                          gpu_count=1, hf_config={"image_token_id": image_token})
    docs, rounds = 3, 2
    ended: list[tuple[str, dict]] = []
    figures = run_sglang_bench(config, docs, engine=engine, modes=("docextract",),
                               rounds=rounds, unconstrained=True, in_flight=(2,),
                               first_waves=(0,), on_run=lambda *run: ended.append(run))  # fmt: skip

    [backend] = FakeSGLangEngine.instances
    # warm-up (every document, as there are fewer than WARMUP_DOCUMENTS), then per round: the
    # reference, the reference without schema, docextract, docextract with 2 in flight,
    # docextract with no first wave
    warm = min(WARMUP_DOCUMENTS, docs)
    assert len(backend.calls) == warm + rounds * 5 * docs
    windowed = figures["docextract[docextract] 2 in flight"]
    assert (windowed["in_flight"], windowed["documents"]) == (2, docs)
    assert figures["docextract[docextract]"]["in_flight"] == engine.max_in_flight == 256
    assert figures["docextract[docextract]"]["first_wave"] == config.engine.first_wave > 0
    assert figures["docextract[docextract] first wave 0"]["first_wave"] == 0
    free = backend.calls[warm + docs : warm + 2 * docs]
    assert all("json_schema" not in call["sampling_params"] for call in free)
    assert all("json_schema" in call["sampling_params"] for call in backend.calls[:docs])
    assert len(figures["rounds"]) == rounds and figures["reference"] == figures["rounds"][-1][
        "reference"]  # fmt: skip
    # each run's figures were handed on as it ended, in order, the same as the final ones
    runs = ["reference", "reference-no-schema", "docextract-docextract",
            "docextract-docextract-2", "docextract-docextract-wave-0"]  # fmt: skip
    assert [label for label, _ in ended] == [f"r{n}.{run}" for n in range(rounds) for run in runs]
    assert ended[5][1] == figures["rounds"][1]["reference"]
    assert ended[-1][1] == figures["docextract[docextract] first wave 0"]
    speeds = [r["docextract[docextract]"]["pages_per_s"] for r in figures["rounds"]]
    low, middle, high = figures["spread"]["docextract[docextract]"]["pages_per_s"]
    assert (low, high) == (min(speeds), max(speeds)) and low <= middle <= high
    ratio = figures["spread"]["docextract[docextract] / reference pages/s"]
    assert len(ratio) == 3 and ratio[0] <= ratio[1] <= ratio[2]
    run = figures["rounds"][0]["docextract[docextract]"]
    assert run["output_tokens_per_s"] == pytest.approx(
        run["output_tokens_per_page"] * run["pages_per_s"], abs=0.1)  # fmt: skip
