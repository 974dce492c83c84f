"""export_pages and `docextract pages`: PNGs as the model sees them, tables read back."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.config import RenderConfig
from pipeline.inputs.pages import export_pages
from tests.fixtures_documents import USER_PASSWORD, corner_means

pytestmark = pytest.mark.slow
SMALL = RenderConfig(max_pixels=256 * 32 * 32, min_pixels=16 * 32 * 32)


def test_export_pages_writes_pngs_and_tables(
    document_folder: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = export_pages([document_folder["plain"].parent], out, SMALL, workers=2)
    pages = pq.read_table(out / "pages.parquet").to_pylist()
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert report.pages == len(pages) and report.files == len(document_folder)
    # every file accounted for: page rows or an error row
    accounted = {row["path"] for row in pages} | {row["path"] for row in errors}
    assert accounted == {str(p) for p in document_folder.values()}
    codes = {Path(row["path"]).name: row["code"] for row in errors}
    assert codes == {
        "encrypted.pdf": "encrypted",
        "truncated.pdf": "truncated",
        "zero_pages.pdf": "zero_pages",
        "huge_page.pdf": "page_too_large",
        "empty.pdf": "empty_file",
        "notes.pdf": "not_a_document",
    }
    assert all(row["path"] in row["message"] for row in errors)
    rotated = [row for row in pages if row["path"].endswith("rotated.pdf")]
    assert [row["page"] for row in rotated] == [1, 2, 3, 4]
    for row in pages:
        assert row["width"] % 32 == 0 and row["height"] % 32 == 0
        assert row["visual_tokens"] == (row["width"] // 32) * (row["height"] // 32) <= 256
        image = Image.open(row["image"])
        assert image.mode == "RGB" and image.size == (row["width"], row["height"])
    assert report.visual_tokens == sum(row["visual_tokens"] for row in pages)
    png = out / f"rotated-{rotated[0]['doc_id'][:8]}" / "page-0002.png"
    assert corner_means(Image.open(png))["top_left"] < 60
    assert report.errors["encrypted"] == 1 and report.rendered_files == 10


def test_cli_pages_with_passwords_and_summary(
    document_folder: dict[str, Path], tmp_path: Path
) -> None:
    secrets = tmp_path / "passwords.txt"
    secrets.write_text(f"first-guess\n{USER_PASSWORD}\n", encoding="utf-8")
    out = tmp_path / "cli"
    inputs = [
        str(document_folder["encrypted"]),
        str(document_folder["tiff"]),
        str(document_folder["plain"]),
    ]
    result = CliRunner().invoke(
        app,
        [
            "pages",
            *inputs,
            "--out",
            str(out),
            "--passwords-file",
            str(secrets),
            "--max-pixels",
            str(128 * 1024),
            "--workers",
            "1",
            "--dpi",
            "72",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "visual tokens" in result.output and "files" in result.output
    pages = pq.read_table(out / "pages.parquet").to_pylist()
    assert len(pages) == 1 + 3 + 2
    assert pq.read_table(out / "errors.parquet").num_rows == 0
    assert all(row["visual_tokens"] <= 128 for row in pages)


def test_cli_pages_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        app,
        [
            "pages",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--min-pixels",
            "9000000",
            "--max-pixels",
            "1000",
        ],
    )
    assert bad.exit_code == 2 and "min_pixels" in bad.output
    missing = runner.invoke(
        app,
        [
            "pages",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--passwords-file",
            str(tmp_path / "none.txt"),
        ],
    )
    assert missing.exit_code == 2
    assert runner.invoke(app, ["pages", str(tmp_path)]).exit_code == 2  # --out is required


def test_pages_output_inside_the_input_folder_is_not_read_back(tmp_path: Path) -> None:
    from pipeline.config import RenderConfig
    from pipeline.inputs.pages import export_pages
    from tests.fixtures_documents import make_pdf

    make_pdf(tmp_path / "a.pdf", pages=1)
    first = export_pages([tmp_path], tmp_path / "pages", RenderConfig(dpi=40), 1)
    second = export_pages([tmp_path], tmp_path / "pages", RenderConfig(dpi=40), 1)
    assert first.files == second.files == 1  # the PNGs and tables written are not inputs


def test_pages_of_files_whose_names_are_not_utf8(tmp_path: Path) -> None:
    from tests.run_helpers import make_latin1_names

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_latin1_names(inbox)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["pages", str(inbox), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    (page,) = pq.read_table(out / "pages.parquet").to_pylist()
    assert page["path"] == str(inbox / "re\\xe7u.png")
    (error,) = pq.read_table(out / "errors.parquet").to_pylist()
    assert error["code"] == "empty_file" and error["path"].endswith("vac\\xedo.pdf")


def test_a_long_pdf_is_rendered_a_window_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """Pages come back in windows of PAGES_PER_WINDOW, so memory holds one window; every page
    still ends up once, in order."""
    import pipeline.inputs.pages as pages_module
    from pipeline.inputs.renderpool import RenderPool
    from tests.run_helpers import make_unique_pdf

    monkeypatch.setattr(pages_module, "PAGES_PER_WINDOW", 3)
    asked: list[tuple[int, int | None]] = []
    real_render = RenderPool.render

    def render(self, tasks):  # type: ignore[no-untyped-def]
        tasks = list(tasks)
        asked.extend((t.first_page, t.window_pages) for t in tasks)
        return real_render(self, tasks)

    monkeypatch.setattr(RenderPool, "render", render)
    make_unique_pdf(tmp_path / "long.pdf", 10, "LONG")
    report = export_pages([tmp_path / "long.pdf"], tmp_path / "out", SMALL, workers=1)
    assert asked == [(0, 3), (3, 3), (6, 3), (9, 3)]
    rows = pq.read_table(tmp_path / "out" / "pages.parquet").to_pylist()
    assert [row["page"] for row in rows] == list(range(1, 11))
    assert (report.pages, report.rendered_files) == (10, 1)
    assert len(list((tmp_path / "out").glob("long-*/page-*.png"))) == 10


def test_pages_json_is_one_json_object_with_counts_by_code(tmp_path: Path) -> None:
    import json

    from tests.run_helpers import make_unique_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "good.pdf", 2, "PAGES-JSON")
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["pages", str(inbox), "--out", str(out), "--workers", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["pages"]) == (3, 2)
    assert summary["errors"]["empty_file"] == 1 and sum(summary["errors"].values()) == 2


def test_a_file_name_near_the_limit_gets_a_page_folder(tmp_path: Path) -> None:
    from tests.run_helpers import make_unique_pdf

    long_name = tmp_path / ("a" * 250 + ".pdf")
    make_unique_pdf(long_name, 1, "LONG")
    result = CliRunner().invoke(app, ["pages", str(long_name), "--out", str(tmp_path / "pg")])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "pg").iterdir() if p.is_dir()]
    assert len(folder.name.encode()) <= 255 and (folder / "page-0001.png").is_file()
