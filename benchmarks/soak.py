"""`python -m benchmarks.soak` (make soak): break runs at random and check that nothing is lost.

Each round runs `docextract run` over a mixed inbox (good PDFs of 1-3 pages, a truncated one, a
text file named .pdf, an empty file) into a fresh OUT and breaks it at a random named point:
SIGKILL, SIGTERM or a full disk (DOCEXTRACT_KILL_AT, see pipeline/faults.py). A second run
without faults then finishes the work. After each round it checks what a nightly user relies on:
every input is in exactly one table exactly once (0 lost, 0 in both tables), the ledger agrees
with the tables, the broken run ended with its documented exit code, and no run printed a
traceback. Bounded: `--rounds` rounds (default 30), each a few seconds, with the null engine.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipeline.output.layout import ledger_path

ROOT = Path(__file__).resolve().parent.parent
POINTS = ("after-render", "before-generate", "after-part-rename", "after-ledger-commit")
FAULTS = {"SIGKILL": -9, "SIGTERM": 143, "ENOSPC": 7}
RUN_FLAGS = ["--schema", "invoice", "--engine", "null", "--dpi", "40", "--workers", "2",
             "--log-format", "json"]


def make_inbox(root: Path, documents: int) -> list[str]:
    """A mixed inbox; returns every input path."""
    import pymupdf

    root.mkdir(parents=True)
    for number in range(documents):
        doc = pymupdf.open()
        for page_number in range(1 + number % 3):
            page = doc.new_page(width=595, height=842)
            page.insert_text((72, 100), f"SOAK {number} page {page_number + 1}", fontsize=18)
        doc.save(root / f"doc{number:02d}.pdf")
        doc.close()
    good = (root / "doc00.pdf").read_bytes()
    (root / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (root / "notes.pdf").write_text("plain text, not a PDF\n")
    (root / "empty.pdf").write_bytes(b"")
    return sorted(str(path) for path in root.iterdir())


def run(inbox: Path, out: Path, fault: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DOCEXTRACT_PART_ROWS": "2"}
    env.pop("DOCEXTRACT_KILL_AT", None)
    if fault:
        env["DOCEXTRACT_KILL_AT"] = fault
    command = [sys.executable, "-m", "pipeline", "run", str(inbox), "--out", str(out), *RUN_FLAGS]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def table_rows(out: Path, table: str) -> list[dict]:
    """The rows of `table` that stand now (parts are never rewritten; see the README)."""
    from pipeline.output.current import current_row_dicts

    return current_row_dicts(out, "invoice", table)


def problems_after(out: Path, inputs: list[str]) -> list[str]:
    """What is wrong with OUT after the resumed run; empty when all holds."""
    documents, errors = table_rows(out, "documents"), table_rows(out, "errors")
    seen = Counter(
        path for row in documents + errors for path in [row["source_path"], *row["also_at"]]
    )
    found: list[str] = []
    lost = [path for path in inputs if seen[path] == 0]
    twice = [path for path, count in seen.items() if count > 1]
    both = {r["source_path"] for r in documents} & {r["source_path"] for r in errors}
    if lost:
        found.append(f"lost: {lost}")
    if twice:
        found.append(f"more than once: {twice}")
    if both:
        found.append(f"in both tables: {sorted(both)}")
    db = sqlite3.connect(ledger_path(out))
    ledger = dict(db.execute("SELECT item_id, status FROM items").fetchall())
    db.close()
    if sorted(i for i, s in ledger.items() if s == "ok") != sorted(r["item_id"] for r in documents):
        found.append("ledger and documents table disagree")
    if sorted(i for i, s in ledger.items() if s != "ok") != sorted(r["item_id"] for r in errors):
        found.append("ledger and errors table disagree")
    return found


def _worker_cut_off(stderr: str) -> bool:
    """Whether every traceback in `stderr` is a render worker's start cut off because its
    parent was SIGKILLed (multiprocessing's spawn bootstrap reading a closed pipe)."""
    blocks = stderr.split("Traceback (most recent call last):")[1:]
    return all("multiprocessing/spawn.py" in b and "EOFError: Ran out of input" in b
               for b in blocks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    chooser = random.Random(args.seed)
    tried: Counter[str] = Counter()
    failures: list[str] = []
    tracebacks = cut_off = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docextract-soak-") as tmp:
        inbox = Path(tmp) / "inbox"
        inputs = make_inbox(inbox, args.documents)
        for number in range(args.rounds):
            what = chooser.choice(list(FAULTS))
            point = chooser.choice(POINTS[2:] if what == "ENOSPC" else POINTS)
            fault = f"{point}:{chooser.randint(1, 4)}:{what}"
            out = Path(tmp) / f"out{number:03d}"
            broken, resumed = run(inbox, out, fault), run(inbox, out, None)
            for label, done in (("broken", broken), ("resumed", resumed)):
                if "Traceback" not in done.stderr:
                    continue
                if what == "SIGKILL" and label == "broken" and _worker_cut_off(done.stderr):
                    cut_off += 1
                    continue
                tracebacks += 1
                tail = done.stderr[done.stderr.index("Traceback"):][-1500:]
                failures.append(f"round {number + 1} ({fault}): {label} run: {tail}")
            problems = problems_after(out, inputs)
            if broken.returncode not in (FAULTS[what], 0, 1):  # 0/1: the fault came too late
                problems.append(f"exit {broken.returncode}, expected {FAULTS[what]}")
            tried[what if broken.returncode == FAULTS[what] else f"{what} (too late)"] += 1
            status = "ok" if not problems else "; ".join(problems)
            print(f"round {number + 1:3d}  {fault:<32} exit {broken.returncode:>4}  {status}",
                  flush=True)
            failures += [f"round {number + 1} ({fault}): {p}" for p in problems]
    print(f"\n{args.rounds} rounds in {time.perf_counter() - started:.0f}s over {len(inputs)} "
          f"inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(tried.items())))
    print(f"documents lost 0 and in both tables 0, no traceback: "
          f"{'yes' if not failures else 'NO'} (tracebacks: {tracebacks})")
    print(f"render workers cut off while starting by a SIGKILL of docextract: {cut_off} "
          "(Python's multiprocessing prints their EOFError; nothing was committed by them)")
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
