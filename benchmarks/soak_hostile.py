"""The hostile inputs of `make soak`: files made to stop a run or exhaust its memory, mixed into
the normal inbox. Each must cost its own document exactly one error row, and nothing else.

Kinds (`--hostile`, comma-separated; default all):
- einvoice: overflow.xml, a CII invoice whose first line holds ChargeAmount 9E999999 and
  BasisQuantity 1E-999999; overflow.pdf, a PDF with that XML attached as factur-x.xml; and
  huge-total.xml, whose GrandTotalAmount 123456789012345678901234.5 is wider than
  decimal128(18, 4). Each: einvoice_invalid.
- bomb: bomb.pdf, whose factur-x.xml is a valid invoice padded with spaces to `bomb_mb` MiB
  (64 by default, four times the default einvoice_max_bytes), stored as a Flate stream of
  about a thousandth of that and stating the size of the invoice without its padding. An
  attachment judged only by what the PDF says of it is inflated and read: einvoice_invalid
  (xml_too_large) is the documented row.
- png: big.png, 14000 x 14000 RGBA of one colour (about 770 KB; 784 MB decoded). Any error
  code (the code found is reported).
- fifo: fifo.pdf, a FIFO in the inbox from the start: not_a_document.
- swap: swap-einvoice.pdf (read for its XML while planning) and swap-plain.pdf (read by a render
  worker), regular files; each round replaces one with a FIFO after discovery and before it is
  read (fault point after-discover), and the FIFO stays: the run that meets it records a
  transient changed row, which the next run's not_a_document row of the FIFO replaces.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KINDS = ("einvoice", "bomb", "png", "fifo", "swap")
SWAPS = ("swap-einvoice.pdf", "swap-plain.pdf")
SWAPPED_CODES = frozenset({"not_a_document"})
MIB = 2**20


@dataclass(frozen=True)
class Hostile:
    """A hostile input and the error codes its one row may have (empty: any code)."""

    name: str
    codes: frozenset[str] = frozenset()


HOSTILE = {
    "einvoice": (
        Hostile("overflow.xml", frozenset({"einvoice_invalid"})),
        Hostile("overflow.pdf", frozenset({"einvoice_invalid"})),
        Hostile("huge-total.xml", frozenset({"einvoice_invalid"})),
    ),
    "bomb": (Hostile("bomb.pdf", frozenset({"einvoice_invalid"})),),
    "png": (Hostile("big.png"),),
    "fifo": (Hostile("fifo.pdf", frozenset({"not_a_document"})),),
}


def parse_kinds(text: str) -> tuple[str, ...]:
    """`all`, `none` or comma-separated KINDS, in KINDS order."""
    if text in ("all", "none"):
        return KINDS if text == "all" else ()
    asked = {kind.strip() for kind in text.split(",") if kind.strip()}
    if unknown := asked - set(KINDS):
        raise ValueError(f"unknown hostile kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    return tuple(kind for kind in KINDS if kind in asked)


def hostile_files(kinds: tuple[str, ...]) -> list[Hostile]:
    """The hostile inputs every round of `kinds` holds (the swapped file is the round's)."""
    return [hostile for kind in kinds for hostile in HOSTILE.get(kind, ())]


def make_hostile(root: Path, kinds: tuple[str, ...], bomb_mb: int = 64) -> None:
    """Write the hostile inputs of `kinds` into the folder `root`."""
    from tests.einvoice_factory import InvoiceFacts, cii_xml, pdf_with_xml

    if "einvoice" in kinds:
        overflow = _with_values(
            cii_xml(InvoiceFacts(number="SOAK-OVERFLOW"), "extended"),
            ("ram:ChargeAmount", "9E999999"), ("ram:BasisQuantity", "1E-999999"),
        )  # fmt: skip
        (root / "overflow.xml").write_bytes(overflow)
        (root / "overflow.pdf").write_bytes(pdf_with_xml(overflow, "factur-x.xml"))
        huge = cii_xml(InvoiceFacts(number="SOAK-HUGE"), "en16931")
        huge = _with_values(huge, ("ram:GrandTotalAmount", "123456789012345678901234.5"))
        (root / "huge-total.xml").write_bytes(huge)
    if "bomb" in kinds:
        make_attachment_bomb(root / "bomb.pdf", cii_xml(InvoiceFacts(number="SOAK-BOMB"),
                                                         "en16931"), bomb_mb * MIB)  # fmt: skip
    if "png" in kinds:
        make_one_colour_png(root / "big.png", 14_000)
    if "fifo" in kinds:
        os.mkfifo(root / "fifo.pdf")


def reset_swaps(root: Path) -> None:
    """Put both swap files back as regular files, whatever a round left in their place."""
    from tests.einvoice_factory import InvoiceFacts, cii_xml, pdf_with_xml
    from tests.run_helpers import make_unique_pdf

    for name in SWAPS:
        (root / name).unlink(missing_ok=True)
    facts = InvoiceFacts(number="SOAK-SWAP")
    (root / SWAPS[0]).write_bytes(pdf_with_xml(cii_xml(facts, "en16931"), "factur-x.xml", facts))
    make_unique_pdf(root / SWAPS[1], 1, "SOAK-SWAP")


def swap_for_fifo(path: Path) -> None:
    """Replace the file at `path` by a FIFO that nobody writes."""
    path.unlink()
    os.mkfifo(path)


def _with_values(xml: bytes, *values: tuple[str, str]) -> bytes:
    """`xml` with the first element of each tag holding the value given."""
    for tag, value in values:
        pattern = rb"(<" + tag.encode() + rb"[^>]*>)[^<]*<"
        xml, found = re.subn(pattern, rb"\g<1>" + value.encode() + b"<", xml, count=1)
        if not found:
            raise ValueError(f"no <{tag}> in the invoice")
    return xml


def make_attachment_bomb(path: Path, xml: bytes, size: int) -> None:
    """A one-page PDF whose factur-x.xml is `xml` padded with spaces to `size` bytes before its
    closing tag, Flate-compressed, its stated size (/Params /Size) that of `xml`."""
    import pymupdf

    from tests.einvoice_factory import pdf_with_xml

    end = xml.rindex(b"</")
    squeezed = b"".join(_deflated([xml[:end], *_spaces(size - len(xml)), xml[end:]]))
    doc = pymupdf.open(stream=pdf_with_xml(xml, "factur-x.xml"), filetype="pdf")
    (xref,) = [x for x in range(1, doc.xref_length())
               if doc.xref_get_key(x, "Type") == ("name", "/EmbeddedFile")]  # fmt: skip
    doc.update_stream(xref, squeezed, compress=False)
    doc.xref_set_key(xref, "Filter", "/FlateDecode")
    doc.save(path)
    doc.close()


def _spaces(count: int) -> Iterator[bytes]:
    block = b" " * MIB
    for _ in range(count // MIB):
        yield block
    yield b" " * (count % MIB)


def _deflated(pieces: Iterator[bytes] | list[bytes]) -> Iterator[bytes]:
    squeezer = zlib.compressobj(9)
    for piece in pieces:
        yield squeezer.compress(piece)
    yield squeezer.flush()


def make_one_colour_png(path: Path, side: int, rgba: bytes = b"\xc8\x1e\x1e\xff") -> None:
    """A `side` x `side` RGBA PNG of one colour, written a row at a time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + rgba * side  # filter type 0, then the pixels
    body = b"".join(_deflated(row for _ in range(side)))
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))  # fmt: skip


def hostile_problems(
    documents: list[dict], errors: list[dict], inbox: Path, hostile: list[Hostile]
) -> tuple[list[str], dict[str, str]]:
    """What is wrong with the rows of the hostile inputs, and the code of each one's row."""
    problems: list[str] = []
    codes: dict[str, str] = {}
    for each in hostile:
        path = str(inbox / each.name)
        found = [row for row in documents if path in (row["source_path"], *row["also_at"])]
        failed = [row for row in errors if path in (row["source_path"], *row["also_at"])]
        if found or len(failed) != 1:
            seen = [row["code"] for row in failed] + [
                f"documents row of model {row['model']}" for row in found]  # fmt: skip
            problems.append(f"{each.name}: not one error row but {seen or 'none'}")
            continue
        codes[each.name] = failed[0]["code"]
        if each.codes and failed[0]["code"] not in each.codes:
            problems.append(f"{each.name}: {failed[0]['code']}, not {' or '.join(each.codes)}")
    return problems, codes
