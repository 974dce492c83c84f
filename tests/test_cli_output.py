"""How the commands talk: plain unwrapped lines and tab-separated tables in a pipe or a log,
`--json` where a command prints a table, -q and -v, a first line naming engine and model, an
ETA, and shell completion."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from rich.table import Table
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.cli.common import make_console, print_table, wants_rich
from pipeline.engines.base import EngineResult
from pipeline.engines.null import NullEngine
from pipeline.output.layout import runs_dir
from pipeline.output.progress import PlainReporter, eta_text
from pipeline.output.report import RunReport
from tests.run_helpers import make_unique_pdf

ROOT = Path(__file__).resolve().parents[1]
BOX = set("│┃─━┏┓┗┛┡┩╇╈└┘┌┐├┤┬┴┼")
runner = CliRunner()


def _inbox(tmp_path: Path, name: str = "doc.pdf") -> Path:
    inbox = tmp_path / "in"
    inbox.mkdir(parents=True)
    make_unique_pdf(inbox / name, 1, "CLI")
    return inbox


def _run(*args: str):
    return runner.invoke(app, ["run", "--engine", "null", "--workers", "1", *args])


def test_in_a_pipe_the_summary_is_plain_tab_separated_lines(tmp_path):
    result = _run(str(_inbox(tmp_path)), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert not BOX & set(result.stdout), result.stdout
    lines = result.stdout.splitlines()
    assert "extracted\t1" in lines and "failed\t0" in lines


def test_rich_is_kept_when_asked_for(tmp_path):
    result = _run(str(_inbox(tmp_path)), "--out", str(tmp_path / "out"), "--log-format", "rich")
    assert result.exit_code == 0, result.output
    assert BOX & set(result.stdout)


def test_a_dry_run_never_wraps_or_cuts_a_long_path(tmp_path):
    name = "a-rather-long-supplier-name-" * 8 + "invoice.pdf"
    inbox = _inbox(tmp_path, name)
    result = _run(str(inbox), "--out", str(tmp_path / "out"), "--dry-run")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    assert rows[0] == ["file", "kind", "pages", "visual tokens", "problem"]
    assert rows[1][0] == str(inbox / name) and rows[1][1] == "pdf"


def test_dry_run_json_is_the_plan(tmp_path):
    inbox = _inbox(tmp_path)
    result = _run(str(inbox), "--out", str(tmp_path / "out"), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert [entry["path"] for entry in plan["planned"]] == [str(inbox / "doc.pdf")]
    assert plan["planned"][0]["pages"] == 1


def test_run_json_is_the_summary(tmp_path):
    result = _run(str(_inbox(tmp_path)), "--out", str(tmp_path / "out"), "--json")
    summary = json.loads(result.stdout)
    assert (summary["extracted"], summary["failed"], summary["engine"]) == (1, 0, "null")
    assert summary["answers_by_replica"] == {}  # the null engine has no replicas


class _TwoReplicas(NullEngine):
    """The null engine behind data-parallel replicas that take the requests in turn."""

    replicas = 2

    def __init__(self, config: object = None, **_: object) -> None:
        super().__init__()
        self.answers = 0

    async def generate(self, requests):  # type: ignore[no-untyped-def]
        outcomes = await super().generate(requests)
        for number, outcome in enumerate(outcomes):
            assert isinstance(outcome, EngineResult)
            outcomes[number] = replace(outcome, replica=self.answers % self.replicas)
            self.answers += 1
        return outcomes


class _OneReplica(_TwoReplicas):
    replicas = 1


def _run_on(engine: type[NullEngine], tmp_path: Path, monkeypatch, *args: str):
    import pipeline.engines

    monkeypatch.setattr(pipeline.engines, "build_engine", engine)
    inbox = tmp_path / "in"
    inbox.mkdir()
    for number in range(4):
        make_unique_pdf(inbox / f"doc{number}.pdf", 1, f"REPLICA{number}")
    return _run(str(inbox), "--out", str(tmp_path / "out"), *args)


def test_the_summary_counts_the_answers_of_each_replica(tmp_path, monkeypatch):
    result = _run_on(_TwoReplicas, tmp_path, monkeypatch, "--log-format", "plain")
    assert result.exit_code == 0, result.output
    assert "replicas answered\t0: 2 · 1: 2" in result.stdout.splitlines()
    (saved,) = runs_dir(tmp_path / "out").glob("*.json")
    assert json.loads(saved.read_text())["answers_by_replica"] == {"0": 2, "1": 2}


def test_the_json_summary_counts_the_answers_of_each_replica(tmp_path, monkeypatch):
    result = _run_on(_TwoReplicas, tmp_path, monkeypatch, "--json")
    assert json.loads(result.stdout)["answers_by_replica"] == {"0": 2, "1": 2}


def test_one_replica_gets_no_replica_line(tmp_path, monkeypatch):
    result = _run_on(_OneReplica, tmp_path, monkeypatch, "--log-format", "plain")
    assert result.exit_code == 0, result.output
    assert "extracted\t4" in result.stdout.splitlines()
    assert "replicas answered" not in result.stdout


def test_replica_keys_are_in_numeric_order():
    report = RunReport("r", "invoice", "out")
    report.answers_by_replica.update({10: 1, 2: 3})
    assert list(report.to_dict()["answers_by_replica"].items()) == [("2", 3), ("10", 1)]


def test_the_first_line_names_engine_and_model(tmp_path):
    result = _run(str(_inbox(tmp_path)), "--out", str(tmp_path / "out"), "--model", "Org/M")
    first = result.stderr.splitlines()[0]
    assert first.startswith("docextract ") and "engine null" in first and "model Org/M" in first


def test_quiet_prints_only_failures(tmp_path):
    inbox = _inbox(tmp_path)
    clean = runner.invoke(app, ["-q", "run", "--engine", "null", str(inbox), "--out",
                                str(tmp_path / "out")])
    assert clean.exit_code == 0 and clean.stdout == "" and clean.stderr == "", clean.output
    (inbox / "bad.pdf").write_text("not a pdf")
    failing = _run("-q", str(inbox), "--out", str(tmp_path / "out"))
    assert failing.exit_code == 1 and failing.stdout == ""
    assert failing.stderr.startswith("error not_a_document: ") and "bad.pdf" in failing.stderr


def test_verbose_logs_the_engine_choice(tmp_path):
    result = runner.invoke(app, ["-v", "run", "--engine", "null", str(_inbox(tmp_path)),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "docextract: engine: null (--engine null was asked for)" in result.stderr
    plain = _run(str(_inbox(tmp_path / "again")), "--out", str(tmp_path / "out2"))
    assert "engine: null (" not in plain.stderr


def test_schemas_list_plain_and_json():
    plain = runner.invoke(app, ["schemas"])
    assert plain.exit_code == 0 and not BOX & set(plain.stdout)
    assert any(line.startswith("cn_vat_invoice\t") for line in plain.stdout.splitlines())
    listed = json.loads(runner.invoke(app, ["schemas", "--json"]).stdout)
    assert [s["name"] for s in listed] == [
        "invoice", "receipt", "cn_vat_invoice", "id_card", "bank_statement", "medical_invoice",
        "property_certificate", "page_text",
    ]


def test_pages_json(tmp_path):
    result = runner.invoke(app, ["pages", str(_inbox(tmp_path)), "--out", str(tmp_path / "p"),
                                 "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pages"] == 1


def test_plain_tables_never_cut_a_cell():
    table = Table("field", "F1", title="Fields")
    long_name = "seller.address.street_and_house_number_with_building_" * 3
    table.add_row(long_name, "0.981")
    stream = io.StringIO()
    print_table(table, make_console(False, stream), rich=False)
    assert stream.getvalue().splitlines() == ["# Fields", "field\tF1", f"{long_name}\t0.981"]
    assert not wants_rich("auto", io.StringIO()) and wants_rich("rich", io.StringIO())


def test_eta_from_the_pace_so_far():
    assert eta_text(0, 10, 5.0) == "?"
    assert eta_text(5, 10, 10.0) == "10s"
    assert eta_text(1, 20, 10.0) == "3m10s"
    assert eta_text(1, 1000, 10.0) == "2h46m"
    assert eta_text(10, 10, 1.0) == "0s"
    stream = io.StringIO()
    reporter = PlainReporter(stream, every_s=0)
    reporter.start(RunReport("r", "invoice", "out"), planned=4)
    reporter.item_done("a.pdf", 1, 10, None, "")
    assert "progress 1/4, eta " in stream.getvalue()


def test_shell_completion_is_offered_and_completes_commands(tmp_path):
    shim = tmp_path / "docextract"
    shim.write_text(f"#!{sys.executable}\nfrom pipeline.cli.app import main\nmain()\n")
    shim.chmod(0o755)
    # --show-completion names the shell it runs under: run it from bash (a second command keeps
    # bash from replacing itself with the first), whatever runs the tests
    shown = subprocess.run(["bash", "-c", f"'{shim}' --show-completion; exit $?"],
                           capture_output=True,
                           text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "_DOCEXTRACT_COMPLETE=complete_bash" in shown.stdout
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_DOCEXTRACT_COMPLETE": "complete_bash",
           "COMP_WORDS": "docextract sch", "COMP_CWORD": "1"}
    done = subprocess.run([str(shim)], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["schemas"], done.stdout + done.stderr


def _complete(tmp_path: Path, words: str) -> list[str]:
    """What bash completion offers for the last of `words` (run as the shell's hook runs)."""
    shim = tmp_path / "docextract"
    shim.write_text(f"#!{sys.executable}\nfrom pipeline.cli.app import main\nmain()\n")
    shim.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_DOCEXTRACT_COMPLETE": "complete_bash",
           "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}  # fmt: skip
    done = subprocess.run([str(shim)], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_completes_engine_and_schema_values(tmp_path):
    (tmp_path / "my_invoice.py").write_text("")
    (tmp_path / "my_notes.txt").write_text("")
    assert _complete(tmp_path, "docextract run in --engine n") == ["null"]
    assert _complete(tmp_path, "docextract run in -e ") == [
        "auto", "sglang", "openai", "transformers", "null"
    ]  # fmt: skip
    assert _complete(tmp_path, "docextract run in --schema i") == ["invoice", "id_card"]
    assert _complete(tmp_path, "docextract run in --schema my") == ["my_invoice.py"]
    assert _complete(tmp_path, "docextract bench --engine s") == ["sglang"]


def test_shell_completion_of_schema_for_export_and_review_lists_what_out_holds(tmp_path):
    for schema in ("invoice", "receipt", "id_card"):
        (tmp_path / "out" / schema / "documents").mkdir(parents=True)
    (tmp_path / "out" / ".docextract").mkdir()
    assert _complete(tmp_path, "docextract export out --schema ") == [
        "id_card", "invoice", "receipt"
    ]  # fmt: skip
    assert _complete(tmp_path, "docextract review out --schema i") == ["id_card", "invoice"]
    assert _complete(tmp_path, "docextract export missing --schema ") == []


def test_a_json_log_holds_only_json_lines(capsys) -> None:  # type: ignore[no-untyped-def]
    """Python's warnings and asyncio's records (an exception while a stopped run's event loop
    shuts down) reach stderr as JSON events in a JSON log, not as text among them."""
    import logging
    import types
    import warnings

    from pipeline.cli.common import log_as_json, set_verbosity
    from pipeline.errors import RunInterrupted

    set_verbosity(types.SimpleNamespace(meta={}), 0)  # type: ignore[arg-type]
    log_as_json(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)
        stopped = RunInterrupted(15)
        logging.getLogger("asyncio").error("unhandled exception during shutdown",
                                           exc_info=(type(stopped), stopped, None))  # fmt: skip
    finally:
        log_as_json(False)
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # every line parses
    assert [e["logger"] for e in events] == ["py.warnings", "asyncio"]
    assert "Corrupt EXIF data" in events[0]["message"]
    assert events[1]["exception"].startswith("RunInterrupted")
