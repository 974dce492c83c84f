"""Choosing and starting an engine: `auto`, clear start failures, no heavy imports."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import pipeline.engines as engines
import pipeline.engines.gpu as gpu_probe
from pipeline.config import EngineConfig
from pipeline.engines import build_engine, engine_model_name, resolve_engine_name
from pipeline.engines.null import NullEngine
from pipeline.engines.openai import OpenAIEngine
from pipeline.errors import EngineUnavailable

ROOT = Path(__file__).resolve().parent.parent


def _pretend(monkeypatch, gpu: bool, sglang_installed: bool) -> None:
    monkeypatch.setattr(gpu_probe, "has_cuda_gpu", lambda: gpu)
    real_find_spec = engines.importlib.util.find_spec
    monkeypatch.setattr(
        engines.importlib.util, "find_spec",
        lambda name, *a: (object() if sglang_installed else None) if name == "sglang"
        else real_find_spec(name, *a),
    )


@pytest.mark.parametrize(("gpu", "installed", "expected"), [
    (True, True, "sglang"), (True, False, "transformers"),
    (False, True, "transformers"), (False, False, "transformers"),
])
def test_auto_resolution(monkeypatch, gpu, installed, expected):
    _pretend(monkeypatch, gpu, installed)
    name, reason = resolve_engine_name(EngineConfig(name="auto"))
    assert name == expected and reason
    if gpu and not installed:
        assert "docextract[sglang]" in reason


def test_explicit_names_are_kept(monkeypatch):
    _pretend(monkeypatch, False, False)
    for name in ("sglang", "openai", "transformers", "null"):
        assert resolve_engine_name(EngineConfig(name=name))[0] == name


def test_light_engines_build(tmp_path):
    assert isinstance(build_engine(EngineConfig(name="null")), NullEngine)
    engine = build_engine(EngineConfig(name="openai"), start=False)
    assert isinstance(engine, OpenAIEngine)
    engine.close()
    assert engine_model_name(EngineConfig(), "transformers") == "Qwen/Qwen3-VL-2B-Instruct"
    assert engine_model_name(EngineConfig(), "sglang") == "Qwen/Qwen3-VL-30B-A3B-Instruct-FP8"
    assert engine_model_name(EngineConfig(model=str(tmp_path)), "openai") == str(tmp_path)


def test_sglang_not_installed_says_how_to_install(monkeypatch):
    _pretend(monkeypatch, True, False)
    with pytest.raises(EngineUnavailable, match=r"pip install 'docextract\[sglang\]'"):
        build_engine(EngineConfig(name="sglang"))


def test_sglang_without_gpu_says_what_to_use(monkeypatch):
    _pretend(monkeypatch, False, True)
    with pytest.raises(EngineUnavailable, match="--engine transformers"):
        build_engine(EngineConfig(name="sglang"))


def test_missing_weights_stop_fast_without_torch(tmp_path):
    """With HF_HUB_OFFLINE=1 the check runs before torch is imported and never goes to the
    hub, so a machine without weights stops at once."""
    code = (
        "import sys, time\n"
        "from pipeline.config import EngineConfig\n"
        "from pipeline.engines import build_engine\n"
        "from pipeline.errors import EngineUnavailable\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    build_engine(EngineConfig(name='transformers', model='Nobody/no-such-model'))\n"
        "except EngineUnavailable as exc:\n"
        "    print('MESSAGE', exc)\n"
        "print('TORCH', 'torch' in sys.modules, 'transformers' in sys.modules)\n"
        "print('SECONDS', time.perf_counter() - t)\n"
    )
    env = {"HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    out = done.stdout
    assert "hf download Nobody/no-such-model" in out and "--model" in out
    assert "HF_HUB_OFFLINE" in out
    assert "TORCH False False" in out
    assert float(out.split("SECONDS")[1]) < 5


def test_local_folder_without_model_is_refused(tmp_path):
    started = time.perf_counter()
    with pytest.raises(EngineUnavailable, match="config.json"):
        build_engine(EngineConfig(name="transformers", model=str(tmp_path)))
    assert time.perf_counter() - started < 5


def test_importing_the_engines_stays_light():
    code = (
        "import sys\n"
        "import pipeline.engines, pipeline.engines.sglang, pipeline.engines.transformers\n"
        "import pipeline.engines.openai, pipeline.engines.null, pipeline.engines.simulated\n"
        "import tests.sglang_contract\n"
        "heavy = [m for m in ('torch', 'transformers', 'sglang', 'xgrammar', 'qwen_vl_utils')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=True)
    assert "HEAVY []" in done.stdout


@pytest.mark.parametrize(("visible", "expected"), [("0,1,2", 3), ("", 0), ("-1", 0), ("3", 1)])
def test_visible_gpu_count_honours_cuda_visible_devices(monkeypatch, visible, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setattr(gpu_probe, "_driver_present", lambda: True)
    assert gpu_probe.visible_gpu_count() == expected


def test_no_driver_means_no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(gpu_probe, "_driver_present", lambda: False)
    assert gpu_probe.visible_gpu_count() == 0
    assert gpu_probe.has_cuda_gpu() is False


def test_cached_gpu_memory_is_released_only_where_cuda_was_used(monkeypatch):
    torch = pytest.importorskip("torch")
    released: list[bool] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: released.append(True))
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    gpu_probe.release_cached_gpu_memory()
    assert released == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    gpu_probe.release_cached_gpu_memory()
    assert released == [True]
    monkeypatch.delitem(sys.modules, "torch")  # never imported: nothing to release, no import
    gpu_probe.release_cached_gpu_memory()
    assert released == [True] and "torch" not in sys.modules


def test_missing_weights_download_when_the_hub_is_allowed(tmp_path, monkeypatch):
    """Online, the default model is fetched into the cache (huggingface_hub draws the progress
    bars); the hub itself cannot be reached here, so snapshot_download is replaced."""
    import huggingface_hub

    from pipeline.engines.transformers import locate_weights

    fetched: list[str] = []

    def snapshot_download(repo_id: str) -> str:
        fetched.append(repo_id)
        folder = tmp_path / "snapshot"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        return str(folder)

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert locate_weights("Someone/some-model") == str(tmp_path / "snapshot")
    assert fetched == ["Someone/some-model"]


def test_a_failed_download_says_what_to_do(tmp_path, monkeypatch):
    import huggingface_hub

    from pipeline.engines.transformers import locate_weights

    def snapshot_download(repo_id: str) -> str:
        raise OSError("Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(EngineUnavailable) as caught:
        locate_weights("Someone/other-model")
    message = str(caught.value)
    assert "Network is unreachable" in message
    assert "`hf download Someone/other-model`" in message and "--model" in message


def test_offline_stops_without_asking_the_hub(monkeypatch):
    import huggingface_hub

    from pipeline.engines.transformers import locate_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id: pytest.fail("hub"))
    with pytest.raises(EngineUnavailable, match="HF_HUB_OFFLINE is set"):
        locate_weights("Someone/third-model")


def test_sglang_checks_the_weights_before_starting_the_backend(monkeypatch):
    """Offline and not cached: a hub model stops sglang's start at once with the same fix,
    before the backend (or the processor) is asked for anything."""
    import pipeline.engines.sglang as sglang_module

    started: list[dict] = []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sglang_module, "_import_sglang_engine", lambda: started.append)
    monkeypatch.setattr(sglang_module, "_read_hf_config", lambda model: pytest.fail("read"))
    engine = sglang_module.SGLangEngine(EngineConfig(name="sglang", model="Nobody/not-cached"))
    with pytest.raises(EngineUnavailable, match=r"HF_HUB_OFFLINE is set") as caught:
        engine.start()
    assert "`hf download Nobody/not-cached`" in str(caught.value)
    assert started == []


def test_every_engine_name_has_a_registered_class_with_a_default_model():
    from typing import get_args

    from pipeline.config import EngineName
    from pipeline.engines import ENGINES, engine_class

    assert set(get_args(EngineName)) - {"auto"} == set(ENGINES)
    for name in ENGINES:
        cls = engine_class(name)
        assert cls.name == name and cls.default_model


def test_an_unknown_engine_name_lists_the_known_ones():
    from pipeline.engines import engine_class

    with pytest.raises(EngineUnavailable, match="use auto, null, openai, sglang, transformers"):
        engine_class("vllm")


def test_every_missing_weights_message_offers_the_null_engine(monkeypatch, tmp_path):
    """Without weights, the message says how to fetch them and how to try the rest meanwhile."""
    from pipeline.engines.sglang_process import explain_start_failure
    from pipeline.engines.weights import hub_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineUnavailable) as offline:
        hub_weights("Nobody/no-such-model")
    gone = OSError("We couldn't connect to the hub and you are in offline mode")
    for message in (str(offline.value), explain_start_failure(gone, "Nobody/no-such-model")):
        assert "`hf download Nobody/no-such-model`" in message, message
        assert "--engine null" in message, message
