"""`docextract pages`: render documents and write every page exactly as the model sees it.

A debugging tool for the render stage: OUT/<stem>-<sha8>/page-0001.png for each page,
OUT/pages.parquet (one row per page) and OUT/errors.parquet (one row per file that failed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import RenderConfig
from pipeline.errors import ErrorCode, Stage
from pipeline.inputs.discover import discover_sources
from pipeline.inputs.renderpool import RenderPool, RenderTask, following_window
from pipeline.records import ErrorRecord, Page, RenderedDocument, storable

PAGES_TABLE = "pages.parquet"
ERRORS_TABLE = "errors.parquet"
PNG_LEVEL = 3  # fast to write, still a fraction of the raw size
PAGES_PER_WINDOW = 8  # pages rendered at a time: memory holds one window, however long the file


@dataclass(slots=True)
class PagesReport:
    """Counts from one `export_pages` run."""

    out: Path
    files: int = 0
    rendered_files: int = 0
    pages: int = 0
    visual_tokens: int = 0
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values (counts by code as objects)."""
        return {
            "out": str(self.out), "files": self.files, "rendered_files": self.rendered_files,
            "pages": self.pages, "visual_tokens": self.visual_tokens,
            "duplicates": self.duplicates, "errors": dict(self.errors),
            "warnings": dict(self.warnings),
        }  # fmt: skip


def export_pages(
    inputs: Sequence[str | Path], out: Path, config: RenderConfig, workers: int = 0
) -> PagesReport:
    """Discover `inputs`, render them in a RenderPool and write PNGs plus the two tables.

    Every input file ends up as page rows, an error row, or (same content seen already) a
    `duplicate` row in the errors table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    found = discover_sources(inputs, exclude=out)
    report = PagesReport(
        out=out, files=len(found.sources) + len(found.errors) + len(found.duplicates)
    )
    page_rows: list[dict[str, Any]] = []
    errors: list[ErrorRecord] = list(found.errors)
    errors += [
        ErrorRecord(
            doc_id="",
            path=str(duplicate),
            stage=Stage.DISCOVER,
            code=ErrorCode.DUPLICATE,
            message=f"{duplicate}: same content as {first}; rendered once",
        )
        for duplicate, first in found.duplicates
    ]
    with RenderPool(config, workers) as pool:
        tasks = [RenderTask(source, 0, PAGES_PER_WINDOW) for source in found.sources]
        while tasks:
            following = []
            for result in pool.render(tasks):
                first_window = not result.pages or result.pages[0].index == 0
                if first_window:
                    report.warnings.update(w.code for w in result.warnings)
                if result.error is not None:
                    errors.append(result.error)
                    continue
                report.rendered_files += first_window
                folder = out / _folder_name(result)
                folder.mkdir(parents=True, exist_ok=True)
                for page in result.pages:
                    page_rows.append(_write_page(page, folder, result))
                if (window := following_window(result, PAGES_PER_WINDOW)) is not None:
                    following.append(window)
            tasks = following
    page_rows.sort(key=lambda row: (row["path"], row["page"]))
    report.pages = len(page_rows)
    report.visual_tokens = sum(row["visual_tokens"] for row in page_rows)
    report.errors.update(error.code.value for error in errors)
    pq.write_table(pa.Table.from_pylist(page_rows, schema=_pages_schema(pa)), out / PAGES_TABLE)
    error_rows = [
        {
            "path": storable(e.path),
            "doc_id": e.doc_id,
            "stage": e.stage.value,
            "code": e.code.value,
            "message": storable(e.message),
            "page": e.page,
        }
        for e in sorted(errors, key=lambda e: e.path)
    ]
    pq.write_table(pa.Table.from_pylist(error_rows, schema=_errors_schema(pa)), out / ERRORS_TABLE)
    return report


def _folder_name(result: RenderedDocument) -> str:
    """The stem (its first 200 bytes: a folder name holds 255) and the content hash."""
    stem = storable(result.source.path.stem).encode("utf-8", "backslashreplace")[:200]
    return f"{stem.decode('utf-8', 'ignore')}-{result.source.sha256[:8]}"


def _write_page(page: Page, folder: Path, result: RenderedDocument) -> dict[str, Any]:
    target = folder / f"page-{page.index + 1:04d}.png"
    page.to_pil().save(target, "PNG", compress_level=PNG_LEVEL)
    return {
        "path": storable(str(result.source.path)),
        "doc_id": page.doc_id,
        "page": page.index + 1,
        "width": page.width,
        "height": page.height,
        "dpi": page.dpi,
        "visual_tokens": page.visual_tokens,
        "image": str(target),
    }


def _pages_schema(pa):  # type: ignore[no-untyped-def]
    return pa.schema(
        [
            ("path", pa.string()),
            ("doc_id", pa.string()),
            ("page", pa.int32()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("dpi", pa.float64()),
            ("visual_tokens", pa.int32()),
            ("image", pa.string()),
        ]
    )


def _errors_schema(pa):  # type: ignore[no-untyped-def]
    return pa.schema(
        [
            ("path", pa.string()),
            ("doc_id", pa.string()),
            ("stage", pa.string()),
            ("code", pa.string()),
            ("message", pa.string()),
            ("page", pa.int32()),
        ]
    )


def summary_table(report: PagesReport):  # type: ignore[no-untyped-def]
    """A rich Table summing up a PagesReport (files, pages, tokens, errors by code)."""
    from rich.table import Table

    table = Table(title=f"docextract pages → {report.out}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files", str(report.files))
    table.add_row("rendered files", str(report.rendered_files))
    table.add_row("pages", str(report.pages))
    table.add_row("visual tokens", str(report.visual_tokens))
    for code, count in sorted(report.errors.items()):
        table.add_row(f"error: {code}", str(count))
    for code, count in sorted(report.warnings.items()):
        table.add_row(f"warning: {code}", str(count))
    return table
