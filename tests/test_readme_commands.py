"""Every command and snippet of the README runs, as a reader would run it from a checkout, in a
fresh folder, and exits as the README says. Shell commands run in bash (`make` targets through
the real Makefile, with a `.venv` whose `docextract` is this checkout's); Python snippets as a
script; SQL in DuckDB; the TOML as `docextract.toml`. What cannot run here (a GPU, the network)
or would run for minutes is listed below with its reason, and where a command needs a model,
the command run in its place is listed too: nothing in the README is left out unnoticed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme_blocks import (
    SHELL,
    Block,
    command_key,
    make_errors,
    readme_blocks,
    shell_commands,
)
from tests.run_helpers import ROOT, make_unique_pdf

# Commands that do not run here, by the start of the command (comments left out), and why.
SKIPS = {
    "pip install": "installs from the package index: needs the network",
    "hf download": "downloads model weights: needs the network",
    "make run TORCH_INDEX=": "installs torch from PyTorch's own index: needs the network",
    "make test": "the whole suite, this test included",
    "make lint": "tests/test_code_quality.py runs the same ruff and mypy commands",
    "make bench": "three minutes of measurements; tests/test_benchmarks.py checks the figures",
    "make gpu-": "the GPU suite: builds its payload from the network, runs on a CUDA GPU",
    "for gpu in": "one shard process per GPU of eight",
    "CUDA_VISIBLE_DEVICES=": "an sglang server on a GPU",
    "python -m sglang_router.launch_router": "the router in front of the sglang servers above",
    "docextract run docs/ --engine openai --base-url http://router-host:30000/v1":
        "needs the router above; tests/test_fleet_router.py runs shards behind the real router",
    "15 2 * * *": "a crontab line; tests/test_operations.py runs its script as cron would",
}  # fmt: skip

# Commands run otherwise, visibly: the README's command, what runs in its place, and why.
_FAST = "--engine null --dpi 40 --workers 1"
REWRITES = {
    "docextract run INBOX/ --schema invoice --out OUT/":
        (f"docextract run INBOX/ --schema invoice --out OUT/ {_FAST}", "no model here"),
    "docextract run invoices/ --schema invoice --out out/":
        (f"docextract run invoices/ --schema invoice --out out/ {_FAST}", "no model here"),
    "docextract export OUT/ --schema receipt --table errors --format csv":
        ("docextract export OUT/ --schema invoice --table errors --format csv",
         "the OUT the other export commands read holds one schema: invoice"),
    "make soak": ("make soak ROUNDS=1", "one round of the thirty"),
}  # fmt: skip

# Exit codes other than 0, with a text the output shows, and why.
EXITS = {
    "make run": (2, "Error 3", "no weights offline: the run exits 3, make reports it and exits 2"),
    "HF_HUB_OFFLINE=1 make run": (2, "Error 3", "as `make run`"),
}

# Blocks that hold no command, found by a text they contain, and what they show instead.
NOT_COMMANDS = {
    "error encrypted: inbox/locked.pdf": "messages a run prints",
    "<schema>/documents/part-<run>-<seq>.parquet": "the layout of an output folder",
    "extract:   docextract run $(DOCS)": "rules quoted from examples/ci/Makefile",
}

# Blocks that read an output folder a run made before, by a text they contain, and its name.
# The folder comes from the null engine over the invoice examples under the model name that
# the README's `--model` examples use, so those run as written.
MODEL = "Qwen/Qwen3-VL-2B-Instruct"
PREPARE = f"docextract run examples/documents/invoice --schema invoice {_FAST} --model {MODEL}"
NEEDS_OUT = {
    "docextract export OUT/": "OUT",
    "docextract review OUT/": "OUT",
    "read_parquet('OUT/invoice/documents/*.parquet'": "OUT",
    'current_table("OUT", "invoice")': "OUT",
    "read_parquet('out/invoice/documents/*.parquet')": "out",
}

# How a block of another language runs: the file it is written to, then the command. A
# snippet that names no engine gets the null one (one that names another engine needs a model).
FILES = {
    "python": ("snippet.py", "DOCEXTRACT_ENGINE__NAME=null python snippet.py"),
    "sql": ("query.sql", "python -c \"import duckdb, pathlib; "
                         "duckdb.connect().execute(pathlib.Path('query.sql').read_text())\""),
    "toml": ("docextract.toml", "python -c 'import docextract; docextract.load_config()'"),
}  # fmt: skip
INBOXES = ("INBOX", "invoices")  # the inboxes of the commands that run
BLOCKS = readme_blocks()


def _listed(block: Block) -> str | None:
    return next((why for text, why in NOT_COMMANDS.items() if text in block.text), None)


def _commands(block: Block) -> list[tuple[str, str]]:
    """The commands of a block that runs (a shell block, or one of FILES) in order: each its
    key (see command_key) and the text bash runs."""
    if block.language in FILES:
        return [(FILES[block.language][1], FILES[block.language][1])]
    return [(command_key(command), command) for command in shell_commands(block)]


def _skip(command: str) -> str | None:
    return next((why for start, why in SKIPS.items() if command.startswith(start)), None)


def _runs(block: Block) -> bool:
    return _listed(block) is None and (block.language in SHELL or block.language in FILES)


def _readme_commands() -> list[str]:
    """The key of every command of every block that runs, a command as often as it appears."""
    return [key for block in BLOCKS if _runs(block) for key, _command in _commands(block)]


def test_every_readme_block_is_run_or_listed() -> None:
    unknown = [block.name for block in BLOCKS if not _runs(block) and _listed(block) is None]
    assert unknown == [], "add a runner for the language, or list the block in NOT_COMMANDS"
    commands = _readme_commands()
    run = [command for command in commands if _skip(command) is None]
    assert len(run) >= 20 and len(commands) - len(run) >= 10, (len(run), len(commands))


def test_no_listed_exception_is_stale() -> None:
    commands = _readme_commands()
    assert [start for start in SKIPS if not any(c.startswith(start) for c in commands)] == []
    assert [command for command in [*REWRITES, *EXITS] if command not in commands] == []
    assert [command for command in [*REWRITES, *EXITS] if _skip(command)] == []
    texts = [block.text for block in BLOCKS]
    for table in (NOT_COMMANDS, NEEDS_OUT):
        assert [text for text in table if not any(text in t for t in texts)] == []


def _checkout(folder: Path) -> Path:
    """A fresh folder laid out as a checkout: examples/, the Makefile and a `.venv` whose
    `docextract` and `python` run this checkout's code and whose install stamp is fresh (so
    make installs nothing); and the inboxes the README names, of two small PDFs each."""
    shutil.copytree(ROOT / "examples", folder / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, folder / name)
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, module in (("docextract", " -m pipeline"), ("python", "")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{module} "$@"\n')
        (bin_dir / name).chmod(0o755)
    stamps = _install_stamps()
    assert stamps, "the Makefile names no install stamp"
    for stamp in stamps:  # in the Makefile's order: each newer than what it depends on
        (folder / ".venv" / stamp).touch()
    for inbox in INBOXES:
        (folder / inbox).mkdir()
        for number in range(2):
            make_unique_pdf(folder / inbox / f"doc{number}.pdf", 1, f"{inbox} {number}")
    return folder


def _install_stamps() -> list[str]:
    """The files under $(VENV) that mark an install done (`STAMP := $(VENV)/.installed`): all
    of them fresh, or a make target would run pip with this interpreter in the copy."""
    makefile = (ROOT / "Makefile").read_text()
    return re.findall(r"^\w*STAMP\s*:=\s*\$\(VENV\)/(\S+)", makefile, re.MULTILINE)


def _env(folder: Path) -> dict[str, str]:
    """The reader's shell: the checkout's `.venv` first on PATH, offline (as the tests and CI
    are), no GPU, an empty Hugging Face cache, and no make or docextract settings of ours."""
    ours = ("HF_", "DOCEXTRACT_", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env.update({
        "PATH": f"{folder / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(folder.parent / "empty-hf-home"),
        "CUDA_VISIBLE_DEVICES": "",
        "NO_COLOR": "1",
    })  # fmt: skip
    return env


def _bash(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=folder, env=_env(folder),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def prepared_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder for the blocks that read one (NEEDS_OUT), made once and copied."""
    folder = _checkout(tmp_path_factory.mktemp("prepared") / "checkout")
    done = _bash(f"{PREPARE} --out OUT", folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "OUT"


def _skip_message(keys: list[str]) -> str:
    """`pip install '.[sglang]', pip install '.[local]': installs from ...`, one reason once."""
    by_reason: dict[str, list[str]] = {}
    for key in keys:
        by_reason.setdefault(str(_skip(key)), []).append(key if len(key) < 50 else key[:47] + "...")
    return "; ".join(f"{', '.join(keys)}: {why}" for why, keys in by_reason.items())


def _check(key: str, command: str, folder: Path, shown: list[str]) -> None:
    """Run one README command (or what REWRITES runs in its place): its exit code, and the
    lines the README shows it print that must match (see make_errors)."""
    ran = REWRITES[key][0] if key in REWRITES else command
    code, text, _why = EXITS.get(key, (0, "", ""))
    done = _bash(ran, folder)
    output = done.stdout + done.stderr
    assert (done.returncode, text in output) == (code, True), f"$ {ran}\n{output[-4000:]}"
    assert [line for line in shown if line not in output.splitlines()] == [], output[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if _runs(b)], ids=lambda b: b.name)
def test_the_readme_block_runs_from_a_fresh_folder(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    commands = _commands(block)
    run = [(key, command) for key, command in commands if _skip(key) is None]
    if not run:
        pytest.skip(_skip_message([key for key, _command in commands]))
    folder = _checkout(tmp_path / "checkout")
    for text, name in NEEDS_OUT.items():
        if text in block.text:
            shutil.copytree(request.getfixturevalue("prepared_out"), folder / name)
    if block.language in FILES:
        (folder / FILES[block.language][0]).write_text(block.text, encoding="utf-8")
    shown = make_errors(block)
    for key, command in run:
        _check(key, command, folder, shown.get(key, []))
