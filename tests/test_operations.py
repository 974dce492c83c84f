"""The ways docextract is operated: `docextract bench`, the cron wrapper and the CI targets."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.run_helpers import ROOT, make_unique_pdf


def _env_with_docextract(**extra: str) -> dict[str, str]:
    import sys

    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def test_bench_reports_figures_for_the_null_engine() -> None:
    result = CliRunner().invoke(app, ["bench", "--engine", "null", "--docs", "4", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["engine"] == "null" and figures["documents"] == 4 and figures["failed"] == 0
    assert figures["pages"] >= 4 and figures["pages_per_s"] > 0
    assert 0 < figures["visual_tokens_per_page"] <= 1300
    assert figures["prompt_tokens_per_page"] > figures["visual_tokens_per_page"]
    assert figures["hardware"]["cpu_cores"] >= 1
    assert figures["latency_p50_s"] is not None


def test_bench_figures_of_a_run_that_extracted_nothing_have_no_visual_tokens_per_page(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from pipeline.bench.throughput import run_figures
    from pipeline.output.report import RunReport

    # every answer failed validation, as with random weights: the pages were read all the same
    report = RunReport("r", "invoice", str(tmp_path), failed=3, failed_pages=5, elapsed_s=2.0)
    figures = run_figures(report, datetime.now(UTC))
    assert figures["pages"] == 5 and figures["pages_per_s"] == 2.5
    assert figures["visual_tokens_per_page"] is None


@pytest.mark.slow
def test_cron_wrapper_logs_json_and_skips_on_the_second_night(tmp_path: Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "NIGHT-A")
    script = ROOT / "examples" / "cron" / "docextract-nightly.sh"
    env = _env_with_docextract(
        INBOX=str(inbox), OUT=str(out), SCHEMA="invoice", DOCEXTRACT_ENGINE__NAME="null"
    )
    for _night in (1, 2):
        done = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    summaries = [
        json.loads(line) for line in (out / "logs" / "summary.jsonl").read_text().splitlines()
    ]
    assert [s["extracted"] for s in summaries] == [1, 0]
    assert summaries[1]["skipped"] == 1
    events = [
        json.loads(line)["event"]
        for line in (out / "logs" / "docextract.jsonl").read_text().splitlines()
    ]
    assert events.count("start") == 1 and events.count("finish") == 1  # night 2 had no work


def test_cron_wrapper_runs_with_crons_bare_path(tmp_path: Path) -> None:
    """Copied into a crontab, the wrapper finds the checkout's .venv on cron's PATH alone."""
    import sys

    venv_docextract = ROOT / ".venv" / "bin" / "docextract"
    if Path(sys.executable).parent != venv_docextract.parent or not venv_docextract.exists():
        pytest.skip("runs where the suite runs from the checkout's .venv (make test)")
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    make_unique_pdf(inbox / "a.pdf", 1, "CRON-PATH")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "INBOX": str(inbox),
           "OUT": str(out), "DOCEXTRACT_ENGINE__NAME": "null", "OMP_NUM_THREADS": "1"}
    script = ROOT / "examples" / "cron" / "docextract-nightly.sh"
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "logs" / "summary.jsonl").read_text())["extracted"] == 1
    missing = subprocess.run(["bash", str(script)], env={**env, "DOCEXTRACT": "/nowhere"},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 127 and "set DOCEXTRACT=" in missing.stderr


@pytest.mark.slow
def test_ci_targets_gate_on_the_exit_code(tmp_path: Path) -> None:
    docs, truth = tmp_path / "docs", tmp_path / "truth" / "invoice"
    docs.mkdir()
    truth.mkdir(parents=True)
    make_unique_pdf(docs / "inv.pdf", 1, "CI")
    (truth / "inv.json").write_text(json.dumps({"invoice_number": "CI-1", "grand_total": "9.99"}))
    common = [
        "make",
        "-s",
        "-f",
        str(ROOT / "examples" / "ci" / "Makefile"),
        "accuracy",
        f"DOCS={docs}",
        f"OUT={tmp_path / 'out'}",
        "ENGINE=null",
        f"TRUTH={tmp_path / 'truth'}",
    ]
    env = _env_with_docextract()
    passing = subprocess.run(
        [*common, "MIN_F1=0"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert passing.returncode == 0, passing.stderr
    failing = subprocess.run(
        [*common, "MIN_F1=0.9"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert failing.returncode != 0  # the null engine's answers score far below 0.9
    assert "Error 1" in failing.stderr  # eval exits 1 below --min-f1, and make passes it on


@pytest.mark.slow
def test_a_broken_file_fails_every_ci_build_not_only_the_first(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_unique_pdf(docs / "good.pdf", 1, "GOOD")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00" * 64)
    extract = ["make", "-s", "-f", str(ROOT / "examples" / "ci" / "Makefile"), "extract",
               f"DOCS={docs}", f"OUT={tmp_path / 'out'}", "ENGINE=null"]
    env = _env_with_docextract()
    builds = [subprocess.run(extract, env=env, capture_output=True, text=True, timeout=120,
                             cwd=tmp_path) for _ in range(2)]
    assert [build.returncode for build in builds] == [2, 2]  # make's own code for a failure
    assert all("Error 1" in build.stderr for build in builds)  # docextract exited 1 each time


def test_the_readme_documents_every_exit_code() -> None:
    """Cron and CI gate on the exit code: each one the CLI can return is in the README, and
    every error code too."""
    from pipeline.errors import ErrorCode, ExitCode

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [code for code in ExitCode if f"**{int(code)}**" not in readme] == []
    assert [code for code in ErrorCode if f"`{code}`" not in readme] == []


@pytest.mark.slow
def test_the_ci_example_runs_from_make_c_with_each_folders_schema(tmp_path: Path) -> None:
    """`make -C examples/ci check` finds the bundled examples and extracts each folder with its
    own schema, then scores each; a score below MIN_F1 fails the build after all are scored."""
    from pipeline.output.current import current_row_dicts

    out = tmp_path / "out"
    env = _env_with_docextract(PYTHONPATH=str(ROOT))
    check = ["make", "-C", str(ROOT / "examples" / "ci"), "check", "ENGINE=null", f"OUT={out}"]
    done = subprocess.run([*check, "MIN_F1=0"], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    documents = ROOT / "examples" / "documents"
    for folder in sorted(documents.iterdir()):
        rows = current_row_dicts(out, folder.name, "documents")
        assert sorted(Path(r["source_path"]).parent.name for r in rows) == [folder.name] * len(
            list(folder.iterdir())
        ), folder.name
        assert f"schema {folder.name}: truth from" in done.stdout
    failing = subprocess.run([*check, "MIN_F1=0.9"], env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert failing.returncode == 2 and "accuracy] Error 1" in failing.stderr
    assert failing.stdout.count(": truth from") == len(list(documents.iterdir()))
