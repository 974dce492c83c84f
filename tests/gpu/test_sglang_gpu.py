"""docextract on the real sglang Engine: extraction into Parquet in bf16 and block FP8, a
multi-page request, a refused request failing alone, every way a run can be stopped, and two
data-parallel replicas sharing a run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.engines.gpu import visible_gpu_count
from pipeline.output.layout import ledger_path
from tests.gpu.conftest import (
    EXAMPLES,
    environment,
    run_args,
    run_docextract,
    sglang_on_gpu,
    write_config,
)
from tests.run_helpers import ROOT, ledger_items, make_unique_pdf

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not sglang_on_gpu(), reason="needs sglang and a CUDA GPU"),
    # A guard against a hang, with room for tests beside it (make gpu-test runs four at once).
    pytest.mark.timeout(600),
]


def _table(out: Path, table: str) -> list[dict]:
    files = sorted((out / "bounded" / table).glob("part-*.parquet"))
    return pq.read_table(files).to_pylist() if files else []


def _summary(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_status(out: Path) -> str:
    db = sqlite3.connect(ledger_path(out))
    (status,) = db.execute("SELECT status FROM runs").fetchone()
    db.close()
    return status


def test_examples_in_bf16_multi_page_request_and_a_refused_one(gpu_models, examples_inbox,
                                                               tmp_path):
    out = tmp_path / "out"
    config = write_config(tmp_path / "docextract.toml")
    done = run_docextract(
        run_args(examples_inbox, out, gpu_models["bf16"], config) + ["--max-failure-rate", "0.1"]
    )
    assert done.returncode == 0, done.stderr
    summary = _summary(done)
    assert summary["engine"] == "sglang" and summary["ended"] == "finished"
    documents, errors = _table(out, "documents"), _table(out, "errors")
    by_name = {Path(row["source_path"]).name: row for row in documents}
    assert set(by_name) == {p.name for p in EXAMPLES} | {"three_pages.pdf"}
    for row in documents:  # constrained JSON that validated into the typed columns
        assert row["data"]["name"].isalpha() and 0 <= row["data"]["score"] <= 10
        assert row["engine"] == "sglang" and row["completion_tokens"] > 0
    three, one = by_name["three_pages.pdf"], by_name["en_classic_invoice.pdf"]
    assert three["page_count"] == 3 and three["page"] is None  # one request, three images
    assert three["prompt_tokens"] >= three["visual_tokens"] > 2 * one["visual_tokens"]
    assert [(Path(e["source_path"]).name, e["code"], e["attempts"]) for e in errors] == [
        ("twelve_pages.pdf", "request_rejected", 1)  # refused once, not retried
    ]
    assert "context length of 8192" in errors[0]["message"]


def test_examples_in_block_fp8(gpu_models, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in EXAMPLES:
        (inbox / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    config = write_config(tmp_path / "docextract.toml")
    done = run_docextract(run_args(inbox, out, gpu_models["fp8"], config))
    assert done.returncode == 0, done.stderr
    assert len(_table(out, "documents")) == len(EXAMPLES) and not _table(out, "errors")


def test_compact_json_answers_through_sglangs_ebnf_grammar(gpu_models, tmp_path):
    """Random weights: the bounded schema as the grammar of its whitespace-free JSON (sglang's
    `ebnf`): every example still gets a valid row."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in EXAMPLES:
        (inbox / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    config = write_config(tmp_path / "docextract.toml", compact_json=True)
    done = run_docextract(run_args(inbox, out, gpu_models["bf16"], config) + ["--json"])
    assert done.returncode == 0, done.stderr
    assert len(_table(out, "documents")) == len(EXAMPLES) and not _table(out, "errors")
    print(f"compact: {_summary(done)['completion_tokens']} output tokens")


def test_every_built_in_schema_is_a_grammar_sglang_compiles(gpu_models):
    """sglang 0.5.17 has no schema pre-check (0.5.23's runs on CPU): one request per built-in
    schema through the real Engine, each answered (random weights: cut at the cap), none failed
    for its grammar (tests/gpu/schema_grammars.py)."""
    import sys

    from schemas import BUILTIN_SCHEMAS

    done = run_docextract(
        [sys.executable, "-m", "tests.gpu.schema_grammars", str(gpu_models["bf16"])]
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"schema"')]
    assert [line["schema"] for line in lines] == list(BUILTIN_SCHEMAS)
    assert [line for line in lines if not line["answered"]] == []
    assert all(line["completion_tokens"] >= 1 for line in lines)
    print("\n".join(f"{line['schema']}: {line['text']!r}" for line in lines))


def test_page_text_reads_a_scan_with_the_model_and_a_born_digital_page_without(
    gpu_models, tmp_path
):
    """Random weights: the text is bounded to short words (tests/data/bounded_page_text.py);
    the boxes are page_text's own, four integers on the 0-1000 grid."""
    import pymupdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_unique_pdf(inbox / "digital.pdf", 1, "DIGITAL")
    with pymupdf.open(inbox / "digital.pdf") as doc:
        doc[0].get_pixmap(dpi=72).save(inbox / "scan.png")
    out = tmp_path / "out"
    args = run_args(inbox, out, gpu_models["bf16"], write_config(tmp_path / "docextract.toml"))
    schema = str(ROOT / "tests" / "data" / "bounded_page_text.py") + ":BoundedPageText"
    args[args.index("--schema") + 1] = schema
    done = run_docextract(args)
    assert done.returncode == 0, done.stderr
    folder = out / "bounded_page_text"
    documents = pq.read_table(folder / "documents").to_pylist()
    engines = {Path(row["source_path"]).name: row["engine"] for row in documents}
    assert engines == {"digital.pdf": "text_layer", "scan.png": "sglang"}
    lines = pq.read_table(folder / "lines").to_pylist()
    assert "text_layer" in {row["source"] for row in lines}
    (scan,) = [row for row in documents if row["engine"] == "sglang"]
    assert 1 <= len(scan["data"]["lines"]) == sum(row["source"] == "model" for row in lines)
    for line in scan["data"]["lines"]:
        x0, y0, x1, y1 = line["bbox_2d"]
        assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000
    for row in lines:
        if row["source"] == "model":
            assert all(0 <= row[k] <= 1 for k in ("nx0", "ny0", "nx1", "ny1"))
            assert 0 <= row["x1"] <= 595 and 0 <= row["y1"] <= 842  # A4 at 72 dpi: points
    print(f"scan lines: {scan['data']['lines']}")


def test_log_probabilities_flow_through_sglang_into_every_fields_confidence(
    gpu_models, tmp_path
):
    """Random weights: the schema allows only values the page prints (each once), so every
    field is found exactly and its confidence is sglang's probability of the model's choice,
    below 1 (tests/test_confidence_model.py: the same through transformers, and the null
    engine's 1)."""
    from tests.test_confidence_model import SCHEMA, choices_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    choices_pdf(inbox / "choices.pdf")
    out = tmp_path / "out"
    args = run_args(inbox, out, gpu_models["bf16"], write_config(tmp_path / "docextract.toml"))
    args[args.index("--schema") + 1] = SCHEMA
    done = run_docextract([*args, "--grounding"])
    assert done.returncode == 0, done.stderr
    fields = pq.read_table(out / "choice" / "fields").to_pylist()
    assert sorted(f["field"] for f in fields) == ["colour", "size"]
    for field in fields:
        assert (field["source"], field["match"]) == ("text_layer", "exact")
        assert 0.0 < field["confidence"] < 1.0, field
    print(f"confidence: {[(f['field'], f['value'], f['confidence']) for f in fields]}")


def test_model_boxes_ask_sglang_for_a_scans_lines_and_box_every_value_on_the_page(
    gpu_models, tmp_path
):
    """Random weights: the model's reading of the scan is bounded to the page's own words,
    each line's box given an area by its grammar (tests/data/choice_lines.py, standing in for
    page_text through tests/gpu/choice_lines_cli.py), so that each value is located among the
    lines sglang wrote and gets the box the model drew for its line, on the page
    (tests/test_model_boxes.py shows the locating with a perfect reader)."""
    import pymupdf

    from tests.test_confidence_model import SCHEMA, choices_pdf

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    choices_pdf(tmp_path / "choices.pdf")
    with pymupdf.open(tmp_path / "choices.pdf") as doc:
        doc[0].get_pixmap(dpi=72).save(inbox / "scan.png")
    config = write_config(tmp_path / "docextract.toml")
    summaries = {}
    for boxes in ("--no-model-boxes", "--model-boxes"):
        out = tmp_path / boxes
        args = run_args(inbox, out, gpu_models["bf16"], config)
        args[1:3] = ["-m", "tests.gpu.choice_lines_cli"]
        args[args.index("--schema") + 1] = SCHEMA
        done = run_docextract([*args, "--grounding", boxes, "--json"])
        assert done.returncode == 0, done.stderr
        summaries[boxes] = _summary(done)
    fields = pq.read_table(tmp_path / "--model-boxes" / "choice" / "fields").to_pylist()
    assert sorted(f["field"] for f in fields) == ["colour", "size"]
    for field in fields:
        assert (field["source"], field["match"], field["on_page"]) == ("model_box", "exact", 1)
        # top-left corners in [0, 499] of the grid, bottom-right ones in [500, 1000]
        assert 0 <= field["nx0"] < 0.5 <= field["nx1"] <= 1, field
        assert 0 <= field["ny0"] < 0.5 <= field["ny1"] <= 1, field
    (row,) = pq.read_table(tmp_path / "--model-boxes" / "choice" / "documents").to_pylist()
    assert row["warnings"] == []
    asked = {k: s["completion_tokens"] for k, s in summaries.items()}
    assert asked["--model-boxes"] > asked["--no-model-boxes"]
    boxed = [(f["field"], f["value"], *(f[k] for k in ("nx0", "ny0", "nx1", "ny1")))
             for f in fields]  # fmt: skip
    print(f"output tokens {asked}; fields and boxes {boxed}")


def _start_run(inbox: Path, out: Path, model: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        run_args(inbox, out, model, config),
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _wait_for_commits(process: subprocess.Popen, out: Path, at_least: int) -> None:
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-4000:]
        if ledger_path(out).exists() and len(ledger_items(out)["ok"]) >= at_least:
            return
        time.sleep(0.5)
    raise AssertionError("no document was committed in time")


def _engine_processes(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _scheduler(pid: int):
    for child in _engine_processes(pid):
        name = " ".join(child.cmdline()) + child.name()
        if "scheduler" in name:
            return child
    raise AssertionError("no sglang scheduler process found")


@pytest.mark.parametrize(
    ("how", "exit_code", "ended", "says"),
    [
        ("ctrl-c", 130, "interrupted", "stopped by SIGINT"),
        ("sigterm", 143, "interrupted", "stopped by SIGTERM"),
        ("kill-scheduler", 6, "engine_died", "died"),
    ],
)
def test_a_stopped_run_keeps_its_work(gpu_models, big_inbox, tmp_path, how, exit_code, ended,
                                      says):
    pytest.importorskip("psutil")
    out = tmp_path / "out"
    # Few requests in flight, so documents are committed steadily while the run goes on.
    config = write_config(tmp_path / "docextract.toml", max_running_requests=8)
    process = _start_run(big_inbox, out, gpu_models["bf16"], config)
    try:
        _wait_for_commits(process, out, at_least=8)
        children = _engine_processes(process.pid)
        if how == "ctrl-c":
            os.killpg(os.getpgid(process.pid), signal.SIGINT)  # the group, as a terminal does
        elif how == "sigterm":
            process.send_signal(signal.SIGTERM)
        else:
            _scheduler(process.pid).kill()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    print(f"{how}: exit {process.returncode}\n{stderr[-3000:]}")
    assert process.returncode == exit_code, stderr[-4000:]
    assert says in stderr and "committed" in stderr
    assert json.loads(stdout.strip().splitlines()[-1])["ended"] == ended
    assert _run_status(out) == ended
    committed = ledger_items(out)
    documents = _table(out, "documents")
    assert len(committed["ok"]) >= 8
    assert sorted(committed["ok"]) == sorted(row["item_id"] for row in documents)
    time.sleep(2)
    left = [c for c in children if c.is_running() and c.status() != "zombie"]
    assert not left, [(c.pid, c.name(), c.cmdline()[:3]) for c in left]


@pytest.mark.timeout(900)  # two engine starts; 255 s alone on an H100, more beside other tests
def test_a_run_whose_scheduler_is_killed_starts_again_and_finishes(gpu_models, big_inbox,
                                                                   tmp_path):
    """--engine-restarts: the same process becomes the same command again (exec), with a new
    engine on the GPU the dead one left, and extracts what was not committed: the requests in
    flight at the death last, one at a time."""
    pytest.importorskip("psutil")
    out = tmp_path / "out"
    config = write_config(tmp_path / "docextract.toml", max_running_requests=8)
    args = [*run_args(big_inbox, out, gpu_models["bf16"], config), "--engine-restarts", "1"]
    process = subprocess.Popen(args, cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for_commits(process, out, at_least=8)
        first_engine = _engine_processes(process.pid)
        _scheduler(process.pid).kill()
        stdout, stderr = process.communicate(timeout=500)
    finally:
        if process.poll() is None:
            process.kill()
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    restarts = [e for e in events if e.get("event") == "restart"]
    finishes = [e["ended"] for e in events if e.get("event") == "finish"]
    print(f"restart: exit {process.returncode}, starts ended {finishes}, {restarts}")
    assert process.returncode == 0, stderr[-4000:]
    assert [e["restart"] for e in restarts] == [1] and finishes == ["engine_died", "finished"]
    # the requests sglang had when it died are read last, one at a time, and all pass
    assert "requests in flight last, one at a time" in restarts[0]["message"]
    notes = [e["message"] for e in events if e.get("event") == "note"]
    assert any(n.startswith("now reading, one request at a time") for n in notes), notes
    _documents_once(out, big_inbox)
    left = [c for c in first_engine if c.is_running() and c.status() != "zombie"]
    assert not left, [(c.pid, c.name(), c.cmdline()[:3]) for c in left]


def _documents_once(out: Path, inbox: Path) -> None:
    """Every file of `inbox` is one ok row of the documents table and one done ledger item."""
    documents = _table(out, "documents")
    sources = sorted(row["source_path"] for row in documents)
    assert sources == sorted(str(p) for p in inbox.iterdir())
    assert {row["status"] for row in documents} == {"ok"} and not _table(out, "errors")
    committed = ledger_items(out)
    assert sorted(committed["ok"]) == sorted(row["item_id"] for row in documents)
    assert not committed["error"]


@pytest.mark.skipif(visible_gpu_count() < 2, reason="needs two CUDA GPUs")
def test_dp_two_replicas_both_answer_and_every_document_lands_once(gpu_models, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(40):
        make_unique_pdf(inbox / f"doc{number:02d}.pdf", 1, f"DP{number}")
    out = tmp_path / "out"
    config = write_config(tmp_path / "docextract.toml", dp_size=2, mem_fraction_static=0.5)
    done = run_docextract(run_args(inbox, out, gpu_models["bf16"], config))
    assert done.returncode == 0, done.stderr
    summary = _summary(done)
    assert summary["ended"] == "finished" and summary["extracted"] == 40
    by_replica = summary["answers_by_replica"]
    assert set(by_replica) == {"0", "1"} and min(by_replica.values()) > 0, by_replica
    _documents_once(out, inbox)
