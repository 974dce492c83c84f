"""The XML files a PDF carries (where Factur-X, ZUGFeRD and XRechnung put the invoice), read
with a size limit that holds while they are inflated.

A PDF states an attachment's size (/Params /Size, /DL) and stores its stream compressed
(/Length), and both can lie: a Flate stream of a few hundred kilobytes can inflate to gigabytes.
So an attachment over `max_bytes` by what the PDF states or stores is refused unread, and every
other one is inflated a chunk at a time and refused as soon as it passes `max_bytes`, so no
more than that is ever held.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.inputs.einvoice_xml import InvoiceXmlError, InvoiceXmlProblem
from pipeline.inputs.mupdf_messages import drain, silence

# The names Factur-X, ZUGFeRD and XRechnung give the attached XML; other *.xml are tried after.
STANDARD_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml")

MAX_XML_BYTES = RunConfig.model_fields["einvoice_max_bytes"].default
"""The default size limit of an e-invoice's XML, attached or standalone (`einvoice_max_bytes`):
real invoices of thousands of lines stay far below it."""

_CHUNK = 1 << 16  # bytes inflated at a time


def too_large(what: str, size: int, max_bytes: int) -> InvoiceXmlError:
    """The TOO_LARGE error of XML that holds `size` bytes."""
    return InvoiceXmlError(
        InvoiceXmlProblem.TOO_LARGE,
        f"{what} holds {size:,} bytes of XML, more than einvoice_max_bytes ({max_bytes:,})",
    )


def is_standard(name: str) -> bool:
    """Whether `name` is one the e-invoice standards give their attached XML."""
    return name.lower() in {n.lower() for n in STANDARD_XML_NAMES}


def iter_embedded_xml(
    pdf_path: str | Path, max_bytes: int = MAX_XML_BYTES
) -> Iterator[tuple[str, bytes]]:
    """Yield `(name, bytes)` of every XML attachment, the standard e-invoice names first.

    Reads document-level embedded files (where PDF/A-3 associated files live) and page-level
    file-attachment annotations. Yields nothing for a file PyMuPDF cannot open. An XML
    attachment whose stated or stored size is over `max_bytes` raises InvoiceXmlError
    (TOO_LARGE) before it is loaded, and so does one that inflates past `max_bytes`, once it
    does. An attachment under a standard name that cannot be inflated (a damaged stream, no
    memory left) raises InvoiceXmlError (READ_FAILED); one under another name is skipped.
    """
    import pymupdf

    silence(pymupdf)
    try:
        doc = pymupdf.open(str(pdf_path))
    except Exception:
        drain(pymupdf, str(pdf_path))
        return
    try:
        found = _embedded_files(doc, pymupdf, max_bytes)
        found += _annotation_files(doc, pymupdf, max_bytes)
    finally:
        doc.close()
        drain(pymupdf, str(pdf_path))
    rank = {name.lower(): i for i, name in enumerate(STANDARD_XML_NAMES)}
    found.sort(key=lambda item: rank.get(item[0].lower(), len(rank)))
    yield from found


def _embedded_files(doc: Any, pymupdf: Any, max_bytes: int) -> list[tuple[str, bytes]]:
    mupdf = pymupdf.mupdf
    found: list[tuple[str, bytes]] = []
    try:
        # MuPDF's own reading of the name tree: its root's /Names and those of its /Kids
        # (ISO 32000-1 7.9.6), loops read once. PyMuPDF's embfile_names reads the root only.
        files = mupdf.pdf_load_name_tree(
            _pdf_document(doc, pymupdf), mupdf.pdf_new_name("EmbeddedFiles")
        )
        for index in range(mupdf.pdf_dict_len(files)):
            key = mupdf.pdf_to_name(mupdf.pdf_dict_get_key(files, index))
            spec = mupdf.pdf_dict_get_val(files, index)
            name = _spec_name(mupdf, spec) or key
            if not (name.lower().endswith(".xml") or key.lower().endswith(".xml")):
                continue
            stream = mupdf.pdf_dict_getp(spec, "EF/F")
            _check_stated(name, _stated_sizes(mupdf, stream), max_bytes)
            _append(found, name, pymupdf, stream, max_bytes)
    except InvoiceXmlError:
        raise
    except Exception:  # a damaged name tree: what was read so far stands
        pass
    return found


def _spec_name(mupdf: Any, spec: Any) -> str:
    """The file name a file specification gives: /UF (Unicode), else /F."""
    for key in ("UF", "F"):
        value = mupdf.pdf_dict_gets(spec, key)
        if mupdf.pdf_is_string(value) and (text := mupdf.pdf_to_text_string(value)):
            return str(text)
    return ""


def _stated_sizes(mupdf: Any, stream: Any) -> dict[str, int]:
    """What an embedded file's stream states of its size (/Params /Size, /DL) and stores
    (/Length), as `_check_stated` reads them."""
    stated = (mupdf.pdf_dict_getp(stream, path) for path in ("Params/Size", "DL"))
    size = max(mupdf.pdf_to_int(value) for value in stated)
    return {"size": size, "length": mupdf.pdf_to_int(mupdf.pdf_dict_gets(stream, "Length"))}


def _annotation_files(doc: Any, pymupdf: Any, max_bytes: int) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    try:
        for page in doc.pages():
            for annot in page.annots(types=[pymupdf.PDF_ANNOT_FILE_ATTACHMENT]):
                info = annot.file_info
                name = str(info.get("filename", ""))
                if not name.lower().endswith(".xml"):
                    continue
                _check_stated(name, info, max_bytes)
                spec = pymupdf.mupdf.pdf_annot_obj(annot.this)
                stream = pymupdf.mupdf.pdf_dict_getp(spec, "FS/EF/F")
                _append(found, name, pymupdf, stream, max_bytes)
    except InvoiceXmlError:
        raise
    except Exception:  # a damaged page or annotation: what was read so far stands
        pass
    return found


def _pdf_document(doc: Any, pymupdf: Any) -> Any:
    this = doc.this
    return this if isinstance(this, pymupdf.mupdf.PdfDocument) else pymupdf.mupdf.PdfDocument(this)


def _check_stated(name: str, info: dict[str, Any], max_bytes: int) -> None:
    """TOO_LARGE where the size the PDF states, or the size it stores, is over `max_bytes`."""
    size = max(int(info.get("size") or 0), int(info.get("length") or 0))
    if size > max_bytes:
        raise too_large(name, size, max_bytes)


def _append(found: list[tuple[str, bytes]], name: str, pymupdf: Any, stream: Any,
            max_bytes: int) -> None:  # fmt: skip
    """Add attachment `name`, inflated from `stream`. One that cannot be inflated is skipped,
    unless it has a standard name (then InvoiceXmlError READ_FAILED)."""
    try:
        found.append((name, inflate(pymupdf, stream, name, max_bytes)))
    except InvoiceXmlError:
        raise
    except Exception as exc:  # a damaged stream, or memory the reader is not given
        if is_standard(name):
            message = f"{name}: cannot be inflated ({type(exc).__name__}: {exc})"
            raise InvoiceXmlError(InvoiceXmlProblem.READ_FAILED, message) from None


def inflate(pymupdf: Any, stream: Any, name: str, max_bytes: int) -> bytes:
    """The content of the PDF stream `stream`, its filters applied, read `_CHUNK` bytes at a
    time; InvoiceXmlError (TOO_LARGE) as soon as it passes `max_bytes`."""
    mupdf = pymupdf.mupdf
    if not mupdf.pdf_is_stream(stream):
        raise ValueError("no file stream")
    reader = mupdf.pdf_open_stream(stream)
    chunk = bytearray(_CHUNK)
    address = mupdf.python_mutable_buffer_data(chunk)
    content = bytearray()
    while count := mupdf.fz_read(reader, address, _CHUNK):
        content += memoryview(chunk)[:count]
        if len(content) > max_bytes:
            raise InvoiceXmlError(
                InvoiceXmlProblem.TOO_LARGE,
                f"{name} inflates to more than einvoice_max_bytes ({max_bytes:,}) bytes of XML, "
                f"though the PDF states {_stated(pymupdf, stream)}; refused while inflating",
            )
    return bytes(content)


def _stated(pymupdf: Any, stream: Any) -> str:
    mupdf = pymupdf.mupdf
    size = mupdf.pdf_to_int(mupdf.pdf_dict_getp(stream, "Params/Size"))
    stored = mupdf.pdf_to_int(mupdf.pdf_dict_getp(stream, "Length"))
    return f"{size:,} bytes, stored in {stored:,}"
