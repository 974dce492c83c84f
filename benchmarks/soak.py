"""`python -m benchmarks.soak` (make soak): break runs at random and check that nothing is lost.

Each round runs `docextract run` over a mixed inbox (good PDFs of 1-3 pages, a truncated one, a
text file named .pdf, an empty file, and the hostile inputs of `benchmarks.soak_hostile`) into a
fresh OUT and breaks it at a random named point: SIGKILL, SIGTERM or a full disk
(DOCEXTRACT_KILL_AT, see pipeline/faults.py). With the swap kind, the same run is held after
discovery while one file is replaced by a FIFO. A second run without faults then finishes the
work. After each round it checks what a nightly user relies on: every input is in exactly one
table exactly once (0 lost, 0 doubled, 0 in both tables), the ledger agrees with the tables,
every hostile input is exactly one error row, the broken run ended with its documented exit
code, no run printed a traceback and no run hung. Bounded: `--rounds` rounds (default 30) with
the null engine, each run killed after RUN_TIMEOUT_S, and every process a run started ended
before the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.soak_hostile import (
    SWAPPED_CODES,
    SWAPS,
    Hostile,
    hostile_files,
    hostile_problems,
    make_hostile,
    parse_kinds,
    reset_swaps,
    swap_for_fifo,
)
from pipeline.output.layout import ledger_path

ROOT = Path(__file__).resolve().parent.parent
POINTS = ("after-render", "before-generate", "after-part-rename", "after-ledger-commit")
FAULTS = {"SIGKILL": -9, "SIGTERM": 143, "ENOSPC": 7}
RUN_FLAGS = ["--schema", "invoice", "--engine", "null", "--dpi", "40", "--workers", "2",
             "--log-format", "json"]  # fmt: skip
RUN_TIMEOUT_S = 100  # below render.timeout_s (120): a render held by a FIFO is a hung run
GRACE_S = 10  # how long a run's leftover processes may take to end before they are killed


def make_inbox(root: Path, documents: int, kinds: tuple[str, ...] = (), bomb_mb: int = 64) -> None:
    """The inbox: `documents` good PDFs, three bad files and the hostile inputs of `kinds`."""
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
    make_hostile(root, kinds, bomb_mb)
    if "swap" in kinds:
        reset_swaps(root)


@dataclass
class Done:
    """How one run of docextract ended."""

    returncode: int
    output: str  # stdout and stderr
    hung: bool = False
    outlived: int = 0  # its processes still running GRACE_S after it ended (then killed)
    swapped: bool = False


def run(inbox: Path, out: Path, fault: str | None, swap: Path | None = None) -> Done:
    """Run docextract in a session of its own; with `swap`, replace that file by a FIFO while
    the run is held after discovery (its `fault` holds it there)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DOCEXTRACT_PART_ROWS": "2"}
    env.pop("DOCEXTRACT_KILL_AT", None)
    if fault:
        env["DOCEXTRACT_KILL_AT"] = fault
    command = [sys.executable, "-m", "pipeline", "run", str(inbox), "--out", str(out), *RUN_FLAGS]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                   start_new_session=True)  # fmt: skip
        swapped = swap is not None and _swap_when_held(process, swap)
        hung = False
        try:
            process.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        outlived = _end_group(process.pid)
        log.seek(0)
        return Done(process.returncode, log.read(), hung, outlived, swapped)


def _swap_when_held(process: subprocess.Popen, path: Path) -> bool:
    """Once `process` has stopped itself (SIGSTOP), replace `path` by a FIFO and let it go on;
    False when it ended or did not stop within RUN_TIMEOUT_S."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        if _state(process.pid) == "T":
            swap_for_fifo(path)
            os.kill(process.pid, signal.SIGCONT)
            return True
        time.sleep(0.02)
    return False


def _state(pid: int) -> str:
    """The process's state letter in /proc (T: stopped); "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _end_group(group: int) -> int:
    """Wait up to GRACE_S for the processes of `group` to end, then kill those left; their
    count."""
    deadline = time.monotonic() + GRACE_S
    while (left := _members(group)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def _members(group: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def table_rows(out: Path, table: str) -> list[dict]:
    """The rows of `table` that stand now (parts are never rewritten; see the README)."""
    from pipeline.output.current import current_row_dicts

    return current_row_dicts(out, "invoice", table)


@dataclass
class Check:
    """What one round found wrong; empty lists when all holds."""

    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)  # more than once, or in both tables
    hostile: list[str] = field(default_factory=list)  # not one error row of an expected code
    tracebacks: list[str] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # the ledger, an exit code, a swap
    codes: dict[str, str] = field(default_factory=dict)  # hostile input -> its row's code

    def problems(self) -> list[str]:
        found = [f"lost: {self.lost}"] if self.lost else []
        found += [f"doubled: {self.doubled}"] if self.doubled else []
        return found + self.hostile + self.tracebacks + self.hung + self.other


def check_out(out: Path, inbox: Path, hostile: list[Hostile]) -> Check:
    """What is wrong with OUT after the resumed run."""
    documents, errors = table_rows(out, "documents"), table_rows(out, "errors")
    seen = Counter(
        path for row in documents + errors for path in [row["source_path"], *row["also_at"]]
    )
    both = {r["source_path"] for r in documents} & {r["source_path"] for r in errors}
    check = Check()
    check.lost = [path.name for path in sorted(inbox.iterdir()) if seen[str(path)] == 0]
    check.doubled = sorted({Path(p).name for p, n in seen.items() if n > 1} | {
        Path(p).name for p in both})  # fmt: skip
    check.hostile, check.codes = hostile_problems(documents, errors, inbox, hostile)
    check.other = _ledger_problems(out, documents, errors)
    return check


def _ledger_problems(out: Path, documents: list[dict], errors: list[dict]) -> list[str]:
    db = sqlite3.connect(ledger_path(out))
    ledger = dict(db.execute("SELECT item_id, status FROM items").fetchall())
    db.close()
    found = []
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


def check_runs(check: Check, broken: Done, resumed: Done, what: str, swap: str | None) -> None:
    """Add to `check` what is wrong with how the two runs of a round ended."""
    for label, done in (("broken", broken), ("resumed", resumed)):
        if done.hung:
            check.hung.append(f"the {label} run hung: killed after {RUN_TIMEOUT_S}s")
        if "Traceback" in done.output and not (
            what == "SIGKILL" and label == "broken" and _worker_cut_off(done.output)
        ):
            tail = done.output[done.output.index("Traceback"):][-1500:]
            check.tracebacks.append(f"traceback in the {label} run: {tail}")
    if broken.returncode not in (FAULTS[what], 0, 1) and not broken.hung:  # 0/1: too late
        check.other.append(f"exit {broken.returncode}, expected {FAULTS[what]}")
    if swap and not broken.swapped:
        check.other.append(f"{swap} was not swapped: the run was never held after discovery")


@dataclass
class Round:
    """One round: its fault, the file it swapped, how the broken run ended, what it found."""

    fault: str
    what: str
    swap: str | None
    broken: Done
    resumed: Done
    check: Check


def choose_fault(chooser: random.Random) -> tuple[str, str]:
    """A random fault (DOCEXTRACT_KILL_AT) and what it does: SIGKILL, SIGTERM or ENOSPC."""
    what = chooser.choice(list(FAULTS))
    point = chooser.choice(POINTS[2:] if what == "ENOSPC" else POINTS)
    return f"{point}:{chooser.randint(1, 4)}:{what}", what


def soak_round(
    inbox: Path, out: Path, kinds: tuple[str, ...], fault: tuple[str, str], swap: str | None
) -> Round:
    """Break a run over `inbox` into the fresh `out` with `fault` (as choose_fault gives it),
    swapping the file `swap` for a FIFO after discovery; resume it, and check the result."""
    spec, what = fault
    if swap:
        reset_swaps(inbox)
        spec = f"after-discover:1:SIGSTOP,{spec}"
    broken = run(inbox, out, spec, inbox / swap if swap else None)
    resumed = run(inbox, out, None)
    hostile = hostile_files(kinds) + ([Hostile(swap, SWAPPED_CODES)] if swap else [])
    check = check_out(out, inbox, hostile)
    check_runs(check, broken, resumed, what, swap)
    shutil.rmtree(out, ignore_errors=True)
    return Round(fault[0], what, swap, broken, resumed, check)


@dataclass
class Totals:
    """What every round found, added up."""

    rounds: list[Round] = field(default_factory=list)

    def count(self, name: str) -> int:
        return sum(len(getattr(r.check, name)) for r in self.rounds)

    def failures(self) -> list[str]:
        """Each problem once, with the rounds that had it."""
        rounds: dict[str, list[str]] = {}
        for number, done in enumerate(self.rounds, 1):
            for problem in done.check.problems():
                rounds.setdefault(problem, []).append(f"{number} ({done.fault})")
        return [f"round {', '.join(where)}: {problem}" if len(where) < 4 else
                f"{len(where)} rounds ({', '.join(w.split()[0] for w in where)}): {problem}"
                for problem, where in rounds.items()]  # fmt: skip

    def summary(self) -> list[str]:
        tried = Counter(r.what if r.broken.returncode == FAULTS[r.what] else f"{r.what} (too late)"
                        for r in self.rounds)  # fmt: skip
        codes = Counter((name, code) for r in self.rounds for name, code in r.check.codes.items())
        cut_off = sum(r.what == "SIGKILL" and "EOFError: Ran out of input" in r.broken.output
                      for r in self.rounds)  # fmt: skip
        counts = {"documents lost": "lost", "doubled": "doubled", "tracebacks": "tracebacks",
                  "runs hung": "hung", "hostile files not one error row of their code":
                  "hostile", "other problems": "other"}  # fmt: skip
        return [
            "faults: " + ", ".join(f"{k} {v}" for k, v in sorted(tried.items())),
            "hostile rows: " + ("; ".join(f"{name} {code} x{n}" for (name, code), n
                                          in sorted(codes.items())) or "none"),  # fmt: skip
            f"render workers cut off while starting by a SIGKILL of docextract: {cut_off} "
            "(Python's multiprocessing prints their EOFError; nothing was committed by them)",
            f"processes of a run still running {GRACE_S}s after it ended (then killed): "
            f"{sum(r.broken.outlived + r.resumed.outlived for r in self.rounds)}",
            ", ".join(f"{label} {self.count(name)}" for label, name in counts.items())
            + (": all held" if not self.failures() else ": NOT ALL HELD"),
        ]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    kinds = parse_kinds(args.hostile)
    chooser = random.Random(args.seed)
    totals = Totals()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docextract-soak-") as tmp:
        inbox = Path(tmp) / "inbox"
        make_inbox(inbox, args.documents, kinds, args.bomb_mb)
        inputs = len(list(inbox.iterdir()))
        for number in range(1, args.rounds + 1):
            fault = choose_fault(chooser)
            swap = chooser.choice(SWAPS) if "swap" in kinds else None
            done = soak_round(inbox, Path(tmp) / f"out{number:03d}", kinds, fault, swap)
            totals.rounds.append(done)
            status = "; ".join(p.splitlines()[0][:120] for p in done.check.problems()) or "ok"
            print(f"round {number:3d}  {done.fault:<32} {done.swap or '-':<18} "
                  f"exit {done.broken.returncode:>4}  {status}", flush=True)  # fmt: skip
    hostile = len(hostile_files(kinds)) + ("swap" in kinds)
    print(f"\n{args.rounds} rounds in {time.perf_counter() - started:.0f}s over {inputs} inputs, "
          f"{hostile} of them hostile ({', '.join(kinds) or 'none'})")
    print("\n".join(totals.summary()))
    for failure in totals.failures():
        print(f"  {failure}")
    return 0 if not totals.failures() else 1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hostile", default="all",
                        help="hostile kinds, comma-separated (einvoice, bomb, png, fifo, swap), "
                        "all or none; see benchmarks/soak_hostile.py")  # fmt: skip
    parser.add_argument("--bomb-mb", type=int, default=64,
                        help="MiB the attachment bomb inflates to (1024: the 1 GB bomb)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
