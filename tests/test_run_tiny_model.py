"""The whole run on CPU with the tiny real Qwen3-VL-MoE model through the transformers engine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from tests.run_helpers import make_inbox, make_unique_pdf, paths_accounted

SCHEMA = str(Path(__file__).parent / "data" / "bounded_schema.py") + ":Bounded"


def tiny_run_args(inbox: Path, out: Path, model_dir: Path) -> list[str]:
    """`docextract run` through the tiny model, with page images small enough to be quick."""
    budget = ["--dpi", "30", "--max-pixels", str(8 * 32 * 32), "--min-pixels", str(4 * 32 * 32)]
    return [
        "run",
        str(inbox),
        "--schema",
        SCHEMA,
        "--out",
        str(out),
        "--engine",
        "transformers",
        "--model",
        str(model_dir),
        *budget,
        "--max-new-tokens",
        "160",
        "--log-format",
        "plain",
    ]


@pytest.mark.slow
def test_twenty_mixed_files_through_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    made = make_inbox(tmp_path / "inbox")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        tiny_run_args(tmp_path / "inbox", out, tiny_model_dir)
        + ["--workers", "2", "--max-failure-rate", "0.25"],
    )
    assert result.exit_code == 0, result.output
    every_input = [str(p) for group in made.values() for p in group]
    assert Counter(paths_accounted(out, "bounded")) == Counter(every_input)

    documents = duckdb.sql(
        f"SELECT source_path, also_at, data.name, data.score, len(data.lines), prompt_tokens,"
        f" completion_tokens, engine FROM read_parquet('{out}/bounded/documents/*.parquet')"
    ).fetchall()
    errors = duckdb.sql(
        f"SELECT source_path, code FROM read_parquet('{out}/bounded/errors/*.parquet')"
    ).fetchall()
    assert len(documents) + len(errors) == 19  # 20 files, the duplicate extracted once
    assert {code for path, code in errors if path.endswith(("locked.pdf", "notes.pdf"))} == {
        "encrypted",
        "not_a_document",
    }
    assert len(documents) >= 12  # grammar-constrained answers of random weights still validate
    for _path, _also, name, score, lines, prompt_tokens, completion_tokens, engine in documents:
        assert name.isalpha() and name.islower() and 0 <= score <= 10 and lines <= 2
        assert prompt_tokens > 0 and completion_tokens > 0 and engine == "transformers"
    assert sum(len(row[1]) for row in documents) == 1  # the duplicate's path, on its twin


@pytest.mark.slow
def test_random_weights_score_near_zero(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The eval tells a model that reads nothing from one that reads the documents."""
    inbox, truth = tmp_path / "inbox", tmp_path / "truth" / "bounded"
    inbox.mkdir()
    truth.mkdir(parents=True)
    for number in range(4):
        make_unique_pdf(inbox / f"d{number}.pdf", 1, f"EVAL{number}")
        (truth / f"d{number}.json").write_text(
            json.dumps(
                {
                    "name": f"acme{'xyz'[number % 3]}",
                    "score": 7 + number % 3,
                    "lines": [
                        {"code": "bolts", "amount": 120 + number},
                        {"code": "nuts", "amount": 35},
                    ],
                }
            )
        )
    out = tmp_path / "out"
    runner = CliRunner()
    extracted = runner.invoke(app, tiny_run_args(inbox, out, tiny_model_dir))
    assert extracted.exit_code == 0, extracted.output
    scored = runner.invoke(
        app, ["eval", str(out), "--truth", str(tmp_path / "truth"), "--schema", "bounded", "--json"]
    )
    assert scored.exit_code == 0, scored.output
    total = json.loads(scored.stdout)["total"]
    assert total["fn"] > 0 and total["f1"] < 0.2, total
