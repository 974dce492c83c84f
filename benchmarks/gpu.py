"""`make gpu-bench`: docextract on sglang beside sglang driven directly, on a CUDA GPU.

    python -m benchmarks.gpu tiny|full [--docs N] [--max-new-tokens N] [--save FILE]

Builds the model folder (tiny: the GPU suite's small random Qwen3-VL-MoE; full: the
architecture of Qwen3-VL-30B-A3B-Instruct-FP8, benchmarks/qwen3_vl_full.py), then runs
`docextract bench --engine sglang` on it with random weights (load_format="dummy") and prints
the figures. Random weights under the JSON grammar answer until max_new_tokens, so that sets
the answer length (an invoice answer is a few hundred tokens).
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


def build_model(kind: str, folder: Path) -> Path:
    if kind == "full":
        from benchmarks.qwen3_vl_full import build

        return build(folder)
    from tests.fixtures_model import build_tiny_qwen3vl
    from tests.gpu.conftest import GPU_TEXT, GPU_VISION, QWEN3_VL_IMAGE_PIXELS

    return build_tiny_qwen3vl(
        folder, text=GPU_TEXT, vision=GPU_VISION, image_pixels=QWEN3_VL_IMAGE_PIXELS
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=["tiny", "full"])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--context-length", type=int, default=16384)
    parser.add_argument("--save", type=Path, help="Also write the figures (JSON) here.")
    parser.add_argument("--profile", type=Path, help="cProfile tables of each docextract run.")
    parser.add_argument("--sglang", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docextract-gpu-bench-") as tmp:
        model = build_model(args.model, Path(tmp) / args.model)
        command = [
            sys.executable, "-m", "pipeline", "bench", "--engine", "sglang",
            "--model", str(model), "--docs", str(args.docs),
            "--max-new-tokens", str(args.max_new_tokens), "--json",
            "--sglang", "load_format=dummy",
            "--sglang", f"context_length={args.context_length}",
        ]  # fmt: skip
        for pair in args.sglang:
            command += ["--sglang", pair]
        if args.profile:
            command += ["--profile", str(args.profile)]
        print("$ docextract " + " ".join(command[3:]), flush=True)
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        print(done.stdout)
        return done.returncode
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["weights"] = "random (load_format=dummy)"
    print_figures(figures, args.save)
    return 0


def print_figures(figures: dict[str, Any], save: Path | None) -> None:
    """The figures as indented JSON on stdout and, with `save`, in that file too."""
    text = json.dumps(figures, indent=2)
    print(text)
    if save:
        save.write_text(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
