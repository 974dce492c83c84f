"""Helpers for the end-to-end run tests: an inbox of mixed documents and table read-back."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf

from pipeline.engines.base import EngineResult
from pipeline.engines.null import NullEngine
from pipeline.output.current import current_row_dicts
from pipeline.output.layout import ledger_path
from tests.fixtures_documents import (
    make_encrypted_pdf,
    make_image,
    make_tiff,
    make_truncated_pdf,
)

ROOT = Path(__file__).resolve().parent.parent


def make_unique_pdf(path: Path, pages: int, label: str) -> Path:
    """A small text PDF whose content (and so its hash) is unique to `label`."""
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((72, 100), f"INVOICE {label} page {number + 1}", fontsize=18)
        page.insert_text((72, 140), f"Total due: {len(label) * 17}.50 EUR", fontsize=12)
    doc.save(path)
    doc.close()
    return path


def make_latin1_names(inbox: Path) -> tuple[Path, Path]:
    """An image and an empty PDF whose names were written on another system in Latin-1 (not
    UTF-8): Python keeps the stray bytes as surrogates. Returns (image, empty PDF)."""
    image = make_image(Path(os.fsdecode(bytes(inbox) + b"/re\xe7u.png")))
    empty = Path(os.fsdecode(bytes(inbox) + b"/vac\xedo.pdf"))
    empty.write_bytes(b"")
    return image, empty


def make_inbox(root: Path, pdfs: int = 12) -> dict[str, list[Path]]:
    """20 mixed files by default: PDFs of 1-3 pages, a 3-frame TIFF, two images, a truncated
    PDF, an encrypted PDF, a duplicate, a text file named .pdf and an empty file."""
    root.mkdir(parents=True, exist_ok=True)
    good = [make_unique_pdf(root / f"doc{i:02d}.pdf", 1 + i % 3, f"D{i}") for i in range(pdfs)]
    good.append(make_tiff(root / "fax.tif", frames=3))
    good.append(make_image(root / "scan.jpg", "RGB", size=(300, 420)))
    good.append(make_image(root / "photo.png", "L", size=(320, 240)))
    duplicate = root / "sub" / "copy-of-doc00.pdf"
    duplicate.parent.mkdir(exist_ok=True)
    duplicate.write_bytes(good[0].read_bytes())
    broken = [make_truncated_pdf(root / "truncated.pdf"), make_encrypted_pdf(root / "locked.pdf")]
    (root / "notes.pdf").write_text("plain text, not a PDF\n")
    (root / "empty.pdf").write_bytes(b"")
    broken += [root / "notes.pdf", root / "empty.pdf"]
    return {"good": good, "broken": broken, "duplicate": [duplicate]}


def inbox_with_paths(root: Path, pdfs: int = 8) -> tuple[Path, list[str]]:
    """A mixed inbox (see make_inbox) and every input path in it."""
    made = make_inbox(root, pdfs=pdfs)
    return root, [str(p) for group in made.values() for p in group]


def null_run_args(workers: int) -> list[str]:
    """Flags for a fast, quiet run with the null engine."""
    return f"--schema invoice --engine null --dpi 40 --workers {workers} --log-format json".split()


def read_table(out: Path, schema: str, table: str) -> list[dict]:
    """The rows of a table that stand now (the current-rows rule)."""
    return current_row_dicts(out, schema, table)


def read_all_rows(out: Path, schema: str, table: str) -> list[dict]:
    """Every row of every part file, superseded ones included."""
    files = sorted((out / schema / table).glob("part-*.parquet"))
    if not files:
        return []
    return pq.read_table(files).to_pylist()


def paths_accounted(out: Path, schema: str) -> list[str]:
    """Every input path the tables mention: source paths and duplicate paths, with repeats."""
    paths: list[str] = []
    for table in ("documents", "errors"):
        for row in read_table(out, schema, table):
            paths.append(row["source_path"])
            paths.extend(row["also_at"] or [])
    return paths


def ledger_items(out: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(ledger_path(out))
    rows = db.execute("SELECT item_id, status FROM items").fetchall()
    db.close()
    return {
        "ok": {item for item, status in rows if status == "ok"},
        "error": {item for item, status in rows if status == "error"},
    }


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 120):
    """Run `python -m pipeline ARGS` in a subprocess (needed to SIGKILL it)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def part_names(out: Path) -> list[str]:
    """The names of every Parquet part file under OUT."""
    return sorted(p.name for p in out.rglob("part-*.parquet"))


def exported_rows(out: Path, *extra: str) -> list[dict]:
    """The rows `docextract export OUT` prints as JSON lines (it must exit 0)."""
    import json

    from typer.testing import CliRunner

    from pipeline.cli.app import app

    done = CliRunner().invoke(app, ["export", str(out), *extra])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()]


class AnswersByDocument(NullEngine):
    """The null engine answering each request with the text given for its document, found by
    the document id (the file's sha256) of the pages it is asked about."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__()
        self.answers = answers

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        return [
            dataclasses.replace(o, text=self.answers[r.images[0].doc_id])
            if isinstance(o, EngineResult)
            else o
            for r, o in zip(requests, outcomes, strict=True)
        ]
