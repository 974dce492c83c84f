"""Discovery over real files: kinds from content, ids from sha256, duplicates, globs, errors."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from pipeline.errors import ErrorCode, Stage
from pipeline.inputs.discover import detect_kind, discover_sources, shard_of
from pipeline.records import FileKind
from tests.fixtures_documents import make_image, make_pdf, make_tiff


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", FileKind.PDF),
        (b"\x00" * 500 + b"%PDF-1.4", FileKind.PDF),
        (b"\x89PNG\r\n\x1a\n\x00\x00", FileKind.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", FileKind.JPEG),
        (b"II*\x00\x08\x00\x00\x00", FileKind.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", FileKind.TIFF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", FileKind.WEBP),
        (b"BM" + b"\x00" * 12 + (40).to_bytes(4, "little"), FileKind.BMP),
        (b"BMW on the road, a text file", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"\x00" * 1100 + b"%PDF-1.4", None),
        (b"hello", None),
        (b"", None),
    ],
)
def test_detect_kind(head: bytes, kind: FileKind | None) -> None:
    assert detect_kind(head) == kind


def test_folder_is_walked_sorted_hidden_skipped_kinds_from_content(tmp_path: Path) -> None:
    make_pdf(tmp_path / "b.pdf")
    (tmp_path / "sub").mkdir()
    make_image(tmp_path / "sub" / "a.png", "RGB")
    make_pdf(tmp_path / "sub" / "scan.dat", pages=2)  # a PDF with a misleading name
    make_tiff(tmp_path / ".hidden.tif")
    (tmp_path / ".cache").mkdir()
    make_pdf(tmp_path / ".cache" / "c.pdf", pages=3)
    found = discover_sources([tmp_path])
    assert [s.path.relative_to(tmp_path).as_posix() for s in found.sources] == [
        "b.pdf",
        "sub/a.png",
        "sub/scan.dat",
    ]
    assert [s.kind for s in found.sources] == [FileKind.PDF, FileKind.PNG, FileKind.PDF]
    for source in found.sources:
        data = source.path.read_bytes()
        assert source.sha256 == hashlib.sha256(data).hexdigest() and source.size == len(data)
    assert found.errors == [] and found.duplicates == []


def test_duplicates_are_reported_once_and_kept_once(tmp_path: Path) -> None:
    first = make_pdf(tmp_path / "a.pdf")
    shutil.copy(first, tmp_path / "z_copy.pdf")
    found = discover_sources([tmp_path, first])  # the same file named twice is not a duplicate
    assert [s.path.name for s in found.sources] == ["a.pdf"]
    assert found.duplicates == [(tmp_path / "z_copy.pdf", first)]


def test_a_link_to_a_file_is_a_path_of_its_own(tmp_path: Path) -> None:
    """A link in the inbox to a file is found as a duplicate of its target, as a copy or a hard
    link is (the row's also_at names it); it is not dropped for resolving to the target."""
    first = make_pdf(tmp_path / "a.pdf")
    (tmp_path / "b.pdf").symlink_to("a.pdf")
    found = discover_sources([tmp_path], absolute=True)
    assert [s.path.name for s in found.sources] == ["a.pdf"]
    assert found.duplicates == [(tmp_path / "b.pdf", first)]


def test_globs_with_double_star(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    make_pdf(tmp_path / "x" / "y" / "deep.pdf")
    make_pdf(tmp_path / "x" / "top.pdf", pages=2)
    make_image(tmp_path / "x" / "pic.png")
    found = discover_sources([str(tmp_path / "**" / "*.pdf")])
    assert sorted(s.path.name for s in found.sources) == ["deep.pdf", "top.pdf"]
    assert found.errors == []


def test_bad_inputs_become_discover_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "notes.pdf").write_text("plain text\n")
    os.symlink(tmp_path / "gone.pdf", tmp_path / "broken.pdf")
    missing = tmp_path / "nope" / "missing.pdf"
    found = discover_sources([tmp_path, missing, str(tmp_path / "*.jpg")])
    assert found.sources == []
    by_path = {e.path: e for e in found.errors}
    assert {e.stage for e in found.errors} == {Stage.DISCOVER}
    assert by_path[str(tmp_path / "empty.pdf")].code is ErrorCode.EMPTY_FILE
    assert by_path[str(tmp_path / "notes.pdf")].code is ErrorCode.NOT_A_DOCUMENT
    assert by_path[str(tmp_path / "broken.pdf")].code is ErrorCode.NOT_FOUND
    assert by_path[str(missing)].code is ErrorCode.NOT_FOUND
    assert by_path[str(tmp_path / "*.jpg")].code is ErrorCode.NOT_FOUND
    for path, error in by_path.items():
        assert path in error.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "locked.pdf")
    path.chmod(0)
    found = discover_sources([path])
    assert [e.code for e in found.errors] == [ErrorCode.UNREADABLE]


def test_shard_of_is_stable_and_spreads() -> None:
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)]
    assert shard_of(digests[0], 4) == int(digests[0][:16], 16) % 4
    counts = [0] * 4
    for digest in digests:
        counts[shard_of(digest, 4)] += 1
    assert all(60 < c < 140 for c in counts)
    assert {shard_of(d, 1) for d in digests} == {0}


def test_an_empty_folder_is_no_error_and_a_folder_named_like_a_pdf_is_walked(
    tmp_path: Path,
) -> None:
    empty, named = tmp_path / "inbox", tmp_path / "scans.pdf"
    empty.mkdir()
    named.mkdir()
    make_pdf(named / "inside.pdf")
    found = discover_sources([empty, named])
    assert found.errors == []
    assert [s.path.name for s in found.sources] == ["inside.pdf"]


def test_a_symlink_loop_is_an_error_row_not_a_crash(tmp_path: Path) -> None:
    make_pdf(tmp_path / "good.pdf")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    found = discover_sources([tmp_path])
    assert [s.path.name for s in found.sources] == ["good.pdf"]
    assert {Path(e.path).name: e.code for e in found.errors} == {
        "loop_a": ErrorCode.NOT_FOUND,
        "loop_b": ErrorCode.NOT_FOUND,
    }
    assert all("link loop" in e.message for e in found.errors)


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path: Path, monkeypatch) -> None:
    """As root every folder can be listed, so the refusal comes from os.scandir itself."""
    make_pdf(tmp_path / "good.pdf")
    locked = tmp_path / "locked"
    locked.mkdir()
    make_pdf(locked / "hidden.pdf")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover_sources([tmp_path])
    assert [s.path.name for s in found.sources] == ["good.pdf"]
    assert [(e.path, e.code) for e in found.errors] == [(str(locked), ErrorCode.UNREADABLE)]
    assert "folder cannot be read: Permission denied" in found.errors[0].message


def test_pdfs_that_mupdf_repairs_are_pdfs(tmp_path: Path) -> None:
    """A header after more than 1 KiB of junk, or no header at all: MuPDF repairs and opens
    both, so they are PDFs to render (with a `repaired` warning), not `not_a_document`."""
    import pymupdf

    from pipeline.config import RenderConfig
    from pipeline.inputs.render import render_document

    doc = pymupdf.open()
    doc.new_page().insert_text((50, 50), "repaired")
    pdf = doc.tobytes()
    (tmp_path / "junk_first.pdf").write_bytes(b"X" * 3000 + pdf)
    (tmp_path / "no_header.pdf").write_bytes(pdf[pdf.index(b"\n") + 1 :])
    found = discover_sources([tmp_path])
    assert found.errors == []
    assert sorted(s.path.name for s in found.sources) == ["junk_first.pdf", "no_header.pdf"]
    for source in found.sources:
        assert source.kind is FileKind.PDF
        rendered = render_document(source, RenderConfig())
        assert rendered.error is None and len(rendered.pages) == 1
        assert [w.code for w in rendered.warnings] == ["repaired"]


def test_discovery_tells_pdfs_that_cannot_carry_an_attachment(tmp_path: Path) -> None:
    """An e-invoice rides as an attached file: a PDF whose bytes name none (and hold no
    compressed objects that could) is not opened again to look for one."""
    import pymupdf

    from pipeline.extract.einvoice_rows import probes

    def pdf(name: str, attach: bool = False, **save: int) -> Path:
        doc = pymupdf.open()
        doc.new_page().insert_text((72, 72), name)
        if attach:
            doc.embfile_add("factur-x.xml", b"<x/>", filename="factur-x.xml")
        path = tmp_path / f"{name}.pdf"
        doc.save(path, **save)
        doc.close()
        return path

    paths = [pdf("plain"), pdf("attached", attach=True), pdf("packed", use_objstms=1)]
    found = {s.path.stem: s for s in discover_sources(paths).sources}
    assert not found["plain"].may_have_attachments and not probes(found["plain"])
    assert found["attached"].may_have_attachments and probes(found["attached"])
    assert found["packed"].may_have_attachments  # compressed objects could hide one


def test_a_linked_folder_in_the_inbox_is_followed_once_even_when_it_loops(tmp_path: Path) -> None:
    """A link to a folder outside the inbox is walked like a folder; a link that points back up
    (a loop) is not walked again, and a file reached twice is one source."""
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    inbox.mkdir()
    (elsewhere / "deeper").mkdir(parents=True)
    make_pdf(inbox / "here.pdf")
    make_image(elsewhere / "linked.png")
    (elsewhere / "deeper" / "up").symlink_to(elsewhere)  # loops back
    (inbox / "scans").symlink_to(elsewhere)
    (inbox / "scans-again").symlink_to(elsewhere)
    found = discover_sources([inbox])
    assert found.errors == []
    assert sorted(s.path.name for s in found.sources) == ["here.pdf", "linked.png"]
