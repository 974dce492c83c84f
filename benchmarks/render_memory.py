"""Peak resident memory of a run over four 14000x14000 RGBA PNGs, an e-invoice attachment bomb
and a normal document.

Each PNG is one colour, under 1 MB on disk, and decodes to 14000 x 14000 x 4 bytes (748 MiB).
The bomb is a PDF whose invoice XML attachment inflates to 64 MiB of padding while its
attachment entry states a small size (benchmarks/soak_hostile.py). `docextract run --workers 4
--engine null` reads the bomb's XML in its e-invoice reader process and renders the PNGs in four
render processes at once; the peak RSS of the whole process tree (the run and every process it
starts) is sampled from /proc.

    python -m benchmarks.render_memory
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path

from benchmarks.__main__ import verdict
from benchmarks.memory import peak_tree_rss

ROOT = Path(__file__).resolve().parent.parent
SIDE = 14_000
TARGET_MIB = 1536  # 1.5 GiB for the whole process tree
BOMB_MIB = 64


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def solid_rgba_png(path: Path, side: int, rgba: tuple[int, int, int, int]) -> Path:
    """A side x side RGBA PNG of one colour, written row by row (never whole in memory)."""
    row = b"\x00" + bytes(rgba) * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)  # 8-bit RGBA
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data)
    path.write_bytes(png + _chunk(b"IEND", b""))
    return path


def normal_pdf(path: Path) -> Path:
    """A one-page A4 text invoice."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 100), "INVOICE 2024-0042", fontsize=18)
    page.insert_text((72, 140), "Total due: 119.00 EUR", fontsize=12)
    doc.save(path)
    doc.close()
    return path


def make_inbox(inbox: Path) -> None:
    """Four big RGBA PNGs (each its own colour, so none is a duplicate), the attachment bomb and
    a normal PDF."""
    from benchmarks.soak_hostile import MIB, make_attachment_bomb
    from tests.einvoice_factory import InvoiceFacts, cii_xml

    inbox.mkdir(parents=True, exist_ok=True)
    for number in range(4):
        solid_rgba_png(inbox / f"big-{number}.png", SIDE, (40 * number, 90, 160, 128))
    bomb = cii_xml(InvoiceFacts(number="RSS-BOMB"), "en16931")
    make_attachment_bomb(inbox / "bomb.pdf", bomb, BOMB_MIB * MIB)
    normal_pdf(inbox / "invoice.pdf")


def error_codes(out: Path) -> dict[str, int]:
    """Error rows of the run by code, and its documents rows as `ok`."""
    from pipeline.output.current import current_row_dicts

    codes = Counter(row["code"] for row in current_row_dicts(out, "invoice", "errors"))
    codes["ok"] = len(current_row_dicts(out, "invoice", "documents"))
    return dict(sorted(codes.items()))


def bench_render_memory() -> dict:
    """Peak RSS of `docextract run --workers 4 --engine null` over the inbox above."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        inbox, out = Path(tmp) / "inbox", Path(tmp) / "out"
        make_inbox(inbox)
        command = [sys.executable, "-m", "pipeline", "run", str(inbox), "--out", str(out),
                   "--schema", "invoice", "--engine", "null", "--workers", "4",
                   "--log-format", "plain"]  # fmt: skip
        peak, seconds, code = peak_tree_rss(command, ROOT, env)
        rows = error_codes(out)
    return {
        f"peak RSS of the process tree (MiB, target < {TARGET_MIB})": round(peak / 1024, 1),
        "wall (s)": round(seconds, 1),
        "exit code": code,
        "rows by code": rows,
    }


def main() -> int:
    for key, value in bench_render_memory().items():
        print(f"{key:<52} {value} {verdict(key, value)}".rstrip(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
