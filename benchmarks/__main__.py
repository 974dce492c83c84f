"""`python -m benchmarks` (make bench): every figure printed beside its baseline and target."""

from __future__ import annotations

import json
import operator
import re
import sys
import time

from benchmarks.pipeline import (
    bench_engine_feeding,
    bench_help_startup,
    bench_host_ceiling,
    bench_memory,
    bench_tokens_and_prefix,
)
from benchmarks.render import bench_render, bench_scan_resize

_TARGET = re.compile(r"target\s*(>=|<=|<|>)\s*([0-9.]+)")
_COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}


def verdict(key: str, value: object) -> str:
    """'met' or 'missed' for a figure whose name states its target ("... (target >= 0.6)"),
    else ''."""
    found = _TARGET.search(key)
    if found is None or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    compare, bound = _COMPARE[found.group(1)], float(found.group(2))
    return "met" if compare(value, bound) else "missed"


def main() -> int:
    started = time.perf_counter()
    results: dict[str, dict] = {}
    for name, bench in [
        ("render", bench_render),
        ("scan_resize", bench_scan_resize),
        ("host_ceiling", bench_host_ceiling),
        ("engine_feeding", bench_engine_feeding),
        ("memory", bench_memory),
        ("help_startup", bench_help_startup),
        ("tokens_and_prefix", bench_tokens_and_prefix),
    ]:
        print(f"== {name}", flush=True)
        figures = bench()
        results[name] = figures
        for key, value in figures.items():
            print(f"   {key:<34} {value} {verdict(key, value)}".rstrip(), flush=True)
    print(f"== total {time.perf_counter() - started:.1f}s")
    if "--json" in sys.argv:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
