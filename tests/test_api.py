"""The Python API: `import docextract`, the README's examples run as written, and calls from a
plain script without a main guard, from `python -c` and from inside a running event loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import docextract
from pipeline.cli.app import app
from pipeline.inputs.spawn_safety import _guarded_lines
from schemas.invoice import Invoice

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "documents"

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEXTRACT_")}
    env.update({"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    return env


def test_extract_gives_typed_objects_in_path_order():
    results = docextract.extract([EXAMPLES / "invoice"], schema="invoice", engine="null",
                                 render={"workers": 1})
    paths = sorted(str(p) for p in (EXAMPLES / "invoice").iterdir())
    assert [r.path for r in results] == paths
    assert all(isinstance(r, docextract.Result) and r.ok for r in results)
    assert all(isinstance(r.data, Invoice) for r in results)
    assert all(isinstance(r.data.grand_total, Decimal) for r in results)


def test_failures_are_results_not_exceptions(tmp_path):
    good = tmp_path / "card.jpg"
    good.write_bytes((EXAMPLES / "id_card" / "id_card_specimen.jpg").read_bytes())
    bad = tmp_path / "notes.pdf"
    bad.write_text("not a pdf at all")
    results = docextract.extract([tmp_path], schema="id_card", engine="null",
                                 render={"workers": 1})
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["card.jpg"].ok and by_name["card.jpg"].data.id_number == "110105199003070017"
    failed = by_name["notes.pdf"]
    assert not failed.ok and failed.status == "error" and failed.data is None
    assert failed.error is not None and failed.error.code == "not_a_document"


def test_extract_table_is_the_documents_table():
    table = docextract.extract_table(EXAMPLES / "receipt", schema="receipt", engine="null",
                                     render={"workers": 1})
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(list((EXAMPLES / "receipt").iterdir()))
    assert pa.types.is_struct(table.schema.field("data").type)
    assert set(table.column("status").to_pylist()) == {"ok"}
    errors = docextract.extract_table(EXAMPLES / "receipt", schema="receipt", engine="null",
                                      errors=True, render={"workers": 1})
    assert errors.num_rows == 0


def test_run_is_what_the_cli_does(tmp_path):
    out = tmp_path / "out"
    report = docextract.run(EXAMPLES / "bank_statement", out, schema="bank_statement",
                            engine="null", render={"workers": 1})
    assert report.extracted >= 1 and report.failed == 0
    assert list((out / "bank_statement" / "documents").glob("*.parquet"))
    assert (out / ".docextract" / "runs" / f"{report.run_id}.json").is_file()
    # The CLI over the same OUT finds every document already done: same identity, same ledger.
    done = CliRunner().invoke(app, ["run", str(EXAMPLES / "bank_statement"), "--schema",
                                    "bank_statement", "--engine", "null", "--out", str(out),
                                    "--log-format", "json"])
    assert done.exit_code == 0, done.output
    assert f'"skipped": {report.extracted}' in done.output


def test_an_engine_started_once_serves_many_calls():
    engine = docextract.open_engine("null")
    try:
        first = docextract.extract(EXAMPLES / "id_card", schema="id_card", engine=engine,
                                   render={"workers": 1})
        second = docextract.extract(EXAMPLES / "id_card", schema="id_card", engine=engine,
                                    render={"workers": 1})
    finally:
        engine.close()
    assert first[0].data == second[0].data


def test_errors_that_stop_a_run_raise():
    with pytest.raises(docextract.DocextractError, match="schema"):
        docextract.extract(EXAMPLES / "invoice", schema="no_such_schema", engine="null")


def _readme_examples() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_has_python_api_examples():
    assert len(_readme_examples()) >= 4


@pytest.mark.parametrize("index", range(4))
def test_readme_python_api_examples_run(tmp_path, index):
    """Each example, as written, in a fresh interpreter in a folder holding `examples/`."""
    code = _readme_examples()[index]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "example.py").write_text(code)
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr


_SCRIPT = """\
import docextract
{prelude}
results = docextract.extract([{paths}], schema="invoice", engine="null",
                             render={{"workers": 2}}, einvoice="model")
print("STATUS", sorted({{r.error.code if r.error else r.status for r in results}}))
print("COUNT", len(results))
"""


def _plain_script(tmp_path: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    paths = ", ".join(repr(str(p)) for p in sorted((EXAMPLES / "invoice").iterdir()))
    script = tmp_path / "plain.py"
    script.write_text(_SCRIPT.format(paths=paths, prelude=prelude))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=240)


def test_a_plain_script_without_a_main_guard_extracts_every_document(tmp_path):
    done = _plain_script(tmp_path)
    assert done.returncode == 0, done.stderr
    count = len(list((EXAMPLES / "invoice").iterdir()))
    assert f"COUNT {count}" in done.stdout and "STATUS ['ok']" in done.stdout, done.stdout
    assert done.stdout.count("COUNT") == 1
    assert "rendering in this process" in done.stderr


def test_without_the_fallback_the_same_script_loses_every_document(tmp_path):
    """The case the fallback exists for: spawned render processes run the script again."""
    prelude = ("import pipeline.inputs.renderpool as pool\n"
               "pool.works_in_this_process = lambda *args: False")
    done = _plain_script(tmp_path, prelude)
    assert "STATUS ['render_crash']" in done.stdout, done.stdout + done.stderr


def test_a_guarded_script_renders_in_processes(tmp_path):
    paths = repr(str(EXAMPLES / "invoice"))
    script = tmp_path / "guarded.py"
    script.write_text(
        "import docextract\n\n"
        "def main():\n"
        f"    results = docextract.extract([{paths}], engine='null', render={{'workers': 2}})\n"
        "    print('OK', all(r.ok for r in results))\n\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and "OK True" in done.stdout, done.stdout + done.stderr
    assert "rendering in this process" not in done.stderr


def test_from_python_c_inside_a_running_event_loop_like_jupyter(tmp_path):
    code = textwrap.dedent(f"""
        import asyncio, docextract

        async def cell():
            # A notebook cell: an event loop is already running in this thread.
            return docextract.extract({str(EXAMPLES / "invoice")!r}, engine="null",
                                      render={{"workers": 2}})

        results = asyncio.run(cell())
        print("OK", len(results), all(r.ok for r in results))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=240)
    count = len(list((EXAMPLES / "invoice").iterdir()))
    assert done.returncode == 0 and f"OK {count} True" in done.stdout, done.stdout + done.stderr
    assert "rendering in this process" not in done.stderr  # no main file: processes are safe


def test_guarded_lines_are_found_in_either_spelling(tmp_path):
    source = tmp_path / "s.py"
    source.write_text(
        "import x\n"
        "x.go()\n"
        "if __name__ == '__main__':\n"
        "    x.go(\n"
        "        1)\n"
        "if '__main__' == __name__:\n"
        "    x.go()\n"
        "if __name__ != '__main__':\n"
        "    x.go()\n"
    )
    _guarded_lines.cache_clear()
    assert _guarded_lines(str(source)) == frozenset({4, 5, 7})


def test_importing_docextract_stays_light():
    code = ("import sys, docextract\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sglang', 'typer', 'rich')"
            " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    assert set(docextract.__all__) >= {"extract", "extract_table", "run", "Result", "RunConfig"}


def test_the_readers_the_readme_names_are_public():
    from pipeline.inputs.einvoice import read_einvoice, read_embedded_einvoice
    from pipeline.output.current import current_table, current_view_sql

    assert docextract.current_table is current_table
    assert docextract.current_view_sql is current_view_sql
    assert docextract.read_einvoice is read_einvoice
    assert docextract.read_embedded_einvoice is read_embedded_einvoice
    assert {"current_table", "read_einvoice"} <= set(docextract.__all__)


def test_the_command_and_the_api_build_one_config_and_take_one_path(tmp_path, monkeypatch):
    import pipeline.api
    from pipeline.output.report import RunReport

    taken: list[object] = []

    def recorded(config, engine=None, reporter=None):  # type: ignore[no-untyped-def]
        taken.append(config)
        return RunReport("r", "invoice", str(config.out))

    monkeypatch.setattr(pipeline.api, "run_configured", recorded)
    monkeypatch.chdir(tmp_path)  # no docextract.toml here
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    done = CliRunner().invoke(app, [
        "run", str(inbox), "-o", str(out), "--engine", "null", "--max-pages", "3", "--dpi", "100",
        "--max-new-tokens", "64", "--base-url", "http://h:1/v1", "-q",
    ])  # fmt: skip
    assert done.exit_code == 0, done.output
    docextract.run(
        inbox, out, engine="null", max_pages=3, render={"dpi": 100},
        engine_settings={"max_new_tokens": 64, "openai": {"base_url": "http://h:1/v1"}},
    )  # fmt: skip
    command, api = taken
    assert command == api
    assert (api.max_pages, api.render.dpi, api.engine.max_new_tokens) == (3, 100, 64)  # type: ignore[attr-defined]


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


_NO_WRITES = """
import os, sys
def refuse(event, args):
    path = args[0] if event == "open" and isinstance(args[0], str | bytes) else None
    if path is not None and not str(path).startswith("/dev/"):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(f"docextract wrote {args[0]}")
    if event in ("os.mkdir", "os.rename", "shutil.rmtree") or (
        event == "sqlite3.connect" and args[0] != ":memory:"
    ):
        raise PermissionError(f"docextract wrote: {event} {args[0]}")
sys.addaudithook(refuse)
"""


def test_extract_writes_nothing_anywhere(tmp_path):
    """In a read-only working folder, with a private read-only temporary folder, and with
    every file write, folder creation and SQLite file refused in the process (an audit hook:
    read-only folders do not stop root): the results come back, and no folder gained a file."""
    from tests.run_helpers import make_unique_pdf

    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    make_unique_pdf(work / "a.pdf", 2, "READONLY-A")
    make_unique_pdf(work / "b.pdf", 1, "READONLY-B")
    (work / "empty.pdf").write_bytes(b"")
    before = _tree(work)
    code = _NO_WRITES + (
        "import docextract\n"
        "results = docextract.extract(['.'], engine='null')\n"
        "print([(r.path, r.status) for r in results])\n"
    )
    env = {**_env(), "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    for folder in (work, scratch):
        folder.chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True,
                              text=True, timeout=120, env=env)
    finally:
        for folder in (work, scratch):
            folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('a.pdf', 'ok'), ('b.pdf', 'ok'), ('empty.pdf', 'error')]"
    assert _tree(work) == before and _tree(scratch) == []
