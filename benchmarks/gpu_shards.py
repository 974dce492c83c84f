"""Do several docextract processes, each with its own engine, extract faster than one?

    python -m benchmarks.gpu_shards tiny|full [--processes 2] [--docs N] [--max-new-tokens N]
    python -m benchmarks.gpu_shards none --engine null --docs 6   # the orchestration alone

With an in-process sglang Engine, one process tokenizes every prompt, prepares every image and
validates every answer. This runs the same workload twice: once in one process (shard 0/1),
then split over `--processes` processes (shards 0/P ... P-1/P into one OUT), each with an
engine of its own, all on the visible GPU(s). Each process starts its engine and warms it on a
few documents of its own; only then does the parent say go, so pages/s counts extraction only.
Prints one JSON object: pages/s of each arrangement, their ratio, and each process's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.errors import ErrorCode

ROOT = Path(__file__).resolve().parent.parent
WARMUP_DOCUMENTS = 4
# Requests the engine did not answer: pages/s would not measure extraction. (With random
# weights every answer fails validation; that is expected and counted.)
ENGINE_CODES = (ErrorCode.ENGINE_ERROR.value, ErrorCode.REQUEST_REJECTED.value)


def write_config(path: Path, args: argparse.Namespace, processes: int) -> Path:
    """The docextract.toml every process of one arrangement reads."""
    lines = [
        "retries = 0",  # one request per document, as the reference bench sends
        "flush_s = 1.0",
        "[engine]",
        f"max_new_tokens = {args.max_new_tokens}",
        "[engine.sglang]",
        'load_format = "dummy"',
        f"context_length = {args.context_length}",
        f"mem_fraction_static = {args.mem_fraction / processes:.3f}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def worker(args: argparse.Namespace) -> int:
    """One process: start the engine, warm it, say ready, wait for go, extract one shard."""
    from pipeline.api import build_config, run
    from pipeline.bench.probe import Probe
    from pipeline.engines import build_engine

    shard = args.shard
    common: dict[str, Any] = {
        "schema": "invoice", "model": args.model, "config_file": args.config,
    }  # fmt: skip
    config = build_config(args.inbox, args.out, engine=args.engine, **common)
    engine = build_engine(config.engine)
    try:
        warm_out = args.out.parent / f"warm-{shard.replace('/', '-of-')}"
        run(args.warm, warm_out, engine=engine, **common)
        print("ready", flush=True)
        while not args.go.exists():
            time.sleep(0.01)
        started = time.monotonic()
        with Probe() as probe:
            report = run(args.inbox, args.out, engine=engine, shard=shard, **common)
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    pages = report.pages + report.failed_pages
    figures = {
        "shard": shard,
        "documents": report.attempted,
        "pages": pages,
        "elapsed_s": round(elapsed, 3),
        "pages_per_s": round(pages / max(elapsed, 1e-9), 3),
        "errors_by_code": dict(report.errors_by_code),
        "cpu_s_by_thread": probe.figures().get("cpu_s_by_thread"),
    }
    print(json.dumps(figures), flush=True)
    return 0


def arrangement(args: argparse.Namespace, tmp: Path, processes: int) -> dict[str, Any]:
    """Start `processes` workers on the shards of one OUT; go once all are warm."""
    folder = tmp / f"{processes}-processes"
    folder.mkdir()
    config = write_config(folder / "docextract.toml", args, processes)
    go = folder / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gpu_shards", "worker",
             "--engine", args.engine, "--model", args.model, "--config", str(config),
             "--inbox", str(tmp / "inbox"), "--warm", str(tmp / "warm"),
             "--out", str(folder / "out"), "--go", str(go), "--shard", f"{index}/{processes}"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        for index in range(processes)
    ]
    try:
        for process in workers:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"a worker did not start: {line or process.wait()}")
        started = time.monotonic()
        go.touch()
        shards = [_shard_figures(process) for process in workers]
    finally:
        for process in workers:  # after a failure, no engine is left holding the GPU
            if process.poll() is None:
                process.kill()
                process.wait()
    wall = time.monotonic() - started
    pages = sum(shard["pages"] for shard in shards)
    return {
        "processes": processes,
        "pages": pages,
        "documents": sum(shard["documents"] for shard in shards),
        "wall_s": round(wall, 3),
        "pages_per_s": round(pages / max(wall, 1e-9), 3),
        "shards": shards,
    }


def _shard_figures(process: subprocess.Popen[str]) -> dict[str, Any]:
    """A worker's figures; a worker whose engine failed requests measured nothing."""
    stdout, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a worker failed with exit {process.returncode}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    broken = {code: n for code, n in figures["errors_by_code"].items() if code in ENGINE_CODES}
    if broken:
        raise SystemExit(f"shard {figures['shard']}: the engine failed requests {broken}")
    return figures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    if argv[:1] == ["worker"]:
        for name in ("engine", "model", "shard"):
            parser.add_argument(f"--{name}", required=True)
        for name in ("config", "inbox", "warm", "out", "go"):
            parser.add_argument(f"--{name}", type=Path, required=True)
        return parser.parse_args(argv[1:])
    parser.add_argument("model_kind", choices=["tiny", "full", "none"])
    parser.add_argument("--engine", default="sglang", choices=["sglang", "null"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--docs", type=int, default=240)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--context-length", type=int, default=16384)
    parser.add_argument("--mem-fraction", type=float, default=0.7,
                        help="Of the GPU's memory, shared out among the processes.")
    parser.add_argument("--save", type=Path, help="Also write the figures (JSON) here.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if "go" in args:
        return worker(args)
    from benchmarks.gpu import build_model, print_figures
    from pipeline.bench.docgen import generate_workload
    from pipeline.bench.throughput import hardware

    with tempfile.TemporaryDirectory(prefix="docextract-shards-") as name:
        tmp = Path(name)
        args.model = (
            "none" if args.model_kind == "none" else str(build_model(args.model_kind, tmp / "m"))
        )
        generate_workload(tmp / "inbox", args.docs, seed=0)
        generate_workload(tmp / "warm", WARMUP_DOCUMENTS, seed=1)
        one = arrangement(args, tmp, 1)
        many = arrangement(args, tmp, args.processes)
    figures = {
        "one process": one,
        f"{args.processes} processes": many,
        f"{args.processes} processes / one, pages/s": round(
            many["pages_per_s"] / max(one["pages_per_s"], 1e-9), 2
        ),
        "engine": args.engine,
        "model": args.model_kind,
        "hardware": hardware(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    print_figures(figures, args.save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
