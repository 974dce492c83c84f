"""`make gpu-bench`: docextract on sglang beside sglang driven directly, on a CUDA GPU.

    python -m benchmarks.gpu tiny|full [--docs N] [--max-new-tokens N] [--rounds N]
                                       [--spy DIR] [--unconstrained] [--save FILE]
                                       [--in-flight N,..] [--first-wave N,..]

Builds the model folder (tiny: the GPU suite's small random Qwen3-VL-MoE; full: the
architecture of Qwen3-VL-30B-A3B-Instruct-FP8 with Qwen3's tokenizer,
benchmarks/qwen3_vl_full.py), then runs `docextract bench --engine sglang` on it with random
weights (load_format="dummy") and prints the figures. Random weights under the JSON grammar
answer until max_new_tokens, so that sets the answer length: by default, for the full model,
the median length of the bundled examples' true answers in its tokenizer
(benchmarks/answer_length.py), printed first. Each run's figures also print as it ends (a
"bench run" line), so a bench whose engine dies keeps the runs before. With --spy, py-spy
profiles each run's processes and the top frames of each are printed (pipeline/bench/spy.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def build_model(kind: str, folder: Path, tokenizer: str = "qwen") -> Path:
    if kind == "full":
        from benchmarks.qwen3_vl_full import build

        return build(folder, tokenizer)
    from tests.fixtures_model import build_tiny_qwen3vl
    from tests.gpu.conftest import GPU_TEXT, GPU_VISION, QWEN3_VL_IMAGE_PIXELS

    return build_tiny_qwen3vl(
        folder, text=GPU_TEXT, vision=GPU_VISION, image_pixels=QWEN3_VL_IMAGE_PIXELS
    )


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="docextract-gpu-bench-") as tmp:
        model = build_model(args.model, Path(tmp) / args.model, args.tokenizer)
        answer = args.max_new_tokens or answer_tokens(args.model, model)
        command = bench_command(args, model, answer)
        print("$ docextract " + " ".join(command[3:]), flush=True)
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        print(done.stdout)  # each run that ended is on stderr above ("bench run …")
    else:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures["weights"] = "random (load_format=dummy)"
        print_figures(figures, args.save)
    if args.spy:
        print_profiles(args.spy)
    return done.returncode


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=["tiny", "full"])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--max-new-tokens", type=int, help="default: see above (tiny: 256)")
    parser.add_argument("--tokenizer", choices=["qwen", "test"], default="qwen")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--spy", type=Path, help="py-spy profiles of every run, here.")
    parser.add_argument("--unconstrained", action="store_true")
    parser.add_argument("--in-flight", default="", help="request windows, comma-separated")
    parser.add_argument("--first-wave", default="", help="first waves, comma-separated")
    parser.add_argument("--image-processing", default="sglang", help="modes, comma-separated")
    parser.add_argument("--context-length", type=int, default=16384)
    parser.add_argument("--save", type=Path, help="Also write the figures (JSON) here.")
    parser.add_argument("--profile", type=Path, help="cProfile tables of each docextract run.")
    parser.add_argument("--sglang", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--config", type=Path, help="A docextract.toml for the docextract runs "
                        "(e.g. [render] model_boxes = true).")  # fmt: skip
    return parser.parse_args(argv)


def bench_command(args: argparse.Namespace, model: Path, answer: int) -> list[str]:
    """The `docextract bench --engine sglang` command line for these options."""
    command = [
        sys.executable, "-m", "pipeline", "bench", "--engine", "sglang",
        "--model", str(model), "--docs", str(args.docs),
        "--max-new-tokens", str(answer), "--json", "--rounds", str(args.rounds),
        "--image-processing", args.image_processing,
        "--sglang", "load_format=dummy",
        "--sglang", f"context_length={args.context_length}",
    ]  # fmt: skip
    if args.model == "tiny":  # the GPU suite's share, not sglang's default (see MEM_FRACTION)
        from tests.gpu.conftest import MEM_FRACTION

        command += ["--sglang", f"mem_fraction_static={MEM_FRACTION}"]
    for pair in args.sglang:
        command += ["--sglang", pair]
    if args.config:
        command += ["--config", str(args.config.resolve())]
    optional = {"--profile": args.profile, "--spy": args.spy,
                "--in-flight": args.in_flight, "--first-wave": args.first_wave}  # fmt: skip
    for flag, value in optional.items():
        if value:
            command += [flag, str(value)]
    if args.unconstrained:
        command += ["--unconstrained"]
    return command


def answer_tokens(kind: str, model: Path) -> int:
    """max_new_tokens for the bench: the examples' median answer (full), else 256."""
    if kind != "full":
        return 256
    from benchmarks.answer_length import median_answer_tokens

    median, each = median_answer_tokens(model)
    print(f"answer length: median {median} tokens over {len(each)} example answers "
          f"(min {min(each.values())}, max {max(each.values())})", flush=True)  # fmt: skip
    return median


def print_profiles(folder: Path) -> None:
    """The top frames of every py-spy profile in `folder`."""
    from pipeline.bench.spy import format_profile

    for path in sorted(folder.glob("*.txt")):
        print(format_profile(path), flush=True)


def print_figures(figures: dict[str, Any], save: Path | None) -> None:
    """The figures as indented JSON on stdout and, with `save`, in that file too."""
    text = json.dumps(figures, indent=2)
    print(text)
    if save:
        save.write_text(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
