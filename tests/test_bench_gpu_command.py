"""benchmarks.gpu's command line: what `make gpu-bench` asks of sglang, read back the way
`docextract bench --sglang` reads it."""

from __future__ import annotations

from pathlib import Path

from benchmarks.gpu import bench_command, parse_args
from pipeline.cli.bench import sglang_settings
from tests.gpu.conftest import MEM_FRACTION


def _sglang(argv: list[str]) -> dict:
    command = bench_command(parse_args(argv), Path("/models/m"), 256)
    pairs = [command[k + 1] for k, word in enumerate(command) if word == "--sglang"]
    return sglang_settings(pairs)


def test_the_tiny_model_gets_the_gpu_suites_share_of_the_gpu() -> None:
    settings = _sglang(["tiny"])
    assert settings["mem_fraction_static"] == MEM_FRACTION == 0.5
    assert settings["load_format"] == "dummy"


def test_a_share_given_on_the_command_line_wins() -> None:
    assert _sglang(["tiny", "--sglang", "mem_fraction_static=0.7"])["mem_fraction_static"] == 0.7


def test_the_full_size_model_keeps_sglangs_own_share() -> None:
    assert "mem_fraction_static" not in _sglang(["full"])


def test_every_option_reaches_the_bench(tmp_path: Path) -> None:
    options = "--docs 12 --rounds 3 --unconstrained --in-flight 96,32 --first-wave 0,64"
    argv = ["full", *options.split(), "--spy", str(tmp_path), "--config", "docextract.toml"]
    text = " ".join(bench_command(parse_args(argv), Path("/models/m"), 390))
    expected = ["--docs 12", "--rounds 3", "--unconstrained", "--in-flight 96,32",
                "--first-wave 0,64", f"--spy {tmp_path}", "--max-new-tokens 390",
                f"--config {Path('docextract.toml').resolve()}", "--model /models/m"]  # fmt: skip
    for part in expected:
        assert part in text
    assert "--profile" not in text
