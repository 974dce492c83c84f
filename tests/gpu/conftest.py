"""Fixtures of the GPU suite: tiny random Qwen3-VL-MoE checkpoints shaped for sglang's kernels,
an inbox made of the bundled examples plus documents made here, and a runner for docextract's
own command line with the real sglang Engine.

Every test here is marked `gpu` and skips where sglang or a CUDA GPU is missing
(`pytest -m gpu`; `make gpu-test` on the GPU machine). The tests may run side by side on one GPU
(`pytest -n 4`, as `make gpu-test` does): each engine's KV pool has a fixed size
(`KV_POOL_TOKENS`), and each test prints its figures as it ends (`tests/live_output.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import live_output
from tests.fixtures_model import build_tiny_qwen3vl
from tests.run_helpers import ROOT, make_unique_pdf

# Shaped for sglang's kernels: FA3 wants head_dim 64/128/256, block FP8 dims that are multiples
# of 128, and sglang's Qwen3-VL-MoE code three deepstack layers.
GPU_TEXT = {
    "vocab_size": 512,
    "hidden_size": 256,
    "intermediate_size": 512,
    "moe_intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "num_experts": 8,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 32768,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [8, 12, 12],
        "mrope_interleaved": True,
    },
}
GPU_VISION = {
    "depth": 3,
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_heads": 2,
    "out_hidden_size": 256,
    "deepstack_visual_indexes": [0, 1, 2],
}
BLOCK_FP8 = {
    "quant_method": "fp8",
    "fmt": "e4m3",
    "activation_scheme": "dynamic",
    "weight_block_size": [128, 128],
    "modules_to_not_convert": ["visual", "lm_head"],
}
# Qwen3-VL's own image processor limits (preprocessor_config.json), so pages pass unchanged.
QWEN3_VL_IMAGE_PIXELS = (64 * 32 * 32, 16384 * 32 * 32)
SCHEMA = str(ROOT / "tests" / "data" / "bounded_schema.py") + ":Bounded"
CONTEXT_LENGTH = 8192
KV_POOL_TOKENS = 131072
"""The tiny model's KV pool (`max_total_tokens`, about 256 MB). sglang sizes a pool from the memory
free when it profiles, less (1 - mem_fraction_static) of what was free when it started, so of
engines started together without a cap the first would take half the GPU and the next none."""
MEM_FRACTION = 0.5
"""sglang's share of the GPU for the tiny model (`mem_fraction_static`). sglang's own default
scales with the vision encoder's size, and for one this small it leaves too little beside it:
the tiny bench over 400 documents ran out of GPU memory on an H100 with it (the scheduler at
76.4 GiB and docextract's process at 2.7 GiB, of 79.2). The tiny model's KV cache needs little."""
EXAMPLES = sorted(p for p in (ROOT / "examples" / "documents").rglob("*") if p.is_file())


def pytest_configure(config: pytest.Config) -> None:
    live_output.register(config)


def sglang_on_gpu() -> bool:
    """Whether sglang is installed and a CUDA GPU is visible."""
    import importlib.util

    from pipeline.engines.gpu import has_cuda_gpu

    return importlib.util.find_spec("sglang") is not None and has_cuda_gpu()


@pytest.fixture(scope="session")
def gpu_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"bf16": folder, "fp8": folder}: the same tiny checkpoint, the second declaring block
    FP8 (sglang quantizes the random weights it makes with load_format="dummy")."""
    root = tmp_path_factory.mktemp("gpu-models")
    bf16 = build_tiny_qwen3vl(
        root / "bf16", text=GPU_TEXT, vision=GPU_VISION, image_pixels=QWEN3_VL_IMAGE_PIXELS
    )
    fp8 = root / "fp8"
    shutil.copytree(bf16, fp8)
    config = json.loads((fp8 / "config.json").read_text())
    config["quantization_config"] = BLOCK_FP8
    (fp8 / "config.json").write_text(json.dumps(config, indent=2))
    return {"bf16": bf16, "fp8": fp8}


@pytest.fixture(scope="session")
def examples_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled examples, a three-page document, and a twelve-page one too long for the
    context (sglang refuses it)."""
    inbox = tmp_path_factory.mktemp("gpu-inbox")
    for path in EXAMPLES:
        shutil.copy(path, inbox / path.name)
    make_unique_pdf(inbox / "three_pages.pdf", 3, "THREE")
    make_unique_pdf(inbox / "twelve_pages.pdf", 12, "TWELVE")
    return inbox


@pytest.fixture(scope="session")
def big_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 one-page PDFs: a run long enough to be stopped in the middle."""
    inbox = tmp_path_factory.mktemp("gpu-big-inbox")
    for number in range(200):
        make_unique_pdf(inbox / f"doc{number:03d}.pdf", 1, f"BIG{number}")
    return inbox


def write_config(path: Path, **sglang: object) -> Path:
    """A docextract.toml for the tiny model: random weights, a short context, quick commits."""
    settings = {
        "load_format": "dummy",
        "context_length": CONTEXT_LENGTH,
        "mem_fraction_static": MEM_FRACTION,
        **sglang,
    }
    lines = ["flush_s = 0.5", "part_rows = 16", "", "[engine.sglang]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["", "[engine.sglang.extra_args]", "disable_cuda_graph = true"]
    lines += [f"max_total_tokens = {KV_POOL_TOKENS}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_args(inbox: Path, out: Path, model: Path, config: Path) -> list[str]:
    return [
        sys.executable, "-m", "pipeline", "run", str(inbox),
        "--schema", SCHEMA, "--out", str(out), "--engine", "sglang", "--model", str(model),
        "--config", str(config), "--max-pages", "16", "--max-new-tokens", "200",
        "--workers", "4", "--log-format", "json",
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}


def run_docextract(args: list[str], timeout: float = 540) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=timeout
    )
    print(f"$ {' '.join(args[2:])}\nexit {done.returncode}\n{done.stderr[-4000:]}")
    return done
